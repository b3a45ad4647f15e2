"""Rate decks, CDR import and cost reports through the CLI, in every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest

from tests.billing.test_cost_report import MASTER, cdr
from tests.conftest import Pbxctl

DECK = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "7,Russia,1.0000,0.1000,60,60\n79,Russia mobile,3.0000,0,0,1\n")


@pytest.fixture
def billing(company: Pbxctl, tmp_path: Path) -> Pbxctl:
    for slug, address in (("tele2", "127.0.0.2"), ("mts", "127.0.0.3")):
        company.ok("carrier", "add", slug, "--host", address, "--auth", "ip", "--match", address)
    deck = tmp_path / "tele2.csv"
    deck.write_text(DECK)
    company.ok("rates", "import", "tele2", str(deck), "--valid-from", "2026-10-01")
    return company


def test_a_deck_with_any_bad_line_is_not_activated(billing: Pbxctl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(DECK + "7843,Kazan,0.9x,0,0,60\n7812,Piter,1.0,0,0,0\n7,Dup,1,0,0,60\n"
                   "+abc,Bad,1,0,0,60\n")
    result = billing("rates", "import", "tele2", str(bad), "--valid-from", "2026-11-01")
    assert result.exit_code == 2
    for line in ("line 4", "line 5", "line 6", "line 7"):
        assert line in result.stderr
    decks = json.loads(billing.ok("rates", "list", "--json").stdout)
    assert [d["valid_from"] for d in decks] == ["2026-10-01"]


def test_rates_show_tells_prefix_deck_and_price(billing: Pbxctl) -> None:
    shown = json.loads(billing.ok("rates", "show", "tele2", "+79161234567", "--on",
                                  "2026-10-05", "--json").stdout)
    assert shown["prefix"] == "79" and shown["deck_valid_from"] == "2026-10-01"
    assert shown["rate_per_minute"].startswith("3.0000")
    assert billing("rates", "show", "tele2", "+79161234567", "--on", "2026-09-05").exit_code == 1
    assert billing("rates", "show", "tele2", "+4670123", "--on", "2026-10-05").exit_code == 1


def test_import_is_idempotent_and_quarantines_broken_rows(billing: Pbxctl,
                                                          tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER + b'"kazan","201"\n' + b'"bad\xff"' + MASTER.splitlines()[0])
    first = json.loads(billing.ok("cdr", "import", str(master), "--json").stdout)
    assert (first["inserted"], first["quarantined"]) == (13, 2)
    assert first["reasons"] == {"wrong column count 2 (expected 16-21)": 1,
                                "not UTF-8": 1}
    second = json.loads(billing.ok("cdr", "import", str(master), "--json").stdout)
    assert (second["inserted"], second["duplicates"], second["quarantined"]) == (0, 13, 2)
    listed = json.loads(billing.ok("cdr", "quarantine", "--json").stdout)
    assert sorted(q["line"] for q in listed) == [14, 15]


def test_rerate_after_a_deck_correction_reads_while_it_writes(
        billing: Pbxctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-rate of committed calls (on PostgreSQL read on a connection of its own, in
    chunks of a call or two, while the changed prices are written) prices them as the
    corrected deck says, on both engines alike; a second re-rate changes nothing."""
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER)
    billing.ok("cdr", "import", str(master))
    corrected = tmp_path / "tele2-corrected.csv"
    corrected.write_text(DECK.replace("1.0000,0.1000", "2.5000,0.0000"))
    billing.ok("rates", "import", "tele2", str(corrected), "--valid-from", "2026-10-16")
    monkeypatch.setattr("pbxctl.services.cdrs.STREAM_BYTES", 200)
    first = json.loads(billing.ok("cdr", "rerate", "--month", "2026-10", "--json").stdout)
    report = json.loads(billing.ok("report", "costs", "--month", "2026-10", "--format",
                                   "json").stdout)
    # the calls of Oct 16 on through tele2: Oct 20 (kazan) and four on Oct 31 (UTC)
    assert first == {"calls": 11, "changed": 5, "unrated": 2}
    # kazan: 2.10 (Oct 1, old deck) + 2.25 (79, 45 s) + 2.50 (Oct 20, 60 s at 2.50)
    # + 2.50 (Oct 31 23:30 Moscow); omsk: 100 s -> 120 s at 2.50 (Oct 31 23:30 Omsk)
    assert {r["department"]: r["call_cost"] for r in report["rows"]} == {
        "kazan": "9.35", "omsk": "5.00"}
    again = json.loads(billing.ok("cdr", "rerate", "--month", "2026-10", "--json").stdout)
    assert again == {"calls": 11, "changed": 0, "unrated": 2}


def test_report_formats_agree(billing: Pbxctl, tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER)
    billing.ok("cdr", "import", str(master))
    plain = billing.ok("report", "costs", "--month", "2026-10")
    rows = list(csv.DictReader(io.StringIO(plain.stdout)))
    assert list(rows[0]) == ["month", "department", "outbound_calls", "billable_seconds",
                             "charged_seconds", "call_cost", "number_rental", "total",
                             "currency"]
    kazan = next(r for r in rows if r["department"] == "kazan")
    assert "could not be rated" in plain.stderr

    excel = tmp_path / "excel.csv"
    billing.ok("report", "costs", "--month", "2026-10", "--excel", "-o", str(excel))
    raw = excel.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw and b"\r\n" in raw
    excel_rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert excel_rows[1]["call_cost"] == next(
        r for r in rows if r["department"] == excel_rows[1]["department"])["call_cost"].replace(
        ".", ",")

    data = json.loads(billing.ok("report", "costs", "--month", "2026-10", "--format",
                                 "json").stdout)
    assert data["unrated_calls"] == 2  # the beeline call and the mts call (no mts deck)
    assert next(r for r in data["rows"] if r["department"] == "kazan")["call_cost"] == \
        kazan["call_cost"]

    book_path = tmp_path / "costs.xlsx"
    billing.ok("report", "costs", "--month", "2026-10", "--format", "xlsx", "--detail", "-o",
               str(book_path))
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["costs", "calls"]
    costs = list(book["costs"].iter_rows(values_only=True))
    assert costs[0][:3] == ("month", "department", "outbound_calls")
    kazan_row = next(r for r in costs if r[1] == "kazan")
    assert f"{kazan_row[5]:.2f}" == kazan["call_cost"]

    detail = list(csv.DictReader(io.StringIO(billing.ok(
        "report", "costs", "--month", "2026-10", "--detail", "--department", "kazan").stdout)))
    assert f"{sum(float(d['cost']) for d in detail):.2f}" == kazan["call_cost"]
    assert billing("report", "costs", "--month", "2026-13").exit_code == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_large_imports_take_the_copy_path_and_stay_idempotent(billing: Pbxctl,
                                                              tmp_path: Path) -> None:
    rows = "".join(cdr(i, "kazan", "201", "+78432000000", f"2026-10-{1 + i % 28:02d} 10:00:00",
                       i % 90, f"PJSIP/tele2-{i:04d}") for i in range(1, 501))
    master = tmp_path / "Master.csv"
    master.write_text(rows)
    first = json.loads(billing.ok("cdr", "import", str(master), "--json").stdout)
    assert first["inserted"] == 500
    master.write_text(rows + cdr(501, "kazan", "201", "+78432000000", "2026-10-02 10:00:00", 5,
                                 "PJSIP/tele2-0501"))
    second = json.loads(billing.ok("cdr", "import", str(master), "--json").stdout)
    assert (second["inserted"], second["duplicates"]) == (1, 500)


HYPERLINK = '=HYPERLINK("http://x","y")'
CALC = "=cmd|' /C calc'!A0"


def test_report_cells_from_cdrs_are_no_formulas(billing: Pbxctl, tmp_path: Path) -> None:
    """Issue 11 finding 4: a Master.csv line's accountcode and src reach the reports."""
    row = next(csv.reader(io.StringIO(cdr(14, "x", "201", "+78432000000",
                                         "2026-10-01 05:00:00", 61, "PJSIP/tele2-14"))))
    row[0], row[1] = HYPERLINK, CALC
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    line = out.getvalue()
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER + line.encode())
    assert json.loads(billing.ok("cdr", "import", str(master), "--json").stdout)[
        "quarantined"] == 0

    plain = list(csv.DictReader(io.StringIO(billing.ok(
        "report", "costs", "--month", "2026-10", "--detail").stdout)))
    excel = tmp_path / "excel.csv"
    billing.ok("report", "costs", "--month", "2026-10", "--detail", "--excel", "-o", str(excel))
    excel_rows = list(csv.DictReader(io.StringIO(excel.read_text("utf-8-sig")), delimiter=";"))
    for rows in (plain, excel_rows):
        bad = next(r for r in rows if r["department"].endswith(HYPERLINK))
        assert (bad["department"], bad["extension"]) == ("'" + HYPERLINK, "'" + CALC)
        assert bad["destination"] == "+78432000000"
        assert {r["destination"][:2] for r in rows} <= {"+7", "+4"}
    totals = list(csv.DictReader(io.StringIO(billing.ok(
        "report", "costs", "--month", "2026-10").stdout)))
    assert "'" + HYPERLINK in {r["department"] for r in totals}

    book_path = tmp_path / "costs.xlsx"
    billing.ok("report", "costs", "--month", "2026-10", "--format", "xlsx", "--detail", "-o",
               str(book_path))
    book = openpyxl.load_workbook(book_path)
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row
             if c.value in (HYPERLINK, CALC)]
    assert {c.value for c in cells} == {HYPERLINK, CALC}
    assert {c.data_type for c in cells} == {"s"}


def test_cdr_listings_send_no_terminal_escapes(billing: Pbxctl, tmp_path: Path) -> None:
    """Issue 11 finding 11: Master.csv text reached the terminal as escape sequences."""
    title, clear = "\x1b]0;pwned\x07", "\x1b[2J"
    unrated = cdr(14, "kazan", clear + "201", "+7843" + title, "2026-10-01 05:00:00", 61,
                  "PJSIP/beeline-14")
    master = tmp_path / "Master.csv"
    master.write_text(unrated + f'"kazan","201{title}{clear}"\n')
    summary = billing.ok("cdr", "import", str(master))
    listings = (billing.ok("cdr", "quarantine"), billing.ok("cdr", "unrated", "--month",
                                                            "2026-10"))
    for result in (summary, *listings):
        assert not {"\x1b", "\x07"} & set(result.stdout + result.stderr)
    assert r"201\x1b]0;pwned\x07\x1b[2J" in listings[0].stdout
    assert r"\x1b[2J201" in listings[1].stdout
    assert r"+7843\x1b]0;pwned\x07" in listings[1].stdout
