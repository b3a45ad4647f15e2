"""No two objects share a name in Asterisk (issue 11, finding 5): every context, queue,
PJSIP object, mailbox and AstDB key of a company is unique whatever slugs it chose.

Asterisk merges two ``[same-name]`` contexts of extensions.conf into one: a branch called
``carrier-tele2`` used to add its phones' dialplan to carrier tele2's incoming calls, and
queues ``ab-cd/ef`` and ``ab/cd-ef`` were both ``[q-ab-cd-ef]``."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from pbxctl import names, validation
from pbxctl.errors import ValidationError
from pbxctl.numbering import DialingRules, NumberFormat, shipped_plan
from pbxctl.render import BranchConfig, NodeConfig, PhoneConfig, TemplateSet, render_node
from pbxctl.render.model import CarrierConfig, OpeningInterval, OutboundConfig, QueueConfig

TEMPLATES = TemplateSet()
PLAN = tuple(shipped_plan())
# Words of pbxctl's own names, so that slugs made of them imitate prefixes and suffixes.
WORDS = ("carrier", "from", "inbound", "trunk", "s", "q", "ab", "cd", "auth", "reg", "")


def _is_slug(text: str) -> bool:
    try:
        validation.slug("slug", text)
    except ValidationError:
        return False
    return True


def _node(branches: list[str], carriers: list[str], departments: list[str],
          queues: set[tuple[str, str]]) -> NodeConfig:
    policy = OutboundConfig(DialingRules("7", "8", "810"), ("local", "national"),
                            tuple(carriers), None)
    return NodeConfig(
        name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
        ami_secret="secret-123", sip_address="127.0.0.1", sip_port=5060,
        media_address="127.0.0.1",
        branches=tuple(
            BranchConfig(slug, "Branch", "City",
                         (PhoneConfig(str(200 + i), "Anna", slug,
                                      departments[i % len(departments)], "a" * 32),),
                         outbound=policy, hours=(OpeningInterval(1, "09:00", "18:00"),))
            for i, slug in enumerate(branches)),
        carriers=tuple(
            CarrierConfig(slug, "127.0.0.2", 5060, "udp", "register" if i % 2 else "ip",
                          ("127.0.0.2/32",), NumberFormat("e164"), username="user",
                          secret="trunk-secret")
            for i, slug in enumerate(carriers)),
        queues=tuple(QueueConfig(branch, name, "ringall", (), 30, 20)
                     for branch, name in sorted(queues)),
        numbering_plan=PLAN)


def _sections(text: str) -> list[str]:
    return re.findall(r"^\[([^\]\n]+)\]", text, re.MULTILINE)


def _pjsip_objects(text: str) -> list[tuple[str, str]]:
    """(type, name) of every pjsip.conf section: Asterisk keeps one object per pair."""
    return re.findall(r"^\[([^\]\n]+)\]\ntype=([a-z]+)$", text, re.MULTILINE)


def _duplicates(items: list[str] | list[tuple[str, str]]) -> list[object]:
    return [item for item, count in Counter(items).items() if count > 1]


def _every_name(node: NodeConfig) -> dict[str, list[str] | list[tuple[str, str]]]:
    """Every name the company has in Asterisk, by namespace."""
    files = render_node(node, TEMPLATES).files
    asterisk = names.ASTERISK
    record_keys = ([asterisk.record_key("ext", p.number) for p in node.phones] +
                   [asterisk.record_key(scope, b.slug) for b in node.branches
                    for scope in ("branch", "crisis")] +
                   [asterisk.record_key("number", "+78435550101")])
    return {"contexts": _sections(files["extensions.conf"]),
            "queues": _sections(files["queues.conf"]),
            "mailboxes": _sections(files["voicemail.conf"]) + [p.number for p in node.phones],
            "pjsip": _pjsip_objects(files["pjsip.conf"]),
            "record keys": record_keys,
            "crisis keys": [b.slug for b in node.branches]}


def _splits(words: list[str]) -> tuple[list[str], set[tuple[str, str]]]:
    """Every run of consecutive words as a slug, and every run cut in two as a queue
    (branch, name): ``carrier-tele2`` beside ``tele2``, ``ab-cd/ef`` beside ``ab/cd-ef``."""
    def run(i: int, j: int) -> str:
        return "-".join(words[i:j])
    ends = range(len(words) + 1)
    slugs = sorted({run(i, j) for i in ends for j in ends if i < j and _is_slug(run(i, j))})
    queues = {(run(i, j), run(j, k)) for i in ends for j in ends for k in ends
              if i < j < k and _is_slug(run(i, j)) and _is_slug(run(j, k))}
    return slugs, queues


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=2, max_size=4))
def test_every_rendered_name_is_unique(words: list[str]) -> None:
    slugs, queues = _splits(words)
    if not slugs:
        return
    branches, carriers, departments = slugs, slugs, slugs
    node = _node(branches, carriers, departments, queues)
    found = _every_name(node)
    for namespace, items in found.items():
        assert not _duplicates(items), f"{namespace}: {_duplicates(items)}"
    assert len(found["queues"]) == len(queues) + 1                  # and [general]
    pjsip = render_node(node, TEMPLATES).files["pjsip.conf"]
    assert len(found["pjsip"]) == len(_sections(pjsip))              # each has a type


@given(st.lists(st.sampled_from(WORDS), min_size=2, max_size=6))
def test_distinct_queues_have_distinct_names(words: list[str]) -> None:
    _slugs, queues = _splits(words)
    assert len({names.ASTERISK.queue_section(*queue) for queue in queues}) == len(queues)


def test_a_branch_named_like_a_carrier_context_gets_its_own_context() -> None:
    found = _every_name(_node(["carrier-tele2"], ["tele2"], ["sales"], set()))
    assert Counter(found["contexts"])["pbxctl-from-carrier-tele2"] == 1
    assert names.ASTERISK.carrier_context("tele2") == "pbxctl-inbound-tele2"
    assert "pbxctl-inbound-tele2" in found["contexts"]
    assert not _duplicates(found["contexts"])


def test_queues_split_differently_get_different_names() -> None:
    found = _every_name(_node(["ab-cd", "ab"], [], ["sales"], {("ab-cd", "ef"), ("ab", "cd-ef")}))
    assert sorted(found["queues"]) == ["general", "q-ab--cd-ef", "q-ab-cd-ef"]


def test_context_kinds_are_words_that_no_fixed_context_starts_with() -> None:
    values = {f.name: getattr(names.ASTERISK, f.name)
              for f in dataclasses.fields(names.AsteriskNames)}
    prefixes = [value for field, value in values.items() if field.endswith("_prefix")
                and value.startswith("pbxctl-") and field != "recording_prefix"]
    kinds = [re.fullmatch(r"pbxctl-([a-z]+)-", p) for p in prefixes]
    assert all(kinds), prefixes
    words = [k.group(1) for k in kinds if k]
    assert len(set(words)) == len(words)
    fixed = [value for field, value in values.items()
             if not field.endswith("_prefix") and value.startswith("pbxctl-")]
    assert not [name for name in fixed if name.split("-")[1] in words]
