"""Numbers: carrier number formats, branch dialing rules and the numbering plan classes.

All pure: E.164 in, carrier or dialplan forms out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from pbxctl.billing.csv_safety import safe_row
from pbxctl.errors import ValidationError
from pbxctl.validation import CsvRows

DEST_CLASSES = ("emergency", "local", "national", "mobile", "international", "premium",
                "satellite")
# National (trunk) and international prefixes where they differ from the ITU default 0/00.
DIALING_DEFAULTS: dict[str, tuple[str, str]] = {"7": ("8", "810"), "1": ("1", "011")}
_CC_RE = re.compile(r"[1-9][0-9]{0,2}")
_PREFIX_RE = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class NumberFormat:
    """How a carrier writes numbers: ``e164`` (digits), ``plus`` (+digits) or
    ``national:CC`` (national significant number inside country CC, digits outside)."""

    kind: str
    country_code: str = ""

    def __str__(self) -> str:
        return f"national:{self.country_code}" if self.kind == "national" else self.kind

    def render(self, e164: str) -> str:
        """``e164`` ("+78435550101") as this carrier writes it."""
        digits = e164[1:]
        if self.kind == "plus":
            return e164
        if self.kind == "national" and digits.startswith(self.country_code):
            return digits[len(self.country_code):]
        return digits

    def inbound_forms(self, e164: str) -> tuple[str, ...]:
        """The called-number forms accepted from this carrier for ``e164``: its own form,
        and always the full form with '+'."""
        return tuple(dict.fromkeys((self.render(e164), e164)))


def parse_number_format(field: str, text: str) -> NumberFormat:
    """``e164``, ``plus`` or ``national:CC``."""
    if text in ("e164", "plus"):
        return NumberFormat(text)
    kind, _, cc = text.partition(":")
    if kind == "national" and _CC_RE.fullmatch(cc):
        return NumberFormat("national", cc)
    raise ValidationError(field, f"{text!r} is not a number format; use e164, plus or "
                                 "national:CC (e.g. national:7)")


@dataclass(frozen=True)
class DialingRules:
    """How a branch's people dial: country code, national and international prefixes."""

    country_code: str
    national_prefix: str
    international_prefix: str

    def __str__(self) -> str:
        return (f"national:{self.country_code} (national prefix {self.national_prefix}, "
                f"international prefix {self.international_prefix})")


def parse_dialing(field: str, text: str, national_prefix: str | None = None,
                  international_prefix: str | None = None) -> DialingRules:
    """``national:CC`` with the country's usual prefixes unless given."""
    kind, _, cc = text.partition(":")
    if kind != "national" or not _CC_RE.fullmatch(cc):
        raise ValidationError(field, f"{text!r} is not a dialing rule; use national:CC, "
                                     "e.g. national:7 or national:46")
    default_national, default_international = DIALING_DEFAULTS.get(cc, ("0", "00"))
    national = national_prefix if national_prefix is not None else default_national
    international = (international_prefix if international_prefix is not None
                     else default_international)
    for name, prefix in (("national_prefix", national),
                         ("international_prefix", international)):
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValidationError(name, f"{prefix!r} is not a dialing prefix (1-4 digits)")
    if international.startswith(national) and len(international) == len(national):
        raise ValidationError("international_prefix", "must differ from the national prefix")
    return DialingRules(cc, national, international)


def dest_classes(field: str, names: Sequence[str]) -> tuple[str, ...]:
    """Known destination classes, each once, in the order given."""
    classes = tuple(names)
    unknown = [c for c in classes if c not in DEST_CLASSES]
    if unknown or not classes:
        raise ValidationError(field, f"unknown class(es) {', '.join(unknown) or '(none)'}; "
                                     f"choose from {', '.join(DEST_CLASSES)}")
    return tuple(dict.fromkeys(classes))


# The brakes on a branch's outbound calls (issue 13). Emergency calls are never braked.
MAX_CALLS = 1000
MAX_LIMIT_SECONDS = 24 * 3600
WARNING_SECONDS = 60          # the warning tone, this long before a cut (longer limits)
_DURATION_RE = re.compile(r"(?P<amount>[0-9]{1,5})(?P<unit>[ms]?)")


def call_limit(field: str, value: int | str) -> int | None:
    """Concurrent outbound calls of a branch: 1 to 1000, or ``none`` for no limit (None).

    0 is refused: it reads as "no limit" to some and "no calls" to others; calls are
    stopped with `allow`."""
    if value == "none":
        return None
    if isinstance(value, str) and not value.isdigit():
        raise ValidationError(field, f"{value!r} is not a number of calls (1-{MAX_CALLS}) "
                                     "or none")
    calls = int(value)
    if calls == 0:
        raise ValidationError(field, "0 is not a limit: use none to remove the limit, and "
                                     "`allow` to stop calls")
    if not 1 <= calls <= MAX_CALLS:
        raise ValidationError(field, f"must be between 1 and {MAX_CALLS}, or none")
    return calls


def duration_limits(field: str, limits: Sequence[tuple[str, int | str]]
                    ) -> dict[str, int]:
    """Longest call per class, in seconds: each limit is whole minutes (``30``, ``30m``, or
    the number 30) or seconds (``90s``), from 10 seconds to 24 hours. 0 is refused (a
    class that may not be called is left out of `allow`), and so is emergency."""
    seconds: dict[str, int] = {}
    for dest_class, value in limits:
        if dest_class not in DEST_CLASSES:
            raise ValidationError(field, f"unknown class {dest_class!r}; choose from "
                                         f"{', '.join(DEST_CLASSES[1:])}")
        if dest_class == "emergency":
            raise ValidationError(field, "emergency calls are never cut")
        if dest_class in seconds:
            raise ValidationError(field, f"{dest_class} is given twice")
        match = _DURATION_RE.fullmatch(str(value)) if not isinstance(value, bool) else None
        if match is None:
            raise ValidationError(field, f"{dest_class}={value}: give minutes (30) or "
                                         "seconds (90s)")
        amount = int(match["amount"]) * (1 if match["unit"] == "s" else 60)
        if amount == 0:
            raise ValidationError(field, f"{dest_class}=0: a class that may not be called is "
                                         "left out of `allow`; a limit is at least 10s")
        if not 10 <= amount <= MAX_LIMIT_SECONDS:
            raise ValidationError(field, f"{dest_class}={value}: a limit is from 10s to "
                                         f"{MAX_LIMIT_SECONDS // 60} minutes")
        seconds[dest_class] = amount
    return seconds


def duration_text(seconds: int) -> str:
    """A limit as :func:`duration_limits` reads it back: ``30m``, or ``90s``."""
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def after_hours_classes(field: str, names: Sequence[str]) -> tuple[str, ...] | None:
    """The classes that still go out when the branch is closed: ``all`` alone means no
    night rule (None), ``none`` alone (or nothing) only emergency calls; emergency calls
    always go out, so naming it is refused."""
    classes = tuple(names)
    if classes == ("all",):
        return None
    if classes in (("none",), ()):
        return ()
    if "emergency" in classes:
        raise ValidationError(field, "emergency calls always go out; leave emergency out")
    unknown = [c for c in classes if c not in DEST_CLASSES]
    if unknown:
        raise ValidationError(field, f"unknown class(es) {', '.join(unknown)}; choose from "
                                     f"{', '.join(DEST_CLASSES[1:])}, or all, or none")
    return tuple(dict.fromkeys(classes))


@dataclass(frozen=True)
class PlanEntry:
    """One numbering-plan row: E.164 digits prefix (no '+') or a short emergency code."""

    prefix: str
    dest_class: str
    description: str = ""


_PLAN_PREFIX_RE = re.compile(r"[0-9]{1,15}")
# Letters of any script, digits, space and . , ( ) / ' -: no quote, no control character,
# no line or paragraph separator, so a description can never start another row; it starts
# with a letter, a digit or "(" (never as a spreadsheet formula).
_DESCRIPTION_RE = re.compile(r"(?:[^\W_]|\()[\w .,()/'-]{0,63}|")


def plan_entry(prefix: str, dest_class: str, description: str = "") -> PlanEntry:
    """One checked numbering-plan row (a ``+`` before the prefix is dropped); errors name
    ``prefix``, ``class`` or ``description``."""
    digits = prefix.strip(" ").removeprefix("+")
    if not _PLAN_PREFIX_RE.fullmatch(digits):
        raise ValidationError("prefix", f"{prefix!r} is not a prefix of digits")
    if dest_class not in DEST_CLASSES:
        raise ValidationError("class", f"unknown class {dest_class!r}")
    text = description.strip(" ")
    if not _DESCRIPTION_RE.fullmatch(text):
        raise ValidationError("description", "use up to 64 letters, digits, spaces and "
                                             ". , ( ) / ' -, starting with a letter, a digit "
                                             "or '(' (no \" and no line breaks)")
    return PlanEntry(digits, dest_class, text)


def parse_plan_csv(text: str) -> list[PlanEntry]:
    """Rows ``prefix,class,description`` (header required); every bad line is reported."""
    reader = CsvRows(text)
    if reader.fieldnames is None or not {"prefix", "class"} <= set(reader.fieldnames):
        raise ValidationError("file", "the header must be prefix,class[,description]")
    entries, errors, seen = [], [], set()
    for line, row in reader:
        try:
            entry = plan_entry(row.get("prefix") or "", (row.get("class") or "").strip(),
                               row.get("description") or "")
        except ValidationError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if entry.prefix in seen:
            errors.append(f"line {line}: prefix {entry.prefix} appears twice")
        else:
            seen.add(entry.prefix)
            entries.append(entry)
    if errors:
        raise ValidationError("file", "; ".join(errors[:20]) +
                              (f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""))
    return entries


def plan_csv(entries: Sequence[PlanEntry]) -> str:
    """The plan as the CSV :func:`parse_plan_csv` reads back into the same rows (cells
    through :func:`safe_row`, which leaves checked prefixes and descriptions as they are)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("prefix", "class", "description"))
    writer.writerows(safe_row((e.prefix, e.dest_class, e.description)) for e in entries)
    return out.getvalue()


def shipped_plan() -> list[PlanEntry]:
    """The numbering plan pbxctl ships (Russia, Sweden, emergency codes).

    Emergency rows are short codes dialed as they are; every other row is an E.164 prefix.
    """
    text = resources.files("pbxctl").joinpath("data/numbering_plan.csv").read_text("utf-8")
    return parse_plan_csv(text)


COUNTRY_RELATIVE = frozenset({"local", "national", "mobile"})


def class_for_branch(entry: PlanEntry, country_code: str) -> str:
    """The class of numbers under ``entry`` as seen from a branch in ``country_code``:
    a national, local or mobile number of another country is international there."""
    if entry.dest_class in COUNTRY_RELATIVE and not entry.prefix.startswith(country_code):
        return "international"
    return entry.dest_class


def number_class(e164: str, plan: Sequence[PlanEntry], country_code: str) -> str | None:
    """The class of ``e164`` for a branch in ``country_code``: that of its longest prefix
    in the plan (emergency codes aside), as the dialplan classes it; None outside the plan."""
    digits = e164.lstrip("+")
    entries = [e for e in plan if e.dest_class != "emergency" and digits.startswith(e.prefix)]
    if not entries:
        return None
    return class_for_branch(max(entries, key=lambda e: len(e.prefix)), country_code)
