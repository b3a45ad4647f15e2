"""Carriers, the number inventory and branch policies through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


@pytest.fixture
def trunks(company: Pbxctl) -> Pbxctl:
    """The company with phone 201, carriers tele2 (IP) and mts (registering)."""
    company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova")
    company.ok("ext", "add", "omsk", "301", "--name", "Ivan")
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
               "--match", "127.0.0.2", "--number-format", "national:7", "--contract", "T2-114")
    company.ok("carrier", "add", "mts", "--host", "sip.mts.example", "--auth", "register",
               "--username", "kazan01", "--secret", "trunk-secret-1", "--number-format", "plus",
               "--max-channels", "10")
    company.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
               "--monthly-fee", "350.00", "--route", "ext:201")
    return company


def _numbers(pbxctl: Pbxctl) -> list[dict[str, object]]:
    return json.loads(pbxctl.ok("number", "list", "--json").stdout)


def test_carrier_secret_is_never_shown(trunks: Pbxctl) -> None:
    for args in (("carrier", "list", "--json"), ("carrier", "show", "mts", "--json"),
                 ("audit", "--json"), ("apply", "--dry-run")):
        assert "trunk-secret-1" not in trunks.ok(*args).stdout, args
    shown = json.loads(trunks.ok("carrier", "show", "tele2", "--json").stdout)
    assert shown["match"] == ["127.0.0.2/32"] and shown["numbers"] == ["+78435550101"]
    assert shown["number_format"] == "national:7"


@pytest.mark.parametrize(("args", "field"), [
    (("--auth", "ip"), "--match"),
    (("--auth", "register", "--username", "u1"), "--username/--secret"),
    (("--auth", "ip", "--match", "127.0.0.2; x"), "--match"),
    (("--auth", "ip", "--match", "127.0.0.2", "--number-format", "national:x"),
     "--number-format"),
    (("--auth", "ip", "--match", "127.0.0.2", "--currency", "rubles"), "--currency"),
])
def test_bad_carriers_are_refused(trunks: Pbxctl, args: tuple[str, ...], field: str) -> None:
    result = trunks("carrier", "add", "beeline", "--host", "127.0.0.4", *args)
    assert result.exit_code == 2, result.stderr
    assert field in result.stderr
    slugs = [c["slug"] for c in json.loads(trunks.ok("carrier", "list", "--json").stdout)]
    assert slugs == ["mts", "tele2"]


def test_move_keeps_the_route_and_records_history(trunks: Pbxctl) -> None:
    trunks.ok("number", "move", "+78435550101", "--carrier", "mts")
    (number,) = _numbers(trunks)
    assert number["carrier"] == "mts" and number["route"] == "ext:201"
    assert number["branch"] == "kazan"
    trunks.ok("number", "move", "+78435550101", "--branch", "omsk")
    trunks.ok("number", "route", "+78435550101", "ext:301")
    periods = json.loads(trunks.ok("number", "history", "+78435550101", "--json").stdout)
    assert [(p["carrier"], p["branch"], p["route"]) for p in periods] == [
        ("tele2", "kazan", "ext:201"), ("mts", "kazan", "ext:201"),
        ("mts", "omsk", "ext:201"), ("mts", "omsk", "ext:301")]
    assert all(p["to"] for p in periods[:-1]) and periods[-1]["to"] is None
    trunks.ok("number", "release", "+78435550101")
    assert _numbers(trunks) == []
    periods = json.loads(trunks.ok("number", "history", "+78435550101", "--json").stdout)
    assert periods[-1]["to"] is not None


def test_carrier_with_numbers_or_in_a_policy_cannot_be_removed(trunks: Pbxctl) -> None:
    result = trunks("carrier", "remove", "tele2")
    assert result.exit_code == 1 and "+78435550101" in result.stderr
    trunks.ok("branch", "outbound", "kazan", "--carriers", "mts", "--dialing", "national:7")
    result = trunks("carrier", "remove", "mts")
    assert result.exit_code == 1 and "kazan" in result.stderr


def test_routed_extensions_and_paying_branches_are_protected(trunks: Pbxctl) -> None:
    assert trunks("ext", "remove", "201").exit_code == 1
    result = trunks("branch", "remove", "kazan", "--with-extensions")
    assert result.exit_code == 1 and "+78435550101" in result.stderr


@pytest.mark.parametrize(("args", "field"), [
    (("+7843", "--route", "ext:201"), "number"),
    (("+78435550102", "--route", "ext:999"), None),
    (("+78435550102", "--route", "ext:201&PJSIP/x"), "--route"),
    (("+78435550102", "--route", "external:0046701234567"), "--route"),
    (("+78435550102", "--route", "queue:kazan/sales"), None),
    (("+78435550102", "--route", "ext:201", "--monthly-fee", "3.505"), "--monthly-fee"),
    (("+78435550102", "--route", "ext:201", "--monthly-fee", "-1"), "--monthly-fee"),
    (("84355501", "--route", "ext:201"), "number"),
])
def test_bad_numbers_are_refused(trunks: Pbxctl, args: tuple[str, ...],
                                 field: str | None) -> None:
    base = {"--carrier": "tele2", "--branch": "kazan", "--monthly-fee": "100.00"}
    rest = list(args[1:])
    for key, value in base.items():
        if key not in rest:
            rest += [key, value]
    result = trunks("number", "add", args[0], *rest)
    assert result.exit_code in (1, 2), result.stderr
    if field:
        assert field in result.stderr
    assert len(_numbers(trunks)) == 1


def test_forwards_are_calls_their_branch_may_make(trunks: Pbxctl) -> None:
    """Issue 11 (9): a forward to a premium number was accepted and dialled."""
    def refused(*args: str) -> str:
        result = trunks(*args)
        assert result.exit_code == 2, result.stderr
        return result.stderr

    number = ("--carrier", "tele2", "--branch", "kazan", "--monthly-fee", "1.00")
    assert "branch 'kazan' has no outbound policy" in refused(
        "number", "route", "+78435550101", "external:+74955550099")
    trunks.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers", "tele2",
              "--allow", "national,mobile")
    assert "route: +78095550000 is premium; branch 'kazan' may call only national, mobile" \
        in refused("number", "route", "+78435550101", "external:+78095550000")
    assert "+46701234567 is international" in refused(
        "number", "route", "+78435550101", "ext:201", "--after-hours", "external:+46701234567")
    assert "premium" in refused("number", "add", "+78435550102", *number,
                                "--route", "external:+78095550000")
    assert "premium" in refused("crisis", "on", "--branch", "kazan", "--to",
                                "external:+78095550000")
    assert "premium" in refused("queue", "add", "kazan", "sales", "--members", "201",
                                "--overflow", "external:+78095550000")
    trunks.ok("number", "route", "+78435550101", "external:+74955550099")
    assert "branch 'omsk' has no outbound policy" in refused(
        "number", "move", "+78435550101", "--branch", "omsk")
    assert [n["route"] for n in _numbers(trunks)] == ["external:+74955550099"]
    assert [n["branch"] for n in _numbers(trunks)] == ["kazan"]


def test_export_wipe_import_reproduces_the_config(trunks: Pbxctl, config_dir: Path,
                                                  tmp_path: Path) -> None:
    trunks.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers", "tele2",
              "--allow", "national,international")
    trunks.ok("number", "add", "+78435550102", "--carrier", "mts", "--branch", "kazan",
              "--monthly-fee", "99.90", "--route", "branch:kazan", "--after-hours",
              "external:+46701234567", "--contract", "MTS-7")
    trunks.ok("apply", "--offline")
    before = {p.name: p.read_text() for p in config_dir.glob("*.conf")}
    exported = tmp_path / "numbers.csv"
    trunks.ok("number", "export", "-o", str(exported))
    assert exported.read_text().splitlines()[0] == (
        "number,carrier,branch,monthly_fee,contract,route,after_hours")

    empty = tmp_path / "empty.csv"
    empty.write_text(exported.read_text().splitlines()[0] + "\n")
    counts = json.loads(trunks.ok("number", "import", str(empty), "--replace",
                                  "--json").stdout)
    assert counts["released"] == 2 and _numbers(trunks) == []
    trunks.ok("apply", "--offline")
    assert (config_dir / "extensions.conf").read_text() != before["extensions.conf"]

    counts = json.loads(trunks.ok("number", "import", str(exported), "--json").stdout)
    assert counts["added"] == 2
    trunks.ok("apply", "--offline")
    assert {p.name: p.read_text() for p in config_dir.glob("*.conf")} == before
    again = json.loads(trunks.ok("number", "import", str(exported), "--json").stdout)
    assert again == {"added": 0, "updated": 0, "unchanged": 2, "released": 0}


def test_import_checks_every_row_before_changing_anything(trunks: Pbxctl,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("number,carrier,branch,monthly_fee,contract,route,after_hours\n"
                   "+78435550199,tele2,kazan,10.00,,ext:201,\n"
                   "+78x,tele2,kazan,10.00,,ext:201,\n"
                   "+78435550198,nobody,kazan,10.00,,ext:201,\n")
    result = trunks("number", "import", str(bad))
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "line 4" in result.stderr
    assert [n["number"] for n in _numbers(trunks)] == ["+78435550101"]


def test_outbound_policy_rules(trunks: Pbxctl) -> None:
    trunks.ok("number", "add", "+73812550101", "--carrier", "tele2", "--branch", "omsk",
              "--monthly-fee", "100.00", "--route", "ext:301")
    foreign = trunks("branch", "outbound", "kazan", "--dialing", "national:7",
                     "--carriers", "tele2,mts", "--caller-id", "+73812550101")
    assert foreign.exit_code == 2 and "belongs to branch 'omsk'" in foreign.stderr
    trunks.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers",
              "tele2,mts", "--caller-id", "+73812550101", "--allow-foreign-caller-id",
              "--allow", "national,mobile")
    not_owned = trunks("branch", "outbound", "kazan", "--caller-id", "+78435559999")
    assert not_owned.exit_code == 2 and "not a number the company owns" in not_owned.stderr
    for args, field in ((("--allow", "national,moon"), "--allow"),
                        (("--carriers", "tele2,nobody"), "--carriers"),
                        (("--dialing", "international"), "--dialing")):
        result = trunks("branch", "outbound", "kazan", *args)
        assert result.exit_code in (1, 2) and field in result.stderr, result.stderr
    policy = json.loads(trunks.ok("branch", "show", "kazan", "--json").stdout)["outbound"]
    assert policy == {"dialing": "national:7", "national_prefix": "8",
                      "international_prefix": "810", "allow": ["national", "mobile"],
                      "carriers": ["tele2", "mts"], "caller_id": "+73812550101",
                      "allow_foreign_caller_id": True, "max_calls": None, "max_minutes": {},
                      "after_hours_allow": None}


def test_hours_and_holidays(trunks: Pbxctl) -> None:
    trunks.ok("branch", "hours", "kazan", "mon-fri 09:00-18:00", "sat 10:00-14:00")
    for bad in ("mon-fri 9-18", "fri-mon 09:00-18:00", "mon 18:00-09:00", "funday 09:00-10:00"):
        assert trunks("branch", "hours", "kazan", bad).exit_code == 2, bad
    overlap = trunks("branch", "hours", "kazan", "mon 09:00-12:00", "mon 11:00-13:00")
    assert overlap.exit_code == 2 and "overlap" in overlap.stderr
    days = json.loads(trunks.ok("branch", "holidays", "kazan", "--add", "2026-12-31",
                                "--add", "2027-01-01", "--name", "New Year", "--json").stdout)
    assert [d["day"] for d in days] == ["2026-12-31", "2027-01-01"]
    assert trunks("branch", "holidays", "kazan", "--add", "31.12.2026").exit_code == 2
    shown = json.loads(trunks.ok("branch", "show", "kazan", "--json").stdout)
    assert shown["hours"][0] == "mon 09:00-18:00" and len(shown["hours"]) == 6
    trunks.ok("branch", "hours", "kazan", "--always-open")
    assert json.loads(trunks.ok("branch", "show", "kazan", "--json").stdout)["hours"] == []


def test_numbering_plan_is_shipped_editable_and_importable(trunks: Pbxctl,
                                                           tmp_path: Path) -> None:
    plan = json.loads(trunks.ok("numplan", "list", "--json").stdout)
    classes = {row["prefix"]: row["class"] for row in plan}
    assert classes["79"] == "mobile" and classes["112"] == "emergency"
    assert classes["4670"] == "mobile" and classes["7809"] == "premium"
    trunks.ok("numplan", "set", "7843", "local", "--description", "Kazan")
    bad = tmp_path / "plan.csv"
    bad.write_text("prefix,class,description\n7,national,Russia\n+8x,national,\n")
    result = trunks("numplan", "import", str(bad))
    assert result.exit_code == 2 and "line 3" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("prefix,class,description\n7,national,Russia\n79,mobile,\n112,emergency,\n")
    counts = json.loads(trunks.ok("numplan", "import", str(good), "--replace",
                                  "--json").stdout)
    assert counts["removed"] > 0
    assert len(json.loads(trunks.ok("numplan", "list", "--json").stdout)) == 3


@pytest.mark.parametrize("description", [
    'Premium"\n8809,emergency,"free', "Premium\n8809,emergency,free", "Premium\u2028x",
    "Premium\x00", 'Say "hi"', "=HYPERLINK(1)", "x" * 65])
def test_a_numplan_description_adds_no_row(trunks: Pbxctl, description: str) -> None:
    """Issue 11 finding 8: a quote and a newline in --description added an emergency row."""
    before = trunks.ok("numplan", "export").stdout
    result = trunks("numplan", "set", "7809", "premium", "--description", description)
    assert result.exit_code == 2 and "--description:" in result.stderr
    assert trunks.ok("numplan", "export").stdout == before


def test_numplan_export_reads_back_as_the_same_plan(trunks: Pbxctl, tmp_path: Path) -> None:
    trunks.ok("numplan", "set", "7843", "local", "--description", "Kazan, Tatarstan (O'Hare)")
    exported = tmp_path / "plan.csv"
    trunks.ok("numplan", "export", "-o", str(exported))
    assert '7843,local,"Kazan, Tatarstan (O\'Hare)"' in exported.read_text()
    counts = json.loads(trunks.ok("numplan", "import", str(exported), "--replace",
                                  "--json").stdout)
    assert counts["added"] == counts["updated"] == counts["removed"] == 0


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "10.0.0.0/7", "2001::/31",
                                     "::ffff:0:0/96", "::ffff:127.0.0.0/104"])
def test_a_carrier_cannot_match_the_internet(trunks: Pbxctl, network: str) -> None:
    """Issue 11 finding 11: ``--match 0.0.0.0/0`` made every address the carrier."""
    added = trunks("carrier", "add", "evil", "--host", "127.0.0.9", "--auth", "ip",
                   "--match", "127.0.0.9", "--match", network)
    assert added.exit_code == 2 and "--match:" in added.stderr
    assert trunks("carrier", "show", "evil").exit_code == 1
    updated = trunks("carrier", "update", "tele2", "--match", network)
    assert updated.exit_code == 2 and "--match:" in updated.stderr
    assert json.loads(trunks.ok("carrier", "show", "tele2", "--json").stdout)["match"] == [
        "127.0.0.2/32"]


def test_a_carrier_may_match_networks_up_to_a_slash_8(trunks: Pbxctl) -> None:
    trunks.ok("carrier", "update", "tele2", "--match", "10.0.0.0/8", "--match", "2001:db8::/32")
    assert json.loads(trunks.ok("carrier", "show", "tele2", "--json").stdout)["match"] == [
        "10.0.0.0/8", "2001:db8::/32"]


def test_carriers_see_staff_names_only_when_told(trunks: Pbxctl, config_dir: Path) -> None:
    """Issue 11 finding 11: outbound calls showed the phone's display name to carriers."""
    shown = json.loads(trunks.ok("carrier", "show", "tele2", "--json").stdout)
    assert shown["send_names"] is False
    trunks.ok("carrier", "update", "mts", "--send-names")
    assert json.loads(trunks.ok("carrier", "show", "mts", "--json").stdout)["send_names"]
    audit = json.loads(trunks.ok("audit", "--json").stdout)
    assert audit[-1]["after"]["send_names"] is True
    trunks.ok("apply", "--offline")
    dialplan = (config_dir / "extensions.conf").read_text()
    assert "@tele2,120,b(pbxctl-present-caller-id^s^1(${ARG2},0))" in dialplan
    assert "@mts,120,b(pbxctl-present-caller-id^s^1(${ARG2},1))" in dialplan
