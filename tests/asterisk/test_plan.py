"""The plan: what changes, what reloads, what needs a restart, and no secret in a diff."""

from __future__ import annotations

from pbxctl.asterisk.plan import RELOAD_MODULE, make_plan, mask_secrets
from pbxctl.render.node import OUTPUT_FILES


def test_every_rendered_file_says_how_it_takes_effect() -> None:
    assert set(OUTPUT_FILES) == set(RELOAD_MODULE)


def test_reloads_are_ordered_and_unique() -> None:
    plan = make_plan("local", {"queues.conf": "a", "queuerules.conf": "b", "pjsip.conf": "c",
                               "modules.conf": "d"}, {})
    assert plan.reloads == ("app_queue.so", "res_pjsip.so")
    assert plan.needs_restart == ("modules.conf",)


def test_unchanged_files_are_not_in_the_plan() -> None:
    plan = make_plan("local", {"pjsip.conf": "same", "rtp.conf": "new"},
                     {"pjsip.conf": "same", "rtp.conf": "old"})
    assert [c.name for c in plan.changes] == ["rtp.conf"]
    assert "-old" in plan.diff and "+new" in plan.diff


def test_a_changed_secret_shows_as_a_masked_change() -> None:
    plan = make_plan("local", {"manager.conf": "[pbxctl]\nsecret = new-secret-1\n"},
                     {"manager.conf": "[pbxctl]\nsecret = old-secret-1\n"})
    assert "-secret = ********" in plan.diff and "+secret = ********" in plan.diff
    assert "secret-1" not in plan.diff


def test_mask_secrets_covers_every_secret_option() -> None:
    text = "secret=a1\npassword = a2\npassword_digest=md5:a3\nmd5_cred=a4\nusername=201\n"
    masked = mask_secrets(text)
    assert not any(s in masked for s in ("a1", "a2", "a3", "a4"))
    assert "username=201" in masked


def test_modules_added_to_modules_conf_are_loaded_at_once() -> None:
    old = "[modules]\nautoload = no\nload = res_pjsip.so\nload = app_dial.so\n"
    new = old + "load = app_exec.so\nload => func_groupcount.so\n"
    plan = make_plan("local", {"modules.conf": new}, {"modules.conf": old})
    assert plan.modules_to_load == ("app_exec.so", "func_groupcount.so")
    assert plan.needs_restart == ("modules.conf",)


def test_a_changed_startup_option_needs_a_restart_though_its_file_reloads() -> None:
    old = "[global]\ntype=global\n\n[201]\ntype=endpoint\n"
    behind_edge = "[global]\ntype=global\nendpoint_identifier_order=header,ip\n\n[201]\n"
    first = make_plan("local", {"pjsip.conf": behind_edge}, {"pjsip.conf": old})
    assert first.reloads == ("res_pjsip.so",) and first.needs_restart == ("pjsip.conf",)
    later = behind_edge + "type=endpoint\ncontext=x\n"
    assert make_plan("local", {"pjsip.conf": later},
                     {"pjsip.conf": behind_edge}).needs_restart == ()
