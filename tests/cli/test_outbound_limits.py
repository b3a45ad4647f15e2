"""The brakes on a branch's outbound calls through the CLI (issue 13): ``--max-calls``,
``--max-minutes`` and ``--after-hours-allow`` of ``branch outbound``; bad input names its
flag, exits 2 and changes nothing; every change is audited; ``branch show`` shows them;
what the dialplan gets. The live proof is tests/integration/test_outbound_limits.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


@pytest.fixture
def kazan(company: Pbxctl) -> Pbxctl:
    """Kazan calls national, mobile and international numbers through tele2."""
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
               "--match", "127.0.0.2", "--number-format", "national:7")
    company.ok("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers",
               "tele2", "--allow", "national,mobile,international")
    return company


def _policy(pbxctl: Pbxctl) -> dict[str, object]:
    policy = json.loads(pbxctl.ok("branch", "show", "kazan", "--json").stdout)["outbound"]
    assert isinstance(policy, dict)
    return policy


def test_brakes_are_set_shown_and_audited(kazan: Pbxctl) -> None:
    assert {k: _policy(kazan)[k] for k in ("max_calls", "max_minutes", "after_hours_allow")} \
        == {"max_calls": None, "max_minutes": {}, "after_hours_allow": None}
    done = kazan.ok("branch", "outbound", "kazan", "--max-calls", "6", "--max-minutes",
                    "international=30, mobile=120,national=90s", "--after-hours-allow",
                    "local,national,mobile")
    assert "at most 6 calls at once" in done.stderr
    assert "international 30m, mobile 120m, national 90s" in done.stderr
    policy = _policy(kazan)
    assert policy["max_calls"] == 6
    assert policy["max_minutes"] == {"international": "30m", "mobile": "120m", "national": "90s"}
    assert policy["after_hours_allow"] == ["local", "national", "mobile"]
    entry = json.loads(kazan.ok("audit", "--json").stdout)[-1]
    assert entry["action"] == "branch.outbound" and entry["object_key"] == "kazan"
    assert entry["before"]["max_calls"] is None and entry["after"]["max_calls"] == 6
    assert entry["after"]["max_minutes"]["national"] == "90s"

    table = kazan.ok("branch", "show", "kazan").stdout
    assert "international 30m, mobile 120m, national 90s" in table
    assert "local, national, mobile" in table

    # Other options leave the brakes alone; the same values again are no change.
    audited = len(json.loads(kazan.ok("audit", "--json").stdout))
    kazan.ok("branch", "outbound", "kazan", "--allow", "national,mobile,international")
    kazan.ok("branch", "outbound", "kazan", "--max-minutes", "mobile=120",
             "--max-calls", "6")
    after = json.loads(kazan.ok("audit", "--json").stdout)
    assert len(after) == audited + 1, "only the changed limits are a change"
    assert after[-1]["after"]["max_minutes"] == {"mobile": "120m"}, "the set is replaced"
    assert _policy(kazan)["max_calls"] == 6

    kazan.ok("branch", "outbound", "kazan", "--max-calls", "none", "--max-minutes", "none",
             "--after-hours-allow", "all")
    assert {k: _policy(kazan)[k] for k in ("max_calls", "max_minutes", "after_hours_allow")} \
        == {"max_calls": None, "max_minutes": {}, "after_hours_allow": None}
    kazan.ok("branch", "outbound", "kazan", "--after-hours-allow", "none")
    assert _policy(kazan)["after_hours_allow"] == []
    assert "emergency only" in kazan.ok("branch", "show", "kazan").stdout


@pytest.mark.parametrize(("args", "flag", "words"), [
    (("--max-calls", "0"), "--max-calls", "use none to remove the limit"),
    (("--max-calls", "-3"), "--max-calls", "is not a number of calls"),
    (("--max-calls", "1001"), "--max-calls", "between 1 and 1000"),
    (("--max-calls", "six"), "--max-calls", "is not a number of calls"),
    (("--max-minutes", "premium=0"), "--max-minutes", "left out of --allow"),
    (("--max-minutes", "international"), "--max-minutes", "is not CLASS=LIMIT"),
    (("--max-minutes", "moon=30"), "--max-minutes", "unknown class 'moon'"),
    (("--max-minutes", "emergency=30"), "--max-minutes", "emergency calls are never cut"),
    (("--max-minutes", "mobile=30,mobile=40"), "--max-minutes", "mobile is given twice"),
    (("--max-minutes", "mobile=5s"), "--max-minutes", "from 10s to 1440 minutes"),
    (("--max-minutes", "mobile=1441"), "--max-minutes", "from 10s to 1440 minutes"),
    (("--max-minutes", "mobile=2h"), "--max-minutes", "give minutes (30) or seconds (90s)"),
    (("--after-hours-allow", "local,moon"), "--after-hours-allow", "unknown class(es) moon"),
    (("--after-hours-allow", "emergency,local"), "--after-hours-allow",
     "emergency calls always go out"),
    (("--after-hours-allow", "all,local"), "--after-hours-allow", "unknown class(es) all"),
])
def test_bad_brakes_name_their_flag_and_change_nothing(
        kazan: Pbxctl, args: tuple[str, ...], flag: str, words: str) -> None:
    kazan.ok("branch", "outbound", "kazan", "--max-calls", "4")
    before = (_policy(kazan), len(json.loads(kazan.ok("audit", "--json").stdout)))
    result = kazan("branch", "outbound", "kazan", "--carriers", "tele2", *args)
    assert result.exit_code == 2, result.stderr
    assert flag in result.stderr and words in result.stderr, result.stderr
    assert (_policy(kazan), len(json.loads(kazan.ok("audit", "--json").stdout))) == before


def test_the_dialplan_gets_the_brakes(kazan: Pbxctl, config_dir: Path) -> None:
    kazan.ok("branch", "hours", "kazan", "mon-fri 09:00-18:00")
    kazan.ok("branch", "outbound", "kazan", "--max-calls", "3", "--max-minutes",
             "international=30,national=90s", "--after-hours-allow", "national")
    kazan.ok("apply", "--offline")
    dialplan = (config_dir / "extensions.conf").read_text()
    assert "exten => _+46!,1,Gosub(pbxctl-brakes-kazan,hours,1(international,${EXTEN}))\n" \
           " same => n,Gosub(pbxctl-trunks-kazan,s,1(${EXTEN},1800))\n" in dialplan
    assert "exten => _+7!,1,Gosub(pbxctl-brakes-kazan,calls,1(national,${EXTEN}))\n" \
           " same => n,Gosub(pbxctl-trunks-kazan,s,1(${EXTEN},90))\n" in dialplan
    assert "exten => _+79!,1,Gosub(pbxctl-brakes-kazan,hours,1(mobile,${EXTEN}))\n" \
           " same => n,Gosub(pbxctl-trunks-kazan,s,1(${EXTEN}))\n" in dialplan
    assert "GotoIf($[${GROUP_COUNT(kazan@pbxctl-branch)} > 3]?full,1)" in dialplan
    # Emergency codes go straight to the carriers, with no limit.
    assert "exten => 112,1,Set(CHANNEL(accountcode)=${PBXCTL_DEPARTMENT})" in dialplan
    assert " same => n,Gosub(pbxctl-trunks-kazan,s,1(112))\n" in dialplan

    # Without a schedule the branch is always open: no night rule is rendered.
    kazan.ok("branch", "hours", "kazan", "--always-open")
    kazan.ok("branch", "outbound", "kazan", "--max-calls", "none")
    kazan.ok("apply", "--offline")
    dialplan = (config_dir / "extensions.conf").read_text()
    assert "pbxctl-brakes-kazan" not in dialplan
    assert "exten => _+46!,1,Gosub(pbxctl-trunks-kazan,s,1(${EXTEN},1800))\n" in dialplan
