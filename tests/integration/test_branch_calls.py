"""End to end on a real Asterisk 22: provision, apply, register SIPp phones with their
generated credentials, call between branches, read the CDR Asterisk wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sandboxkit import sandbox
from sandboxkit.sipp import SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node


def _answered_cdrs(seen: int, dst: str, timeout: float = 10) -> list[dict[str, str]]:
    """CDRs after the first ``seen`` rows for an answered call to ``dst``, once written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [row for row in sandbox.cdr_rows()[seen:]
                 if row["dst"] == dst and row["disposition"] == "ANSWERED"]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"Asterisk wrote no CDR for an answered call to {dst}")



def _provision(pbxctl: Pbxctl, config_dir: Path) -> tuple[SoftPhone, SoftPhone]:
    add_sandbox_node(pbxctl, config_dir)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk office", "--city", "Omsk",
              "--timezone", "Asia/Omsk", "--ext-range", "300-399")
    return (add_phone(pbxctl, "kazan", "201", "Anna Petrova"),
            add_phone(pbxctl, "omsk", "301", "Иван Сидоров"))


def test_call_between_branches_carries_the_department(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    anna, ivan = _provision(pbxctl, asterisk)

    planned = pbxctl.ok("apply", "--dry-run")
    assert "+++ b/pjsip.conf" in planned.stdout
    assert "+password_digest=********" in planned.stdout
    assert anna.password not in planned.stdout
    assert "dry run, nothing written" in planned.stderr

    applied = pbxctl.ok("apply")
    assert "applied" in applied.stderr and "2 endpoint(s)" in applied.stderr
    again = pbxctl.ok("apply")
    assert "no change" in again.stderr and again.stdout == ""

    assert ivan.register(tmp_path).ok, "301 could not register with its credentials"
    answering = ivan.answer_one_call(tmp_path)
    assert anna.register(tmp_path).ok, "201 could not register with its credentials"
    cdrs_before = len(sandbox.cdr_rows())

    call = anna.call(tmp_path, "301", hold_ms=1500)
    answered = answering.wait()
    assert call.ok, call.errors
    assert answered.ok, answered.errors

    # One CDR per device rung; exactly one of them answered.
    (cdr,) = _answered_cdrs(cdrs_before, "301")
    assert cdr["src"] == "201"
    assert cdr["accountcode"] == "kazan"
    assert cdr["channel"].startswith("PJSIP/201-") and cdr["dstchannel"].startswith("PJSIP/301-")
    assert int(cdr["billsec"]) >= 1 and cdr["uniqueid"]


def test_wrong_password_is_rejected(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    anna, _ivan = _provision(pbxctl, asterisk)
    pbxctl.ok("apply")
    assert anna.register_refused(tmp_path, "not-" + anna.password).ok
    rotated = json.loads(pbxctl.ok("ext", "passwd", "201", "--json").stdout)
    pbxctl.ok("apply")
    assert anna.register_refused(tmp_path, anna.password).ok, "old password still works"
    assert anna.register(tmp_path, rotated["password"]).ok


def test_failed_reload_rolls_back(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    anna, _ivan = _provision(pbxctl, asterisk)
    pbxctl.ok("apply")
    good = (asterisk / "pjsip.conf").read_text()

    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "pjsip.conf.j2").write_text(
        "{% for s in pjsip_sections %}\n[{{ s.name }}]\n{% for k, v in s.options %}\n"
        "{{ k }}={{ v | replace('endpoint', 'endpoint-broken') }}\n{% endfor %}\n"
        "{% endfor %}\n")
    pbxctl.ok("ext", "add", "kazan", "202", "--name", "Boris")
    broken = Pbxctl(pbxctl.database_url, {**pbxctl.env, "PBXCTL_TEMPLATE_DIR": str(overrides)})
    result = broken("apply")
    assert result.exit_code == 1
    assert "verification failed" in result.stderr and "restored" in result.stderr
    assert (asterisk / "pjsip.conf").read_text() == good
    # The restored configuration is what runs: phones still register.
    assert anna.register(tmp_path).ok
    audit = json.loads(pbxctl.ok("audit", "--json").stdout)
    assert audit[-1]["action"] == "apply.failed"
