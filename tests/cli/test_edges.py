"""``pbxctl edge`` and ``branch … --standby-node`` (issue 16, first slice), on SQLite and
PostgreSQL: what is stored, audited and refused, and the files ``edge render`` writes."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


@pytest.fixture
def edged(company: Pbxctl, tmp_path: Path) -> Pbxctl:
    """The company with a second node nb, standby of kazan, a carrier, a number and an
    edge e1."""
    (tmp_path / "b").mkdir()
    (tmp_path / "kamailio").mkdir()
    company.ok("node", "add", "nb", "--ami-host", "127.0.0.12", "--ami-user", "pbxctl",
               "--ami-secret", "test-secret-2", "--config-dir", str(tmp_path / "b"))
    company.ok("branch", "update", "kazan", "--standby-node", "nb")
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
               "--match", "127.0.0.2", "--number-format", "national:7")
    company.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
               "--monthly-fee", "350.00", "--route", "branch:kazan")
    company.ok("edge", "add", "e1", "--sip-address", "127.0.0.10", "--rpc",
               "127.0.0.10:5090", "--config-dir", str(tmp_path / "kamailio"))
    return company


def audit_actions(pbxctl: Pbxctl) -> list[str]:
    return [row["action"] for row in json.loads(pbxctl.ok("audit", "--json").stdout)]


def test_edge_add_list_remove_are_audited(edged: Pbxctl, tmp_path: Path) -> None:
    listed = json.loads(edged.ok("edge", "list", "--json").stdout)
    assert listed == [{"name": "e1", "sip_address": "127.0.0.10", "sip_port": 5060,
                       "rpc_address": "127.0.0.10", "rpc_port": 5090,
                       "config_dir": str((tmp_path / "kamailio").resolve())}]
    edged.ok("edge", "remove", "e1")
    assert json.loads(edged.ok("edge", "list", "--json").stdout) == []
    actions = audit_actions(edged)
    assert "edge.add" in actions and "edge.remove" in actions


@pytest.mark.parametrize(("args", "flag"), [
    (("--sip-address", "edge.example", "--rpc", "127.0.0.10:5090"), "--sip-address"),
    (("--sip-address", "127.0.0.10", "--rpc", "127.0.0.10"), "--rpc"),
    (("--sip-address", "127.0.0.10", "--rpc", "127.0.0.10:99999"), "--rpc"),
    (("--sip-address", "127.0.0.10", "--rpc", "::1:5090"), "--rpc"),
    (("--sip-address", "127.0.0.10", "--rpc", "127.0.0.10:5060"), "--rpc"),
])
def test_edge_add_refuses_bad_addresses(pbxctl: Pbxctl, tmp_path: Path,
                                        args: tuple[str, ...], flag: str) -> None:
    result = pbxctl("edge", "add", "e1", *args, "--config-dir", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {flag}: "), \
        result.stderr
    assert json.loads(pbxctl.ok("edge", "list", "--json").stdout) == []


def test_edge_config_dir_must_lie_under_the_node_config_roots(pbxctl: Pbxctl) -> None:
    result = pbxctl("edge", "add", "e1", "--sip-address", "127.0.0.10", "--rpc",
                    "[::1]:5090", "--config-dir", "/etc")
    assert result.exit_code == 2 and "--config-dir: '/etc' is not inside" in result.stderr


def test_a_second_edge_of_the_same_name_is_refused(edged: Pbxctl, tmp_path: Path) -> None:
    result = edged("edge", "add", "e1", "--sip-address", "127.0.0.11", "--rpc",
                   "127.0.0.11:5090", "--config-dir", str(tmp_path))
    assert result.exit_code == 1 and "edge 'e1' already exists" in result.stderr


def test_standby_node_is_shown_changed_and_cleared(edged: Pbxctl) -> None:
    branches = {b["slug"]: b for b in json.loads(edged.ok("branch", "list", "--json").stdout)}
    assert branches["kazan"]["standby_node"] == "nb"
    assert branches["omsk"]["standby_node"] is None
    edged.ok("branch", "update", "kazan", "--no-standby")
    shown = json.loads(edged.ok("branch", "show", "kazan", "--json").stdout)
    assert shown["node"] == "local" and shown["standby_node"] is None
    assert audit_actions(edged).count("branch.update") == 2


@pytest.mark.parametrize(("args", "expected"), [
    (("--standby-node", "local"), "--standby-node: 'local' is the branch's own node"),
    (("--standby-node", "nowhere"), "no node 'nowhere'"),
    (("--standby-node", "Bad Name"), "--standby-node: "),
])
def test_a_bad_standby_node_is_refused(edged: Pbxctl, args: tuple[str, ...],
                                       expected: str) -> None:
    result = edged("branch", "update", "kazan", *args)
    assert result.exit_code in (1, 2) and expected in result.stderr, result.stderr
    shown = json.loads(edged.ok("branch", "show", "kazan", "--json").stdout)
    assert shown["standby_node"] == "nb"


def test_a_branchs_language_is_shown_changed_audited_and_allow_listed(edged: Pbxctl) -> None:
    branches = {b["slug"]: b for b in json.loads(edged.ok("branch", "list", "--json").stdout)}
    assert {b["language"] for b in branches.values()} == {"en"}      # the default
    edged.ok("branch", "add", "tver", "--name", "Tver", "--city", "Tver", "--timezone",
             "Europe/Moscow", "--ext-range", "700-799", "--language", "de")
    edged.ok("branch", "update", "kazan", "--language", "ru")
    languages = {b["slug"]: b["language"]
                 for b in json.loads(edged.ok("branch", "list", "--json").stdout)}
    assert languages == {"kazan": "ru", "omsk": "en", "tver": "de"}
    shown = json.loads(edged.ok("branch", "show", "kazan", "--json").stdout)
    assert shown["language"] == "ru" and shown["standby_node"] == "nb"     # kept
    audit = json.loads(edged.ok("audit", "--json").stdout)
    update = [e for e in audit if e["action"] == "branch.update"][-1]
    assert (update["before"]["language"], update["after"]["language"]) == ("en", "ru")
    for args in (("branch", "update", "kazan", "--language", "ru-RU"),
                 ("branch", "add", "ufa", "--name", "Ufa", "--city", "Ufa", "--timezone",
                  "Asia/Yekaterinburg", "--ext-range", "800-899", "--language", "xx")):
        refused = edged(*args)
        assert refused.exit_code == 2 and refused.stderr.startswith("Error: --language: "), \
            refused.stderr
    assert {b["slug"]: b["language"] for b in json.loads(
        edged.ok("branch", "list", "--json").stdout)} == languages


def test_branch_update_needs_exactly_one_choice(edged: Pbxctl) -> None:
    assert edged("branch", "update", "kazan").exit_code == 2
    assert edged("branch", "update", "kazan", "--standby-node", "nb",
                 "--no-standby").exit_code == 2


def test_branch_add_with_a_standby_node(edged: Pbxctl) -> None:
    edged.ok("branch", "add", "ufa", "--name", "Ufa", "--city", "Ufa", "--timezone",
             "Asia/Yekaterinburg", "--ext-range", "400-499", "--node", "local",
             "--standby-node", "nb")
    shown = json.loads(edged.ok("branch", "show", "ufa", "--json").stdout)
    assert (shown["node"], shown["standby_node"]) == ("local", "nb")


def test_a_standby_node_cannot_be_removed(edged: Pbxctl) -> None:
    result = edged("node", "remove", "nb")
    assert result.exit_code == 1 and "still serves 1 branch(es)" in result.stderr


def test_edge_render_writes_the_files_with_their_modes(edged: Pbxctl, tmp_path: Path) -> None:
    out = tmp_path / "kamailio"
    edged.ok("edge", "render", "e1", "-o", str(out))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "db", "db/address", "db/extensions", "db/logins", "db/numbers", "db/phone_ha1",
        "db/uacreg", "db/version", "dispatcher.list", "kamailio.cfg"]
    assert stat.S_IMODE((out / "kamailio.cfg").stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "db/phone_ha1").stat().st_mode) == 0o640   # HA1s: a secret
    assert stat.S_IMODE((out / "db").stat().st_mode) & 0o7027 == 0
    assert (out / "dispatcher.list").read_text().splitlines()[1:] == [
        "1 sip:127.0.0.1:5060 0 10 name=local", "1 sip:127.0.0.12:5060 0 5 name=nb",
        "2 sip:127.0.0.1:5060 0 10 name=local"]
    assert (out / "db/numbers").read_text().splitlines()[1:] == [
        "+78435550101:0:0:1:0", "8435550101:0:0:1:0"]
    assert (out / "db/address").read_text().splitlines()[1:] == ["1:1:127.0.0.2:32:0:tele2"]
    assert f'text://{out.resolve()}/db' in (out / "kamailio.cfg").read_text()


def test_edge_render_prints_without_output(edged: Pbxctl) -> None:
    printed = edged.ok("edge", "render", "e1").stdout
    assert "==> kamailio.cfg <==" in printed and "==> db/numbers <==" in printed


def test_a_registering_carriers_password_is_written_but_never_shown(edged: Pbxctl,
                                                                   tmp_path: Path) -> None:
    edged.ok("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "register",
             "--username", "kazan01", "--secret", "trunk:secret-1")
    printed = edged.ok("edge", "render", "e1").stdout
    assert "==> db/uacreg <==\n" in printed and "trunk" not in printed
    assert "1:mts:mts:127.0.0.10:kazan01:127.0.0.3::kazan01:********::" in printed
    planned = edged.ok("apply", "--edge", "e1", "--dry-run").stdout
    assert "+1:mts:mts:127.0.0.10:kazan01:127.0.0.3::kazan01:********::" in planned
    assert "trunk" not in planned
    out = tmp_path / "written"
    out.mkdir()
    edged.ok("edge", "render", "e1", "-o", str(out))
    assert "kazan01:trunk\\:secret-1:" in (out / "db/uacreg").read_text()
    assert stat.S_IMODE((out / "db/uacreg").stat().st_mode) == 0o640


def test_the_phones_digests_are_written_but_never_shown(edged: Pbxctl,
                                                        tmp_path: Path) -> None:
    edged.ok("ext", "add", "kazan", "205", "--name", "Olga")
    out = tmp_path / "written"
    out.mkdir()
    edged.ok("edge", "render", "e1", "-o", str(out))
    rows = (out / "db/phone_ha1").read_text().splitlines()[1:]
    digests = [row.split(":")[3] for row in rows]
    assert rows and all(re.fullmatch(r"[0-9a-f]{32}", d) for d in digests), rows
    printed = edged.ok("edge", "render", "e1").stdout
    section = printed.split("==> db/phone_ha1 <==\n")[1].split("==>")[0]
    assert section.splitlines()[1:] == [
        ":".join(row.split(":")[:3] + ["********"] + row.split(":")[4:]) for row in rows]
    assert not any(digest in printed for digest in digests)


def test_a_carriers_networks_and_ipv6_addresses_reach_the_edge(edged: Pbxctl) -> None:
    edged.ok("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "ip",
             "--match", "10.1.0.0/24", "--match", "2001:db8::7", "--number-format", "plus")
    printed = edged.ok("edge", "render", "e1").stdout
    table = printed.split("==> db/address <==\n")[1].split("==>")[0]
    assert table.splitlines()[1:] == ["1:1:10.1.0.0:24:0:mts", "2:1:2001\\:db8\\:\\:7:128:0:mts",
                                      "3:1:127.0.0.2:32:0:tele2"]


def test_apply_edge_dry_run_offline_and_an_unreachable_kamailio(edged: Pbxctl,
                                                                 tmp_path: Path) -> None:
    edge_dir = tmp_path / "e9"
    edge_dir.mkdir()
    edged.ok("edge", "add", "e9", "--sip-address", "127.0.0.254", "--rpc",
             "127.0.0.254:5091", "--config-dir", str(edge_dir))
    planned = edged.ok("apply", "--edge", "e9", "--dry-run")
    assert "+++ b/dispatcher.list" in planned.stdout and "node local" not in planned.stderr
    assert "edge e9: would change kamailio.cfg, dispatcher.list, db/version, db/numbers, " \
           "db/address, db/extensions, db/uacreg, db/logins, db/phone_ha1 (dry run, " \
           "nothing written)." in planned.stderr, \
        planned.stderr
    assert list(edge_dir.iterdir()) == []
    written = edged.ok("apply", "--edge", "e9", "--offline")
    assert "edge e9: wrote " in written.stderr
    assert (edge_dir / "db" / "numbers").exists()
    assert "edge e9: no change" in edged.ok("apply", "--edge", "e9").stderr

    edged.ok("number", "add", "+78435550102", "--carrier", "tele2", "--branch", "kazan",
             "--monthly-fee", "0.00", "--route", "branch:kazan")
    numbers = (edge_dir / "db" / "numbers").read_text()
    failed = edged("apply", "--edge", "e9")
    assert failed.exit_code == 1
    assert ("Error: edge e9: cannot reach edge e9's Kamailio RPC at 127.0.0.254:5091: "
            "connection refused; nothing was written") in failed.stderr, failed.stderr
    assert (edge_dir / "db" / "numbers").read_text() == numbers
    audit = [(e["action"], e["object_type"], e["object_key"])
             for e in json.loads(edged.ok("audit", "--json").stdout)
             if e["action"].startswith("apply")]
    assert audit == [("apply", "edge", "e9"), ("apply.failed", "edge", "e9")]


def test_apply_node_leaves_the_edges_alone(edged: Pbxctl) -> None:
    planned = edged.ok("apply", "--node", "local", "--dry-run")
    assert "node local: would change" in planned.stderr and "edge" not in planned.stderr
    everything = edged.ok("apply", "--dry-run")
    assert "node local: would change" in everything.stderr
    assert "edge e1: would change" in everything.stderr


def test_behind_an_edge_a_new_phone_is_told_to_register_at_the_edge(edged: Pbxctl) -> None:
    creds = json.loads(edged.ok("ext", "add", "kazan", "205", "--name", "Olga",
                                "--json").stdout)
    assert (creds["server"], creds["port"]) == ("127.0.0.10", 5060)
    edged.ok("edge", "remove", "e1")
    again = json.loads(edged.ok("ext", "passwd", "205", "--json").stdout)
    assert (again["server"], again["port"]) == ("127.0.0.1", 5060)    # its node again
