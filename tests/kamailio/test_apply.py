"""Applying an edge against a fake Kamailio: what is planned, written, reloaded (and in
which order), verified, and how a refused reload, an unreachable Kamailio or a failed
check leave the previous files in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxctl.errors import ApplyError
from pbxctl.kamailio.apply import EdgeApplier
from pbxctl.kamailio.files import write_file
from pbxctl.kamailio.verify import verify
from pbxctl.render import edge as r
from pbxctl.render.templates import TemplateSet
from tests.kamailio.fake_kamailio import FakeKamailio

NA, NB = r.EdgeNode("na", "127.0.0.11", 5060), r.EdgeNode("nb", "127.0.0.12", 5060)


def config(directory: Path, standby: bool = False,
           numbers: tuple[str, ...] = ("8435550101",), secret: str = "first:Secret1",
           networks: tuple[str, ...] = ("127.0.0.2/32",)) -> r.EdgeConfig:
    return r.EdgeConfig(
        name="e1", sip_address="127.0.0.10", sip_port=5060, rpc_address="127.0.0.10",
        rpc_port=5090, config_dir=str(directory),
        sets=(r.DispatcherSet(1, "kazan", NA, NB if standby else None),),
        carriers=(r.EdgeCarrier("tele2", networks),),
        numbers=tuple(r.EdgeNumber(n, 1) for n in numbers),
        registrations=(r.EdgeRegistration("tele2", "127.0.0.2", 5060, "a001", secret),))


def render(directory: Path, standby: bool = False,
           numbers: tuple[str, ...] = ("8435550101",), secret: str = "first:Secret1",
           networks: tuple[str, ...] = ("127.0.0.2/32",)) -> dict[str, str]:
    return r.render_edge(config(directory, standby, numbers, secret, networks), TemplateSet())


@pytest.fixture
def running(tmp_path: Path) -> FakeKamailio:
    """An edge directory with its first files, and a Kamailio that loaded them."""
    for relative, text in render(tmp_path).items():
        write_file(tmp_path, relative, text)
    return FakeKamailio(tmp_path)


def applier(directory: Path, kamailio: FakeKamailio, patience: float = 0) -> EdgeApplier:
    return EdgeApplier(directory, lambda: kamailio, patience)  # type: ignore[arg-type,return-value]


def on_disk(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def test_the_plan_names_what_kamailio_reloads_and_what_needs_a_restart(tmp_path: Path,
                                                                      running: FakeKamailio
                                                                      ) -> None:
    edge = applier(tmp_path, running)
    assert edge.plan("e1", render(tmp_path)).empty
    standby = edge.plan("e1", render(tmp_path, standby=True))
    assert [c.name for c in standby.changes] == ["dispatcher.list"]
    assert [r.label for r in standby.reloads] == ["dispatcher"]
    assert "+1 sip:127.0.0.12:5060 0 5 name=nb" in standby.diff
    number = edge.plan("e1", render(tmp_path, numbers=("8435550101", "8435550102")))
    assert [r.label for r in number.reloads] == ["htable numbers"]
    assert number.needs_restart == ()
    rendered = render(tmp_path)
    rendered["kamailio.cfg"] += "# changed\n"
    rendered["db/version"] += "extra:2\n"
    both = edge.plan("e1", rendered)
    assert [r.label for r in both.reloads] == ["htable numbers", "htable extensions",
                                                 "htable logins", "htable phone_ha1",
                                                 "carrier addresses", "uac registrations"]
    assert both.needs_restart == ("kamailio.cfg",)


async def test_a_new_carrier_password_reloads_the_registrations_and_is_never_shown(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path, secret="second:Secret2")
    edge = applier(tmp_path, running)
    plan = edge.plan("e1", rendered)
    assert [c.name for c in plan.changes] == ["db/uacreg"]
    assert [r.label for r in plan.reloads] == ["uac registrations"]
    assert "Secret" not in plan.diff
    assert "-1:tele2:tele2:127.0.0.10:a001:127.0.0.2::a001:********::" in plan.diff
    assert "+1:tele2:tele2:127.0.0.10:a001:127.0.0.2::a001:********::" in plan.diff
    await edge.apply(plan, rendered)
    assert ("uac.reg_reload",) in running.calls
    assert oct((tmp_path / "db" / "uacreg").stat().st_mode & 0o777) == "0o640"


async def test_apply_writes_reloads_the_dispatcher_before_the_tables_and_verifies(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path, standby=True, numbers=("8435550101", "8435550102"))
    edge = applier(tmp_path, running)
    result = await edge.apply(edge.plan("e1", rendered), rendered)
    assert result.written and result.destinations == 2
    assert result.reloaded == ("dispatcher", "htable numbers")
    assert running.calls[:3] == [("core.version",), ("dispatcher.reload",),
                                 ("htable.reload", "numbers")]
    assert ("dispatcher.list",) in running.calls[3:]
    assert on_disk(tmp_path) == rendered
    assert running.tables["numbers"] == {"8435550101": "1", "8435550102": "1"}


async def test_a_table_rewritten_within_the_second_is_dated_after_the_last(
        tmp_path: Path, running: FakeKamailio) -> None:
    """db_text re-reads a table only once its file is a whole second newer."""
    table = tmp_path / "db" / "numbers"
    before = table.stat().st_mtime
    write_file(tmp_path, "db/numbers", "header\n8435550109:0:0:1:0\n")
    assert int(table.stat().st_mtime) > int(before)
    assert oct(table.stat().st_mode & 0o777) == "0o640"


async def test_a_refused_reload_restores_the_files_and_reloads_nothing_again(
        tmp_path: Path, running: FakeKamailio) -> None:
    before = on_disk(tmp_path)
    running.refuse["dispatcher.reload"] = ["Ongoing reload"]
    rendered = render(tmp_path, standby=True, numbers=("8435550101", "8435550102"))
    edge = applier(tmp_path, running)
    with pytest.raises(ApplyError) as failed:
        await edge.apply(edge.plan("e1", rendered), rendered)
    assert str(failed.value) == ("Kamailio (edge e1) refused dispatcher.reload: Ongoing "
                                 "reload; the previous files were restored (Kamailio had not "
                                 "taken the new ones)")
    assert on_disk(tmp_path) == before
    assert running.calls == [("core.version",), ("dispatcher.reload",)]


async def test_a_busy_dispatcher_is_asked_again(tmp_path: Path,
                                                running: FakeKamailio) -> None:
    running.refuse["dispatcher.reload"] = ["Ongoing reload", "Ongoing reload"]
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running, patience=3)
    result = await edge.apply(edge.plan("e1", rendered), rendered)
    assert result.destinations == 2
    assert running.calls.count(("dispatcher.reload",)) == 3


async def test_a_failed_check_reloads_the_previous_files(tmp_path: Path,
                                                         running: FakeKamailio) -> None:
    before = on_disk(tmp_path)
    rendered = render(tmp_path, numbers=("8435550101", "8435550102"))
    edge = applier(tmp_path, running)
    plan = edge.plan("e1", rendered)
    lying = {**rendered, "db/numbers": rendered["db/numbers"] + "8435550199:0:0:1:0\n"}
    with pytest.raises(ApplyError) as failed:
        await edge.apply(plan, lying)
    assert str(failed.value) == (
        "verification failed: Kamailio's htable numbers holds 2 row(s), 3 rendered; not as "
        "rendered: 8435550199; the previous files were restored and reloaded")
    assert on_disk(tmp_path) == before
    assert running.tables["numbers"] == {"8435550101": "1"}
    assert running.calls[-1] == ("htable.reload", "numbers")


async def test_a_check_that_finds_another_dispatcher_set_fails(tmp_path: Path,
                                                               running: FakeKamailio) -> None:
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running)
    plan = edge.plan("e1", rendered)
    lying = {**rendered, "dispatcher.list": rendered["dispatcher.list"].replace(" 5 ", " 7 ")}
    with pytest.raises(ApplyError, match=r"^verification failed: Kamailio's dispatcher "
                       r"shows set 1: sip:127.0.0.11:5060 \(priority 10\), sip:127.0.0.12:5060 "
                       r"\(priority 5\), set 1: .*\(priority 7\) rendered; the previous "
                       r"files were restored and reloaded$"):
        await edge.apply(plan, lying)


async def test_an_unreachable_kamailio_gets_nothing_written(tmp_path: Path,
                                                            running: FakeKamailio) -> None:
    before = on_disk(tmp_path)
    running.reachable = False
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running)
    with pytest.raises(ApplyError, match="connection refused; nothing was written$"):
        await edge.apply(edge.plan("e1", rendered), rendered)
    assert on_disk(tmp_path) == before


async def test_a_kamailio_older_than_5_6_gets_nothing_written(tmp_path: Path,
                                                               running: FakeKamailio) -> None:
    before = on_disk(tmp_path)
    running.version = "kamailio 5.4.8 (x86_64/linux) "
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running)
    with pytest.raises(ApplyError, match=r"^edge e1 runs Kamailio 5\.4\.8; its rendered "
                       r"configuration needs Kamailio 5\.6 or later; nothing was written$"):
        await edge.apply(edge.plan("e1", rendered), rendered)
    assert on_disk(tmp_path) == before and running.calls == [("core.version",)]


async def test_debian_12s_kamailio_5_6_is_applied(tmp_path: Path,
                                                 running: FakeKamailio) -> None:
    running.version = "kamailio 5.6.3 (x86_64/linux) "
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running)
    result = await edge.apply(edge.plan("e1", rendered), rendered)
    assert result.reloaded == ("dispatcher",) and on_disk(tmp_path) == rendered


async def test_offline_only_writes_and_a_stale_plan_writes_nothing(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path, standby=True)
    edge = applier(tmp_path, running)
    plan = edge.plan("e1", rendered)
    (tmp_path / "dispatcher.list").write_text("# edited by hand\n")
    with pytest.raises(ApplyError, match="dispatcher.list changed on edge e1 since the plan"):
        await edge.apply(plan, rendered)
    assert (tmp_path / "dispatcher.list").read_text() == "# edited by hand\n"
    fresh = edge.plan("e1", rendered)
    result = await edge.apply(fresh, rendered, offline=True)
    assert result.written and result.reloaded == () and running.calls == []
    assert on_disk(tmp_path) == rendered


async def test_a_carriers_new_network_reloads_the_addresses_and_is_verified(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path, networks=("127.0.0.2/32", "10.8.0.0/22", "2001:db8::/32"))
    edge = applier(tmp_path, running, patience=2)
    plan = edge.plan("e1", rendered)
    assert [c.name for c in plan.changes] == ["db/address"]
    assert [r.label for r in plan.reloads] == ["carrier addresses"]
    running.refuse["permissions.addressReload"] = ["ongoing reload"]   # as permissions says
    await edge.apply(plan, rendered)
    assert running.calls.count(("permissions.addressReload",)) == 2
    assert running.networks == {(1, "127.0.0.2/32", "tele2"), (1, "10.8.0.0/22", "tele2"),
                                (1, "2001:db8::/32", "tele2")}
    assert ("permissions.subnetDump",) in running.calls


async def test_networks_kamailio_does_not_hold_fail_the_check(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path, networks=("127.0.0.2/32", "10.8.0.0/22"))
    running.networks = {(1, "127.0.0.2/32", "tele2"), (1, "10.8.0.0/24", "tele2")}
    with pytest.raises(ApplyError, match=r"^verification failed: Kamailio's carrier networks "
                                         r"differ from the rendered ones in 10.8.0.0/22 "
                                         r"\(tele2\), 10.8.0.0/24 \(tele2\)$"):
        await verify(running, rendered)


async def test_registrations_kamailio_does_not_hold_fail_the_check_unshown(
        tmp_path: Path, running: FakeKamailio) -> None:
    rendered = render(tmp_path)
    assert running.registrations == {
        "tele2": ("a001", "127.0.0.2", "a001", "first:Secret1", "sip:127.0.0.2:5060")}
    assert await verify(running, rendered) == 1
    running.registrations["tele2"] = ("a001", "127.0.0.2", "a001", "stale:Secret0",
                                      "sip:127.0.0.2:5060")
    with pytest.raises(ApplyError, match="registrations differ from the rendered ones "
                                         "for tele2$") as failed:
        await verify(running, rendered)
    assert "Secret" not in str(failed.value)
