"""Outbound calls are classed by their longest numbering-plan prefix whatever their length,
carry only digits to a carrier, and forwards to outside numbers pass the same class check
(issue 11, finding 9). The live proof is in tests/integration/test_carrier_routing.py."""

from __future__ import annotations

import re

import pytest

from pbxctl import names
from pbxctl.numbering import class_for_branch
from pbxctl.render import TemplateSet, render_node
from tests.render.test_golden import company_node

FILES = render_node(company_node(), TemplateSet()).files
DIALPLAN = FILES["extensions.conf"]


def _context(name: str) -> str:
    match = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", DIALPLAN,
                      re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(1)


def _patterns(context: str) -> list[str]:
    return re.findall(r"^exten => (_[^,]+),1,", _context(context), re.MULTILINE)


def _asterisk_choice(patterns: list[str], number: str) -> str | None:
    """The pattern Asterisk takes for ``number``: of those that match, the one whose
    literal beginning is longest (Asterisk tries literal characters before X, . and !)."""
    def regex(pattern: str) -> str:
        return "".join({"X": "[0-9]", ".": ".+", "!": ".*"}.get(c, re.escape(c))
                       for c in pattern[1:])
    matching = [p for p in patterns if re.fullmatch(regex(p), number)]
    return max(matching, key=lambda p: len(p) - len(p.lstrip("_+0123456789")),
               default=None)


def _classes(context: str) -> dict[str, str]:
    """Pattern -> the class a call under it gets (allowed ones go to the trunks)."""
    lines = re.findall(r"^exten => (_[^,]+),1,(.*)$", _context(context), re.MULTILINE)
    return {pattern: (re.search(r": (\w+) calls are not allowed", app) or ["", "allowed"])[1]
            for pattern, app in lines}


@pytest.mark.parametrize("number", ["+78091", "+780912", "+7809", "+46900", "+4690012",
                                    "+8821"])
def test_a_short_number_under_a_premium_prefix_is_refused(number: str) -> None:
    out = names.ASTERISK.out_prefix + "kazan"
    chosen = _asterisk_choice(_patterns(out), number)
    assert chosen is not None and _classes(out)[chosen] == "premium", chosen


def test_every_number_gets_the_class_of_its_longest_prefix() -> None:
    node = company_node()
    out = names.ASTERISK.out_prefix + "kazan"
    patterns, classes = _patterns(out), _classes(out)
    policy = node.branch("kazan").outbound
    assert policy is not None
    allowed = set(policy.allowed_classes)
    for entry in node.numbering_plan:
        if entry.dest_class == "emergency":
            continue
        expected = class_for_branch(entry, "7")
        for tail in ("", "1", "12", "1234567"):
            number = f"+{entry.prefix}{tail}"
            longest = max((e for e in node.numbering_plan if e.dest_class != "emergency"
                           and number[1:].startswith(e.prefix)), key=lambda e: len(e.prefix))
            if longest is not entry:
                continue
            chosen = _asterisk_choice(patterns, number)
            assert chosen is not None, number
            got = classes[chosen]
            assert got == ("allowed" if expected in allowed else expected), number


def test_dialing_prefixes_are_read_by_the_longest_too() -> None:
    dialed = names.ASTERISK.dialed_prefix + "kazan"
    assert _asterisk_choice(_patterns(dialed), "8101") == "_810!"     # not +7101
    assert _asterisk_choice(_patterns(dialed), "88432000000") == "_8!"


def test_only_digits_reach_a_carrier() -> None:
    for branch in ("kazan", "omsk"):
        trunks = _context(names.ASTERISK.trunks_prefix + branch)
        first, check = trunks.splitlines()[:2]
        assert first == "exten => s,1,Set(LOCAL(num)=${ARG1})"
        assert check == (' same => n,GotoIf($["${num}" != "${FILTER(0123456789,${num})}" & '
                         '"${num}" != "+${FILTER(0123456789,${num})}"]?refused)')
        assert " same => n(refused)," in trunks
    for carrier in ("mts", "tele2"):
        trunk = _context(names.ASTERISK.trunk_prefix + carrier)
        assert "Set(LOCAL(num)=${FILTER(0123456789+,${ARG1})})" in trunk
        assert "*" not in trunk.split("Dial(")[0].replace("${", "")


LENGTH_CHECK = re.compile(r' same => n,GotoIf\(\$\["\$\{num:0:1\}" (=|!=) "\+" & '
                          r'\(\$\{LEN\(\$\{num\}\)\} < (\d+) \| '
                          r'\$\{LEN\(\$\{num\}\)\} > (\d+)\)\]\?(\w+)\)')


def _refused_for_length(trunks: str, number: str) -> str | None:
    """The label the trunks context's length checks send ``number`` (digits, maybe after
    a +) to; None when it reaches the carriers."""
    for plus, low, high, label in LENGTH_CHECK.findall(trunks):
        if (number.startswith("+") == (plus == "=")
                and not int(low) <= len(number) <= int(high)):
            return str(label)
    return None


@pytest.mark.parametrize(("number", "label"), [
    ("112", None), ("911", None), ("01", None), ("123456", None), ("+7843555", None),
    ("+123456789012345", None), ("", "bare"), ("1", "bare"), ("1234567", "bare"),
    ("78435550101", "bare"), ("+784355", "partial"), ("+1234567890123456", "partial"),
])
def test_a_carrier_gets_e164_or_a_short_emergency_code_only(number: str,
                                                             label: str | None) -> None:
    trunks = _context(names.ASTERISK.trunks_prefix + "kazan")
    assert len(LENGTH_CHECK.findall(trunks)) == 2
    assert _refused_for_length(trunks, number) == label
    for refusal in ("partial", "bare"):
        assert f" same => n({refusal}),Log(NOTICE," in trunks
        assert trunks.split(f"n({refusal}),")[1].splitlines()[1] == " same => n,Hangup(28)"


def test_forwards_go_through_the_branch_class_check() -> None:
    kazan = _context(names.ASTERISK.forward_prefix + "kazan")
    out = names.ASTERISK.out_prefix + "kazan"
    assert f"?{out},${{EXTEN}},1)" in kazan
    assert names.ASTERISK.trunks_prefix not in kazan
    # omsk has no outbound policy: its phones cannot call out, nor can its numbers forward.
    omsk = _context(names.ASTERISK.forward_prefix + "omsk")
    assert names.ASTERISK.trunks_prefix not in omsk and "Hangup(21)" in omsk
    assert "Goto(pbxctl-forward-omsk,+46701234567,1)" in DIALPLAN
