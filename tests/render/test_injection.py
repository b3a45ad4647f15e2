"""Whatever text reaches the validators, the rendered files keep their shape: a value is
either refused or rendered inside its one line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pbxctl import validation
from pbxctl.errors import RenderError, ValidationError
from pbxctl.render import BranchConfig, NodeConfig, PhoneConfig, TemplateSet, render_node

TEMPLATES = TemplateSet()
NASTY = st.text(alphabet=st.sampled_from(list("aZя 09;[]\n\r\"'<>&$#{}()=,.-_\\/")) |
                st.characters(), max_size=70)


def _node(name: str = "Anna", city: str = "Kazan", department: str = "kazan",
          branch_name: str = "Kazan") -> NodeConfig:
    return NodeConfig(
        name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
        ami_secret="secret-123", sip_address="127.0.0.1", sip_port=5060,
        media_address="127.0.0.1",
        branches=(BranchConfig("kazan", branch_name, city,
                               (PhoneConfig("201", name, "kazan", department, "a" * 32),)),))


def _shape(files: dict[str, str]) -> dict[str, list[str]]:
    """Per file: the line structure without the values (sections, keys, dialplan lines)."""
    shape = {}
    for name, text in files.items():
        shape[name] = [line.split("=", 1)[0] if not line.startswith(";") else ";"
                       for line in text.splitlines()]
    return shape


BASELINE = _shape(render_node(_node(), TEMPLATES).files)


def _mailbox_fields(files: dict[str, str]) -> list[str]:
    (line,) = [x for x in files["voicemail.conf"].splitlines() if x.startswith("201 => ")]
    return line.removeprefix("201 => ").split(",")


@settings(max_examples=300, deadline=None)
@given(NASTY)
def test_display_names_never_change_the_file_shape(text: str) -> None:
    """Nor add a field to the voicemail mailbox line (``pin,name,email,pager,options``)."""
    try:
        name = validation.display_name("--name", text)
    except ValidationError:
        return
    files = render_node(_node(name=name), TEMPLATES).files
    assert _shape(files) == BASELINE
    pin, full_name = _mailbox_fields(files)
    assert pin == "" and full_name.strip() and not set(full_name) & set("|;=\n\r")


@settings(max_examples=300, deadline=None)
@given(NASTY)
def test_branch_name_city_and_department_never_change_the_file_shape(text: str) -> None:
    for field_name, check in (("city", validation.display_name), ("department", validation.slug),
                              ("branch_name", validation.display_name)):
        try:
            value = check(field_name, text)
        except ValidationError:
            continue
        assert _shape(render_node(_node(**{field_name: value}), TEMPLATES).files) == BASELINE


def test_renderer_refuses_unsafe_values_that_bypass_validation() -> None:
    for bad in ("Anna\n[evil]", "Anna;x", "Anna\r"):
        try:
            render_node(_node(name=bad), TEMPLATES)
        except RenderError:
            continue
        raise AssertionError(f"{bad!r} was rendered")


def test_a_comma_in_a_name_sets_no_voicemail_email_or_pager() -> None:
    """Issue 11 finding 8: ``ext add … --name "Eve, root, 12345"``."""
    name = validation.display_name("name", "Eve, root, 12345")
    assert _mailbox_fields(render_node(_node(name=name), TEMPLATES).files) == [
        "", "Eve root 12345"]
    name = validation.display_name("name", "Ivanov, Ivan (sales)")
    assert _mailbox_fields(render_node(_node(name=name), TEMPLATES).files) == [
        "", "Ivanov Ivan (sales)"]
