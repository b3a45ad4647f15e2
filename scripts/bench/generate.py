"""Deterministic benchmark data: a month (October 2026, UTC) of Asterisk ``cdr_csv``
Master.csv rows and the rate decks of the two carriers that carried them.

    python scripts/bench/generate.py OUTDIR [--rows 1000000] [--seed 2026] [--shape default]
        [--prefixes N] [--inbound SHARE] [--layout 21|20|19|18|17|16]

writes ``OUTDIR/Master.csv``, ``OUTDIR/tele2.csv``, ``OUTDIR/mts.csv`` and
``OUTDIR/tele2-corrected.csv`` (tele2's deck with every price changed, for a re-rate). The
same seed, row count and shape always give byte-identical files; the default shape gives the
files this script always gave.

A shape sets how many prefixes each deck has, the share of inbound calls and the cdr_csv
layout. The default layout has the 21 columns Asterisk 22 writes with ``loguniqueid``,
``loguserfield`` and ``newcdrcolumns``; older layouts leave some of those out (16 columns:
none of them, so no uniqueid). Strings are quoted (quotes doubled), numbers are not, an
unanswered call has an empty, unquoted ``answer``. Rows are in the order Asterisk writes
them: by call end. There are always nine departments (the branches below).
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path

DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 2026
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_DAYS = 31
CARRIERS = ("tele2", "mts")
DECK_HEADER = "prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
CORRECTED_CARRIER = "tele2"  # the carrier whose deck gets a corrected version
CORRECTION = Decimal("1.07")  # the corrected deck's prices: 7 % dearer, to the 1/10,000


@dataclass(frozen=True)
class Branch:
    """A sales branch (also its department): what ``pbxctl branch add`` is given, plus
    what shapes its traffic."""

    slug: str
    name: str
    city: str
    ext_range: tuple[int, int]
    phones: int
    area_code: str  # national significant number prefix of the city, e.g. "843"
    did: str  # the branch's number, E.164
    utc_offset: int  # hours; business hours are local
    carrier: str  # the carrier its outbound calls usually take
    timezone: str  # its city's zone (in October 2026, UTC + utc_offset)


BRANCHES: tuple[Branch, ...] = (
    Branch("kazan", "Kazan salon", "Kazan", (200, 299), 60, "843", "+78435550101", 3, "tele2",
           "Europe/Moscow"),
    Branch("omsk", "Omsk office", "Omsk", (300, 399), 35, "3812", "+73812550101", 6, "tele2",
           "Asia/Omsk"),
    Branch("novosibirsk", "Novosibirsk salon", "Novosibirsk", (400, 499), 50, "383",
           "+73832550101", 7, "mts", "Asia/Novosibirsk"),
    Branch("perm", "Perm office", "Perm", (500, 599), 30, "342", "+73422550101", 5, "tele2",
           "Asia/Yekaterinburg"),
    Branch("samara", "Samara salon", "Samara", (600, 699), 40, "846", "+78462550101", 4,
           "tele2", "Europe/Samara"),
    Branch("ufa", "Ufa office", "Ufa", (700, 799), 25, "347", "+73472550101", 5, "tele2",
           "Asia/Yekaterinburg"),
    Branch("tyumen", "Tyumen office", "Tyumen", (800, 899), 20, "3452", "+73452550101", 5,
           "mts", "Asia/Yekaterinburg"),
    Branch("tomsk", "Tomsk office", "Tomsk", (900, 999), 20, "3822", "+73822550101", 7, "tele2",
           "Asia/Tomsk"),
    Branch("krasnoyarsk", "Krasnoyarsk salon", "Krasnoyarsk", (1000, 1999), 45, "391",
           "+73912550101", 7, "mts", "Asia/Krasnoyarsk"),
)

# Share of calls (not rows) by kind; a failover call writes two rows.
CALL_MIX = {"outbound": 0.675, "failover": 0.025, "inbound": 0.15, "internal": 0.15}
ROWS_PER_CALL = {"outbound": 1, "failover": 2, "inbound": 1, "internal": 1}
# Outbound destinations by share: the branch's own city, another Russian city, a Russian
# mobile, Kazakhstan (+7 too), abroad.
DESTINATION_MIX = (("local", 0.30), ("national", 0.24), ("mobile", 0.36), ("kazakhstan", 0.02),
                   ("world", 0.08))
SECONDARY_CARRIER_SHARE = 0.12  # outbound calls that take the branch's other carrier
# Dispositions by share, per kind of call.
OUTBOUND_OUTCOMES = (("ANSWERED", 0.60), ("NO ANSWER", 0.23), ("BUSY", 0.10),
                     ("FAILED", 0.03), ("CONGESTION", 0.04))
INBOUND_OUTCOMES = (("ANSWERED", 0.82), ("NO ANSWER", 0.13), ("BUSY", 0.03), ("FAILED", 0.02))
INTERNAL_OUTCOMES = (("ANSWERED", 0.72), ("NO ANSWER", 0.19), ("BUSY", 0.07), ("FAILED", 0.02))
# Call volume by local hour (0-23) and by weekday (Monday first).
HOUR_PROFILE = (0.01, 0.005, 0.005, 0.005, 0.005, 0.01, 0.03, 0.12, 0.55, 1.0, 1.0, 0.95,
                0.8, 0.85, 0.95, 0.95, 0.9, 0.75, 0.45, 0.2, 0.1, 0.06, 0.03, 0.02)
WEEKDAY_PROFILE = (1.0, 1.0, 1.0, 1.0, 0.95, 0.25, 0.08)

# Caller ID names of the phones: mostly Latin, a quarter in Cyrillic (UTF-8 in Master.csv).
NAMES = ("Anna Petrova", "Boris Ivanov", "Olga Smirnova", "Dmitry Kuznetsov", "Elena Popova",
         "Sergey Sokolov", "Maria Lebedeva", "Pavel Kozlov", "Irina Novikova", "Alexey Morozov",
         "Natalia Volkova", "Nikolai Sidorov", "Svetlana Orlova", "Andrey Pavlov",
         "Yulia Fedorova", "Mikhail Egorov")
CYRILLIC_NAMES = ("Анна Петрова", "Иван Сидоров", "Ольга Кузнецова", "Пётр Орлов",
                  "Екатерина Смирнова", "Григорий Волков")



# Which of the optional cdr_csv groups a layout has (cdr.conf: loguniqueid, loguserfield,
# newcdrcolumns), by column count; pbxctl.billing.records.normalise() reads them all.
LAYOUTS = {"21": (True, True, True), "20": (True, False, True), "19": (False, False, True),
           "18": (True, True, False), "17": (True, False, False), "16": (False, False, False)}
MIN_PREFIXES = 105  # the required rows: Russia, its mobiles, Kazakhstan, every country, NANP


@dataclass(frozen=True)
class Shape:
    """What kind of data set: deck size, inbound share, column layout."""

    name: str
    summary: str
    prefixes: int | None = None  # catalogue size each deck is drawn from; None: ~2,950
    inbound: float | None = None  # share of calls that are inbound; None: CALL_MIX's
    layout: str = "21"
    zones: bool = False  # departments in their cities' zones; False: all in Europe/Moscow

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        if self.prefixes is not None and self.prefixes < MIN_PREFIXES:
            raise ValueError(f"prefixes {self.prefixes}: at least {MIN_PREFIXES}, the "
                             "prefixes every generated call needs")
        if self.inbound is not None and not 0 <= self.inbound <= 1 - CALL_MIX["internal"]:
            raise ValueError(f"inbound share {self.inbound}: between 0 and "
                             f"{1 - CALL_MIX['internal']:.2f} (internal calls are "
                             f"{CALL_MIX['internal']:.2f})")

DEFAULT_SHAPE = Shape("default", "two decks of ~2,850 prefixes, 70 % outbound, 21 columns")
SHAPES = {shape.name: shape for shape in (
    DEFAULT_SHAPE,
    Shape("few-inbound", "two short decks of ~290 prefixes, 65 % inbound, 21 columns",
          prefixes=300, inbound=0.65),
    Shape("long-outbound", "two long decks of ~29,000 prefixes, 82 % outbound, 21 columns",
          prefixes=30_000, inbound=0.03),
    Shape("old-16", "default decks and calls, old 16-column layout (no uniqueid)",
          layout="16"),
    Shape("old-19", "default decks and calls, 19 columns (newcdrcolumns, no uniqueid)",
          layout="19"),
    Shape("nine-zones", "default data, the nine departments in their cities' seven zones",
          zones=True),
)}


def branch_zone(shape: Shape, branch: Branch) -> str:
    """The time zone ``pbxctl branch add`` is given for ``branch`` in ``shape``."""
    return branch.timezone if shape.zones else "Europe/Moscow"


def call_mix(shape: Shape) -> dict[str, float]:
    """Share of calls by kind: CALL_MIX, or with the shape's inbound share (outbound and
    failover calls share the rest as in CALL_MIX; internal calls keep theirs)."""
    if shape.inbound is None:
        return CALL_MIX
    outgoing = 1 - CALL_MIX["internal"] - shape.inbound
    failover = CALL_MIX["failover"] / (CALL_MIX["outbound"] + CALL_MIX["failover"])
    return {"outbound": outgoing * (1 - failover), "failover": outgoing * failover,
            "inbound": shape.inbound, "internal": CALL_MIX["internal"]}


# ---- Rate decks --------------------------------------------------------------------------

# Russian geographic codes (3 digits after +7) and the cities pbxctl users call most;
# "7" + code is a deck prefix, and so are the city codes below.
RUSSIAN_AREA_CODES = (
    *range(301, 303), 336, *range(341, 354), 365, *range(381, 396), 401, *range(411, 428),
    *range(471, 488), *range(491, 500), *range(811, 822), *range(831, 837), *range(841, 849),
    *range(851, 856), *range(861, 880))
RUSSIAN_CITIES = {
    "843": "Kazan", "3812": "Omsk", "383": "Novosibirsk", "342": "Perm", "846": "Samara",
    "347": "Ufa", "3452": "Tyumen", "3822": "Tomsk", "391": "Krasnoyarsk", "495": "Moscow",
    "499": "Moscow", "812": "Saint Petersburg", "343": "Yekaterinburg",
    "831": "Nizhny Novgorod", "863": "Rostov-on-Don", "861": "Krasnodar", "351": "Chelyabinsk",
    "473": "Voronezh", "8442": "Volgograd", "423": "Vladivostok", "4212": "Khabarovsk",
    "3952": "Irkutsk", "862": "Sochi", "4012": "Kaliningrad", "3852": "Barnaul",
    "3842": "Kemerovo", "3412": "Izhevsk", "8452": "Saratov", "4872": "Tula",
    "4852": "Yaroslavl", "3532": "Orenburg", "8412": "Penza", "8332": "Kirov",
    "4912": "Ryazan", "8512": "Astrakhan", "8422": "Ulyanovsk", "8482": "Tolyatti",
    "8552": "Naberezhnye Chelny", "3462": "Surgut", "8152": "Murmansk", "8182": "Arkhangelsk",
    "8352": "Cheboksary"}
RUSSIAN_MOBILE_OPERATORS = (("900", "Tele2"), ("901", "Tele2"), ("902", "Tele2"),
                            ("904", "Tele2"), ("908", "Tele2"), ("950", "Tele2"),
                            ("951", "Tele2"), ("952", "Tele2"), ("953", "Tele2"),
                            ("977", "Tele2"), ("991", "Tele2"), ("992", "Tele2"),
                            ("993", "Tele2"), ("994", "Tele2"), ("995", "Tele2"),
                            ("996", "Tele2"), ("999", "Yota"))
KAZAKHSTAN_PREFIXES = (("76", "Kazakhstan"), ("77", "Kazakhstan"), ("7717", "Kazakhstan Astana"),
                       ("7727", "Kazakhstan Almaty"), ("7700", "Kazakhstan Mobile"),
                       ("7701", "Kazakhstan Mobile"), ("7702", "Kazakhstan Mobile"),
                       ("7705", "Kazakhstan Mobile"), ("7707", "Kazakhstan Mobile"),
                       ("7708", "Kazakhstan Mobile"), ("7747", "Kazakhstan Mobile"),
                       ("7771", "Kazakhstan Mobile"), ("7775", "Kazakhstan Mobile"),
                       ("7776", "Kazakhstan Mobile"), ("7777", "Kazakhstan Mobile"),
                       ("7778", "Kazakhstan Mobile"))
# country code | name | rate tier (1 cheap .. 4 dear) | mobile prefixes after the code
COUNTRIES = """\
20|Egypt|3|10 11 12 15
27|South Africa|3|60 61 71 72 73 74 76 78 79 81 82 83 84
30|Greece|2|69
31|Netherlands|2|6
32|Belgium|2|46 47 48 49
33|France|2|6 7
34|Spain|2|6 7
36|Hungary|2|20 30 70
39|Italy|2|3
40|Romania|2|7
41|Switzerland|2|75 76 77 78 79
43|Austria|2|650 660 664 676 680 681 688 699
44|United Kingdom|1|71 72 73 74 75 77 78 79
45|Denmark|2|2 30 31 40 41 42 50 51 52 53 60 61 71 81 91 92 93
46|Sweden|2|70 72 73 76 79
47|Norway|2|4 9
48|Poland|2|45 50 51 53 57 60 66 69 72 73 78 79 88
49|Germany|1|151 152 155 157 159 160 162 163 170 171 172 173 174 175 176 177 178 179
51|Peru|3|9
52|Mexico|3|1
53|Cuba|4|5
54|Argentina|3|9
55|Brazil|3|119 219 319 419 519 619 719 819
56|Chile|3|9
57|Colombia|3|3
60|Malaysia|3|1
61|Australia|2|4
62|Indonesia|3|8
63|Philippines|3|9
64|New Zealand|2|2
65|Singapore|2|8 9
66|Thailand|3|6 8 9
81|Japan|2|70 80 90
82|South Korea|2|10
84|Vietnam|3|3 5 7 8 9
86|China|1|13 14 15 17 18 19
90|Turkey|2|50 53 54 55
91|India|2|6 7 8 9
92|Pakistan|3|3
93|Afghanistan|4|7
94|Sri Lanka|3|7
98|Iran|4|9
212|Morocco|3|6 7
213|Algeria|4|5 6 7
216|Tunisia|3|2 5 9
234|Nigeria|4|70 80 81 90
254|Kenya|4|7 1
255|Tanzania|4|6 7
351|Portugal|2|91 92 93 96
352|Luxembourg|2|6
353|Ireland|2|8
354|Iceland|3|6 7 8
355|Albania|3|6
356|Malta|3|7 9
357|Cyprus|2|9
358|Finland|2|4 50
359|Bulgaria|2|87 88 89 98
370|Lithuania|2|6
371|Latvia|2|2
372|Estonia|2|5
373|Moldova|3|6 7
374|Armenia|2|41 43 44 55 77 91 93 94 95 96 98 99
375|Belarus|2|25 29 33 44
380|Ukraine|3|50 63 66 67 68 73 93 95 96 97 98 99
381|Serbia|3|6
382|Montenegro|3|6
385|Croatia|2|9
386|Slovenia|2|30 31 40 41 51 64 68 70 71
387|Bosnia and Herzegovina|3|6
389|North Macedonia|3|7
420|Czech Republic|2|6 7
421|Slovakia|2|9
423|Liechtenstein|3|7
852|Hong Kong|2|5 6 9
853|Macau|3|6
855|Cambodia|4|1 6 7 8 9
856|Laos|4|20
880|Bangladesh|4|1
886|Taiwan|2|9
960|Maldives|4|7 9
961|Lebanon|3|3 7
962|Jordan|3|7
963|Syria|4|9
964|Iraq|4|7
965|Kuwait|3|5 6 9
966|Saudi Arabia|3|5
968|Oman|3|9
970|Palestine|4|5
971|United Arab Emirates|3|50 52 54 55 56 58
972|Israel|2|5
973|Bahrain|3|3
974|Qatar|3|3 5 6 7
976|Mongolia|3|8 9
977|Nepal|4|98
992|Tajikistan|3|9
993|Turkmenistan|4|6
994|Azerbaijan|3|50 51 55 70 77
995|Georgia|2|5
996|Kyrgyzstan|3|5 7
998|Uzbekistan|3|9
"""
CANADIAN_AREA_CODES = frozenset((
    204, 226, 236, 249, 250, 289, 306, 343, 365, 403, 416, 418, 431, 437, 438, 450, 506, 514,
    519, 548, 579, 581, 587, 604, 613, 639, 647, 705, 709, 778, 780, 782, 807, 819, 825, 867,
    873, 902, 905))
# Where outbound calls abroad go: E.164 prefix, digits that follow it, weight.
WORLD_DESTINATIONS = (("4670", 7, 3), ("468", 7, 1), ("49151", 7, 2), ("49170", 7, 1),
                      ("4930", 8, 2), ("4989", 8, 1), ("4420", 8, 1), ("447", 9, 1),
                      ("3361", 7, 1), ("90532", 7, 2), ("86138", 8, 1), ("37529", 7, 3),
                      ("38050", 7, 1), ("99890", 7, 3), ("37491", 6, 2), ("99559", 7, 1),
                      ("971", 8, 1), ("972", 8, 1), ("358", 8, 1))


@dataclass(frozen=True)
class Destination:
    """A deck row before pricing. ``kind`` picks the price band; a ``required`` row is in
    every carrier's deck so that every generated call finds a rate in both."""

    prefix: str
    name: str
    kind: str
    tier: int = 1
    required: bool = False


def destinations(rng: random.Random) -> list[Destination]:
    """Every prefix a deck may price, ~3,000 rows, longest-prefix structure included."""
    rows = [Destination("7", "Russia", "national", required=True),
            Destination("79", "Russia Mobile", "mobile", required=True)]
    rows += _russian_rows(rng)
    rows += [Destination(p, n, "kazakhstan", 1, p in ("76", "77")) for p, n in KAZAKHSTAN_PREFIXES]
    rows += _world_rows()
    rows += _nanp_rows(rng)
    return rows


def shaped(rows: list[Destination], target: int | None, rng: random.Random
           ) -> list[Destination]:
    """The catalogue cut down to, or split up to, ``target`` prefixes (None: as it is).
    Cutting keeps every required row; splitting gives a prefix ten one-digit-longer
    children (as carriers price number blocks), so calls match the longer prefixes."""
    if target is None or target == len(rows):
        return rows
    if target < len(rows):
        optional = [i for i, r in enumerate(rows) if not r.required]
        keep = set(rng.sample(optional, max(0, target - (len(rows) - len(optional)))))
        return [r for i, r in enumerate(rows) if r.required or i in keep]
    rows = list(rows)
    known = {r.prefix for r in rows}
    splittable = [r for r in rows if r.kind in ("national", "mobile") and len(r.prefix) < 9]
    while len(rows) < target and splittable:
        parent = splittable.pop(rng.randrange(len(splittable)))
        children = [Destination(parent.prefix + str(d), parent.name, parent.kind, parent.tier)
                    for d in range(10) if parent.prefix + str(d) not in known]
        children = children[:target - len(rows)]
        known.update(c.prefix for c in children)
        rows += children
        splittable += [c for c in children if len(c.prefix) < 9]
    return rows


def _russian_rows(rng: random.Random) -> list[Destination]:
    operators = dict(RUSSIAN_MOBILE_OPERATORS)
    rows = [Destination(f"79{n:02d}", f"Russia Mobile {operators.get(f'9{n:02d}', _operator(n))}",
                        "mobile") for n in range(100)]
    for block in rng.sample(range(100), 60):  # ranges ported to another operator
        rows += [Destination(f"79{block:02d}{digit}", f"Russia Mobile {_operator(digit * 10)}",
                             "mobile") for digit in range(10)]
    for code in map(str, RUSSIAN_AREA_CODES):
        rows.append(Destination(f"7{code}", _russian_name(code), "national"))
        rows += [Destination(f"7{code}{digit}", _russian_name(f"{code}{digit}"), "national")
                 for digit in range(10)]
    named = {r.prefix for r in rows}
    rows += [Destination(f"7{code}", f"Russia {city}", "national")
             for code, city in RUSSIAN_CITIES.items() if f"7{code}" not in named]
    return rows


def _operator(block: int) -> str:
    """Rough owner of the +79xx block (for destination names only)."""
    if 10 <= block <= 19 or 80 <= block <= 89:
        return "MTS"
    if 20 <= block <= 39:
        return "MegaFon"
    if 60 <= block <= 69:
        return "Beeline"
    return "Other"


def _russian_name(code: str) -> str:
    city = RUSSIAN_CITIES.get(code)
    return f"Russia {city}" if city else f"Russia Fixed {code}"


def _world_rows() -> list[Destination]:
    rows = []
    for line in COUNTRIES.splitlines():
        code, name, tier, mobiles = line.split("|")
        rows.append(Destination(code, name, "world", int(tier), required=True))
        rows += [Destination(code + m, f"{name} Mobile", "world_mobile", int(tier))
                 for m in mobiles.split()]
    return rows


def _nanp_rows(rng: random.Random) -> list[Destination]:
    rows = [Destination("1", "USA", "nanp", required=True)]
    for npa in range(201, 990):
        if npa // 10 % 10 == 9 or npa % 100 == 11 or (npa not in CANADIAN_AREA_CODES
                                                      and rng.random() < 0.35):
            continue
        rows.append(Destination(f"1{npa}", "Canada" if npa in CANADIAN_AREA_CODES else "USA",
                                "nanp"))
    return rows


# Per carrier: (rate per minute range, connect fee, min_seconds, increment) by kind.
PRICING = {
    "tele2": {"national": ((0.85, 1.60), "0.0000", 60, 60),
              "mobile": ((1.20, 2.10), "0.0000", 1, 1),
              "kazakhstan": ((6.00, 9.00), "0.0000", 30, 6),
              "world": ((4.00, 9.00), "0.5000", 30, 6),
              "world_mobile": ((6.00, 14.00), "0.5000", 30, 6),
              "nanp": ((2.40, 3.90), "0.0000", 30, 6)},
    "mts": {"national": ((0.90, 1.75), "0.0000", 0, 1),
            "mobile": ((1.10, 2.30), "0.0000", 60, 60),
            "kazakhstan": ((5.50, 9.50), "0.2500", 1, 1),
            "world": ((3.80, 9.50), "0.0000", 0, 1),
            "world_mobile": ((5.90, 15.00), "0.0000", 30, 6),
            "nanp": ((2.20, 4.20), "0.0000", 1, 1)},
}


def write_deck(path: Path, carrier: str, rows: list[Destination], rng: random.Random) -> int:
    """Price ``rows`` for ``carrier`` and write the deck; returns its number of rates.
    Each carrier leaves out a few optional prefixes, as real decks differ."""
    lines = [DECK_HEADER]
    for row in rows:
        if not row.required and rng.random() < 0.04:
            continue
        (low, high), connect_fee, min_seconds, increment = PRICING[carrier][row.kind]
        rate = rng.uniform(low, high) * row.tier
        places = 4 if rng.random() < 0.1 else 2  # most carriers price to the kopeck
        lines.append(f"{row.prefix},{row.name},{round(rate, places):.4f},{connect_fee},"
                     f"{min_seconds},{increment}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines) - 1


def write_correction(deck: Path, path: Path) -> int:
    """``deck`` with every rate per minute times CORRECTION, as a carrier's corrected
    price list; returns its number of rates."""
    lines = deck.read_text(encoding="utf-8").splitlines(keepends=True)
    out = [lines[0]]
    for line in lines[1:]:
        prefix, name, rate, rest = line.split(",", 3)
        new_rate = (Decimal(rate) * CORRECTION).quantize(Decimal("0.0001"))
        out.append(f"{prefix},{name},{new_rate},{rest}")
    path.write_text("".join(out), encoding="utf-8")
    return len(out) - 1


# ---- Master.csv --------------------------------------------------------------------------


@dataclass
class Counts:
    """What the generated Master.csv holds."""

    rows: int = 0
    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # rows per kind of call
    failover_pairs: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Phone:
    """An extension as it shows in CDRs."""

    number: str
    branch: Branch
    clid: str  # quoted CSV field: "\"Anna Petrova\" <201>"
    contact: str  # what PJSIP_DIAL_CONTACTS returns for it


class Clock:
    """Seconds since the month started, as Asterisk writes them (UTC), without a datetime
    per row: one string per day and per second of a day, built once."""

    def __init__(self) -> None:
        first = MONTH_START.date()
        self._days = [f"{first + timedelta(days=d)} " for d in range(MONTH_DAYS + 2)]
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}"
                     for h in range(24) for m in range(60) for s in range(60)]
        self.epoch = int(MONTH_START.timestamp())

    def stamp(self, second: int) -> str:
        day, rest = divmod(second, 86400)
        return self._days[day] + self._hms[rest]


def csv_field(text: str) -> str:
    """A quoted field as cdr_csv writes it: quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def make_phones(rng: random.Random) -> dict[str, list[Phone]]:
    """Every branch's extensions (first of its range + 1 onwards) with a name each."""
    phones = {}
    for index, branch in enumerate(BRANCHES):
        first = branch.ext_range[0] + 1
        phones[branch.slug] = [
            Phone(str(n), branch,
                  csv_field(f'"{rng.choice(CYRILLIC_NAMES if rng.random() < 0.25 else NAMES)}" '
                            f'<{n}>'),
                  f"PJSIP/{n}/sip:{n}@10.20.{index}.{rng.randrange(10, 250)}:5060")
            for n in range(first, first + branch.phones)]
    return phones


class NumberPools:
    """Numbers people call, drawn from fixed pools so that customers recur."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.local = {b.slug: self._russian(b.area_code, 3000) for b in BRANCHES}
        codes = [str(c) for c in RUSSIAN_AREA_CODES] + list(RUSSIAN_CITIES)
        self.national = [self._russian(rng.choice(codes), 1)[0] for _ in range(30000)]
        self.mobile = [self._russian(f"9{rng.randrange(100):02d}", 1)[0] for _ in range(60000)]
        kz = [p for p, _ in KAZAKHSTAN_PREFIXES if len(p) == 4]
        self.kazakhstan = [self._digits("+" + rng.choice(kz), 7) for _ in range(2000)]
        weights = [w for _, _, w in WORLD_DESTINATIONS]
        self.world = [self._digits("+" + p, n)
                      for p, n, _ in rng.choices(WORLD_DESTINATIONS, weights, k=6000)]
        self.world += [self._digits(f"+1{rng.choice(sorted(CANADIAN_AREA_CODES))}", 7)
                       for _ in range(500)]

    def _russian(self, area_code: str, count: int) -> list[str]:
        return [self._digits(f"+7{area_code}", 10 - len(area_code)) for _ in range(count)]

    def _digits(self, head: str, count: int) -> str:
        return head + str(self._rng.randrange(2 * 10 ** (count - 1), 10 ** count))


def carrier_form(carrier: str, e164: str) -> str:
    """How the carrier is dialled: tele2 is ``national:7``, mts is ``plus``."""
    if carrier == "mts":
        return e164
    return e164[2:] if e164.startswith("+7") else e164[1:]


def cumulative(mix: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    """Names and cumulative weights, for rng.choices."""
    return [name for name, _ in mix], list(accumulate(share for _, share in mix))


def call_kinds(rng: random.Random, rows: int, mix: dict[str, float]) -> list[str]:
    """Kinds of calls, drawn by ``mix``, whose rows add up to exactly ``rows``."""
    names, weights = cumulative(tuple(mix.items()))
    kinds = rng.choices(names, cum_weights=weights, k=rows)
    total = 0
    for index, kind in enumerate(kinds):
        total += ROWS_PER_CALL[kind]
        if total >= rows:
            if total > rows:
                kinds[index] = "outbound"
            return kinds[:index + 1]
    raise AssertionError("unreachable: every call has at least one row")


def start_seconds(rng: random.Random, branch: Branch, count: int) -> list[int]:
    """``count`` call starts (seconds into the month, UTC) in the branch's local office
    hours."""
    weights = []
    for slot in range(MONTH_DAYS * 24):
        local = MONTH_START + timedelta(hours=slot + branch.utc_offset)
        weights.append(HOUR_PROFILE[local.hour] * WEEKDAY_PROFILE[local.weekday()])
    slots = rng.choices(range(len(weights)), weights=weights, k=count)
    rand = rng.random
    return [slot * 3600 + int(rand() * 3600) for slot in slots]


def call_schedule(rng: random.Random, calls: int) -> list[tuple[int, int]]:
    """(start second, branch index) of every call, in time order."""
    branch_of = rng.choices(range(len(BRANCHES)), weights=[b.phones for b in BRANCHES], k=calls)
    per_branch = [0] * len(BRANCHES)
    for index in branch_of:
        per_branch[index] += 1
    schedule = [(start, index) for index, branch in enumerate(BRANCHES)
                for start in start_seconds(rng, branch, per_branch[index])]
    schedule.sort()
    return schedule


Row = tuple[int, int, str]  # a Master.csv line keyed by its call's end: (end, sequence, text)


class CdrWriter:
    """Turns calls into Master.csv lines with Asterisk's counters: a channel counter (the
    ``.N`` of uniqueids and the hex suffix of channel names) and a CDR sequence."""

    def __init__(self, rng: random.Random, clock: Clock, layout: str = "21") -> None:
        self.rng = rng
        self.clock = clock
        self.tail = tail_writer(layout)
        self.phones = make_phones(rng)
        self.all_phones = [p for ps in self.phones.values() for p in ps]
        self.pools = NumberPools(rng)
        self.channel_no = 0
        self.sequence = 0
        self.counts = Counts(by_kind={k: 0 for k in CALL_MIX})
        self._destinations = cumulative(DESTINATION_MIX)
        self._outcomes = {name: cumulative(mix) for name, mix in (
            ("outbound", OUTBOUND_OUTCOMES), ("inbound", INBOUND_OUTCOMES),
            ("internal", INTERNAL_OUTCOMES))}

    def channel(self, name: str) -> str:
        """A new channel's name, e.g. PJSIP/201-0000000a."""
        self.channel_no += 1
        return f"{name}-{self.channel_no:08x}"

    def uniqueid(self, second: int) -> str:
        """The uniqueid of the channel created last, at ``second``."""
        return f"{self.clock.epoch + second}.{self.channel_no}"

    def outcome(self, kind: str) -> str:
        names, weights = self._outcomes[kind]
        return self.rng.choices(names, cum_weights=weights)[0]

    def timing(self, disposition: str, ring_limit: int) -> tuple[int, int]:
        """(seconds before answer or hang-up, billsec) of a call leg."""
        rand = self.rng.random
        if disposition == "ANSWERED":
            talk = int(self.rng.lognormvariate(4.1, 1.25)) + 1  # median ~1 min, long tail
            return 2 + int(rand() * 20), min(talk, 3600)
        if disposition == "NO ANSWER":
            return 8 + int(rand() * (ring_limit - 8)), 0
        if disposition == "BUSY":
            return 1 + int(rand() * 4), 0
        return int(rand() * 3), 0  # FAILED, CONGESTION

    def line(self, start: int, fields: tuple[str, str, str, str, str, str, str, str],
             disposition: str, ring: int, billsec: int, uid: str, linkedid: str) -> Row:
        """One row, keyed for the heap by its end: (end, sequence, text)."""
        account, src, dst, dcontext, clid, chan, dstchan, lastdata = fields
        stamp = self.clock.stamp
        answered = disposition == "ANSWERED"
        end = start + ring + billsec
        answer = f'"{stamp(start + ring)}"' if answered else ""
        self.sequence += 1
        self.counts.rows += 1
        text = (f'"{account}","{src}","{dst}","{dcontext}",{clid},"{chan}","{dstchan}","Dial",'
                f'"{lastdata}","{stamp(start)}",{answer},"{stamp(end)}",{end - start},{billsec},'
                f'"{disposition}","DOCUMENTATION"{self.tail(uid, linkedid, self.sequence)}\n')
        return end, self.sequence, text

    def call(self, kind: str, start: int, branch: Branch) -> list[Row]:
        """The rows of one call."""
        self.counts.calls += 1
        self.counts.by_kind[kind] += ROWS_PER_CALL[kind]
        if kind == "inbound":
            return [self.inbound(start, branch)]
        if kind == "internal":
            return [self.internal(start, branch)]
        phone = self.rng.choice(self.phones[branch.slug])
        caller = self.channel(f"PJSIP/{phone.number}")
        uid = self.uniqueid(start)
        dst = self.destination(branch)
        if kind == "failover":
            self.counts.failover_pairs += 1
            first = self.outbound(start, phone, caller, uid, dst, "tele2", "CONGESTION")
            return [first, self.outbound(first[0], phone, caller, uid, dst, "mts", "ANSWERED")]
        carrier = branch.carrier
        if self.rng.random() < SECONDARY_CARRIER_SHARE:
            carrier = CARRIERS[1 - CARRIERS.index(carrier)]
        return [self.outbound(start, phone, caller, uid, dst, carrier, self.outcome("outbound"))]

    def destination(self, branch: Branch) -> str:
        names, weights = self._destinations
        where = self.rng.choices(names, cum_weights=weights)[0]
        pool: list[str] = (self.pools.local[branch.slug] if where == "local"
                           else getattr(self.pools, where))
        return self.rng.choice(pool)

    def outbound(self, start: int, phone: Phone, caller: str, uid: str, dst: str,
                 carrier: str, disposition: str) -> Row:
        branch = phone.branch
        dstchan = self.channel(f"PJSIP/{carrier}")
        lastdata = (f"PJSIP/{carrier_form(carrier, dst)}@{carrier},120,"
                    f"b(pbxctl-present-caller-id^s^1({carrier_form(carrier, branch.did)}))")
        ring, billsec = self.timing(disposition, 60)
        fields = (branch.slug, phone.number, dst, f"pbxctl-out-{branch.slug}", phone.clid,
                  caller, dstchan, lastdata)
        return self.line(start, fields, disposition, ring, billsec, uid, uid)

    def inbound(self, start: int, branch: Branch) -> Row:
        caller_number = carrier_form("tele2", self.rng.choice(
            self.pools.mobile if self.rng.random() < 0.6 else self.pools.national))
        chan = self.channel("PJSIP/tele2")
        uid = self.uniqueid(start)
        phone = self.rng.choice(self.phones[branch.slug])
        dstchan = self.channel(f"PJSIP/{phone.number}")
        disposition = self.outcome("inbound")
        ring, billsec = self.timing(disposition, 30)
        fields = (branch.slug, caller_number, branch.did, "pbxctl-inbound-tele2",
                  csv_field(f'"" <{caller_number}>'), chan, dstchan, f"{phone.contact},30")
        return self.line(start, fields, disposition, ring, billsec, uid, uid)

    def internal(self, start: int, branch: Branch) -> Row:
        phone = self.rng.choice(self.phones[branch.slug])
        chan = self.channel(f"PJSIP/{phone.number}")
        uid = self.uniqueid(start)
        pool = self.phones[branch.slug] if self.rng.random() < 0.6 else self.all_phones
        callee = self.rng.choice(pool)
        while callee is phone:
            callee = self.rng.choice(pool)
        dstchan = self.channel(f"PJSIP/{callee.number}")
        disposition = self.outcome("internal")
        ring, billsec = self.timing(disposition, 30)
        fields = (branch.slug, phone.number, callee.number, "pbxctl-extensions", phone.clid,
                  chan, dstchan, f"{callee.contact},30")
        return self.line(start, fields, disposition, ring, billsec, uid, uid)


def tail_writer(layout: str) -> Callable[[str, str, int], str]:
    """The columns after amaflags in ``layout``: (uniqueid, linkedid, sequence) -> text."""
    uniqueid, userfield, newcolumns = LAYOUTS[layout]
    template = ((',"{0}"' if uniqueid else "") + (',""' if userfield else "")
                + (',"","{1}",{2}' if newcolumns else ""))
    return template.format


def write_master(path: Path, rows: int, rng: random.Random, shape: Shape = DEFAULT_SHAPE
                 ) -> Counts:
    """Write ``rows`` CDRs of October 2026, each when its call ends (as Asterisk does)."""
    kinds = call_kinds(rng, rows, call_mix(shape))
    schedule = call_schedule(rng, len(kinds))
    writer = CdrWriter(rng, Clock(), shape.layout)
    in_flight: list[Row] = []
    chunk: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        for kind, (start, branch_index) in zip(kinds, schedule, strict=True):
            while in_flight and in_flight[0][0] <= start:
                chunk.append(heapq.heappop(in_flight)[2])
            for row in writer.call(kind, start, BRANCHES[branch_index]):
                heapq.heappush(in_flight, row)
            if len(chunk) >= 10000:
                out.write("".join(chunk))
                chunk.clear()
        chunk += [text for _, _, text in sorted(in_flight)]
        out.write("".join(chunk))
    writer.counts.bytes = path.stat().st_size
    return writer.counts


def generate(outdir: Path, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED,
             shape: Shape = DEFAULT_SHAPE) -> Counts:
    """Write Master.csv, the carriers' decks and the corrected deck into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    catalogue = shaped(destinations(random.Random(f"{seed}-decks")), shape.prefixes,
                       random.Random(f"{seed}-shape-decks"))
    for carrier in CARRIERS:
        write_deck(outdir / f"{carrier}.csv", carrier, catalogue,
                   random.Random(f"{seed}-{carrier}"))
    write_correction(outdir / f"{CORRECTED_CARRIER}.csv",
                     outdir / f"{CORRECTED_CARRIER}-corrected.csv")
    return write_master(outdir / "Master.csv", rows, random.Random(f"{seed}-cdr"), shape)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--shape", choices=SHAPES, default=DEFAULT_SHAPE.name)
    parser.add_argument("--prefixes", type=int, help="catalogue size (overrides the shape's)")
    parser.add_argument("--inbound", type=float, help="share of inbound calls (overrides the "
                                                      "shape's)")
    parser.add_argument("--layout", choices=LAYOUTS, help="cdr_csv columns (overrides the "
                                                          "shape's)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    shape = SHAPES[args.shape]
    overrides = {k: v for k in ("prefixes", "inbound", "layout")
                 if (v := getattr(args, k)) is not None}
    try:
        shape = replace(shape, **overrides)
    except ValueError as exc:
        parser.error(str(exc))
    began = time.perf_counter()
    counts = generate(args.outdir, args.rows, args.seed, shape)
    seconds = time.perf_counter() - began
    print(f"{counts.rows} rows ({counts.calls} calls, {counts.failover_pairs} failover pairs, "
          f"{counts.bytes / 1e6:.1f} MB) in {seconds:.1f} s; rows by kind: {counts.by_kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
