"""Apply: diff, atomic write, reload of what changed, verification and rollback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pbxctl.asterisk.apply import Applier
from pbxctl.asterisk.files import exclusive_lock
from pbxctl.errors import AmiError, ApplyError, PbxctlError
from pbxctl.render import BranchConfig, NodeConfig, PhoneConfig, TemplateSet, render_node
from tests.asterisk.fake_asterisk import FakeAsterisk

HA1 = "0123456789abcdef0123456789abcdef"


def _node(*numbers: str) -> NodeConfig:
    phones = tuple(PhoneConfig(n, f"Phone {n}", "kazan", "kazan", HA1) for n in numbers)
    return NodeConfig(name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
                      ami_secret="secret-123", sip_address="127.0.0.1", sip_port=5060,
                      media_address="127.0.0.1",
                      branches=(BranchConfig("kazan", "Kazan salon", "Kazan", phones),))


@pytest.fixture
def asterisk(tmp_path: Path) -> FakeAsterisk:
    return FakeAsterisk(tmp_path)


async def _apply(asterisk: FakeAsterisk, node: NodeConfig,
                 templates: TemplateSet | None = None) -> None:
    rendered = render_node(node, templates or TemplateSet())
    applier = Applier(asterisk.config_dir, asterisk.connect)
    await applier.apply(applier.plan(node.name, rendered), rendered)


async def test_first_apply_writes_everything_and_verifies(asterisk: FakeAsterisk) -> None:
    await _apply(asterisk, _node("201", "202"))
    assert asterisk.endpoints == {"201", "202"}
    assert "pbxctl-from-kazan" in asterisk.contexts
    reloads = [f["Module"] for name, f in asterisk.actions if name == "Reload"]
    assert "res_pjsip.so" in reloads and "pbx_config.so" in reloads
    assert asterisk.closed == 1
    assert "pbx_config.so" in asterisk.loaded_modules  # modules.conf was new: all loaded


async def test_second_apply_changes_nothing(asterisk: FakeAsterisk) -> None:
    node = _node("201")
    await _apply(asterisk, node)
    rendered = render_node(node, TemplateSet())
    applier = Applier(asterisk.config_dir, asterisk.connect)
    plan = applier.plan("local", rendered)
    assert plan.empty and plan.diff == ""
    before = len(asterisk.actions)
    result = await applier.apply(plan, rendered)
    assert not result.written and len(asterisk.actions) == before


async def test_only_changed_files_are_reloaded(asterisk: FakeAsterisk) -> None:
    await _apply(asterisk, _node("201"))
    asterisk.actions.clear()
    await _apply(asterisk, _node("201", "202"))
    reloads = [f["Module"] for name, f in asterisk.actions if name == "Reload"]
    assert reloads == ["res_pjsip.so", "pbx_config.so", "app_voicemail.so"]
    assert asterisk.endpoints == {"201", "202"}


async def test_diff_masks_secrets(asterisk: FakeAsterisk) -> None:
    rendered = render_node(_node("201"), TemplateSet())
    plan = Applier(asterisk.config_dir, asterisk.connect).plan("local", rendered)
    assert "+++ b/pjsip.conf" in plan.diff and "+[201]" in plan.diff
    assert HA1 not in plan.diff and "secret-123" not in plan.diff
    assert "********" in plan.diff


async def test_broken_template_is_rolled_back(asterisk: FakeAsterisk, tmp_path: Path) -> None:
    await _apply(asterisk, _node("201"))
    good = (asterisk.config_dir / "pjsip.conf").read_text()
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    # An operator's override that renders endpoints with a wrong object type.
    (overrides / "pjsip.conf.j2").write_text(
        "{% for s in pjsip_sections %}\n[{{ s.name }}]\n{% for k, v in s.options %}\n"
        "{{ k }}={{ v | replace('endpoint', 'endpointx') }}\n{% endfor %}\n{% endfor %}\n")
    with pytest.raises(ApplyError, match="missing endpoint.*201.*202.*restored"):
        await _apply(asterisk, _node("201", "202"), TemplateSet(overrides))
    assert (asterisk.config_dir / "pjsip.conf").read_text() == good
    assert asterisk.endpoints == {"201"}


async def test_refused_reload_is_rolled_back(asterisk: FakeAsterisk) -> None:
    await _apply(asterisk, _node("201"))
    good = (asterisk.config_dir / "extensions.conf").read_text()
    asterisk.refuse_reload.add("pbx_config.so")
    with pytest.raises(ApplyError, match="refused to reload pbx_config.so"):
        await _apply(asterisk, _node("201", "202"))
    assert (asterisk.config_dir / "extensions.conf").read_text() == good


async def test_unreachable_node_writes_nothing(tmp_path: Path) -> None:
    async def unreachable() -> FakeAsterisk:
        raise AmiError("cannot reach AMI at 127.0.0.1:5038")

    rendered = render_node(_node("201"), TemplateSet())
    applier = Applier(tmp_path, unreachable)
    with pytest.raises(AmiError):
        await applier.apply(applier.plan("local", rendered), rendered)
    assert list(tmp_path.glob("*.conf")) == []


async def test_a_stale_plan_writes_nothing(asterisk: FakeAsterisk) -> None:
    rendered = render_node(_node("201"), TemplateSet())
    applier = Applier(asterisk.config_dir, asterisk.connect)
    plan = applier.plan("local", rendered)
    (asterisk.config_dir / "pjsip.conf").write_text("; written by someone else\n")
    with pytest.raises(ApplyError, match="changed on the node since the plan"):
        await applier.apply(plan, rendered)
    assert (asterisk.config_dir / "pjsip.conf").read_text() == "; written by someone else\n"
    assert asterisk.actions == []


async def test_concurrent_applies_do_not_interleave(asterisk: FakeAsterisk) -> None:
    rendered = render_node(_node("201"), TemplateSet())
    applier = Applier(asterisk.config_dir, asterisk.connect)
    plan = applier.plan("local", rendered)
    with exclusive_lock(asterisk.config_dir), pytest.raises(PbxctlError,
                                                            match="another apply is running"):
        await applier.apply(plan, rendered)
    assert asterisk.actions == []


async def test_files_holding_secrets_are_never_world_readable(asterisk: FakeAsterisk) -> None:
    old_file = asterisk.config_dir / "manager.conf"
    old_file.write_text("; written by hand, readable by all\n")
    old_file.chmod(0o644)
    umask = os.umask(0o022)
    try:
        await _apply(asterisk, _node("201"))
    finally:
        os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in asterisk.config_dir.iterdir()
             if p.suffix == ".conf"}
    assert {"pjsip.conf", "manager.conf"} <= modes.keys()
    assert all(mode in (0o640, 0o600) for mode in modes.values()), modes
