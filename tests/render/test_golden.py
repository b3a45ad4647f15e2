"""Golden-file tests: the rendered files of a known company, byte for byte.

After an intended template change, regenerate with ``PBXCTL_UPDATE_GOLDEN=1 make test``
and review the diff of tests/render/golden/.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from pbxctl.destinations import Destination
from pbxctl.numbering import DialingRules, NumberFormat, shipped_plan
from pbxctl.render import BranchConfig, NodeConfig, PhoneConfig, TemplateSet, render_node
from pbxctl.render.model import (
    CarrierConfig,
    NumberConfig,
    OpeningInterval,
    OutboundConfig,
    QueueConfig,
)
from pbxctl.render.node import OUTPUT_FILES

GOLDEN = Path(__file__).with_name("golden")


def company_node() -> NodeConfig:
    """Two branches, three phones (one with its own department and a Cyrillic name), an IP
    and a registering carrier, numbers with after-hours routes, hours and a holiday; Kazan
    with every brake on its outbound calls (channels, durations, a night rule)."""
    kazan_policy = OutboundConfig(DialingRules("7", "8", "810"),
                                  ("local", "national", "mobile"), ("tele2", "mts"),
                                  "+78435550101", max_calls=6,
                                  max_seconds=(("mobile", 7200), ("national", 90)),
                                  after_hours_classes=("local", "national"))
    return NodeConfig(
        name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
        ami_secret="golden-secret", sip_address="127.0.0.1", sip_port=5060,
        media_address="127.0.0.1",
        branches=(
            BranchConfig("kazan", "Kazan salon", "Kazan", (
                PhoneConfig("201", "Anna Petrova", "kazan", "kazan", "a" * 32),
                PhoneConfig("202", "Boris O'Neil", "kazan", "marketing", "b" * 32,
                            voicemail_pin="480913"),
            ), timezone="Europe/Moscow", outbound=kazan_policy,
                hours=(OpeningInterval(1, "09:00", "18:00"), OpeningInterval(6, "10:00", "14:00")),
                holidays=(date(2026, 12, 31),)),
            BranchConfig("omsk", "Omsk office", "Omsk", (
                PhoneConfig("301", "Иван Сидоров", "omsk", "omsk", "c" * 32),
            ), timezone="Asia/Omsk"),
        ),
        carriers=(
            CarrierConfig("mts", "sip.mts.example", 5060, "tcp", "register", (),
                          NumberFormat("plus"), username="kazan01", secret="golden-trunk",
                          max_channels=10, send_names=True),
            CarrierConfig("tele2", "127.0.0.2", 5060, "udp", "ip", ("127.0.0.2/32",),
                          NumberFormat("national", "7")),
        ),
        numbers=(
            NumberConfig("+78435550101", "tele2", "kazan", Destination("ext", "201"),
                         Destination("voicemail", "201")),
            NumberConfig("+78435550102", "mts", "kazan", Destination("branch", "kazan")),
            NumberConfig("+73812550101", "tele2", "omsk", Destination("external", "+46701234567")),
            NumberConfig("+78435550103", "tele2", "kazan", Destination("queue", "kazan/sales")),
        ),
        queues=(QueueConfig("kazan", "sales", "rrmemory", ("201", "202"), 45, 20,
                            Destination("voicemail", "201")),),
        numbering_plan=tuple(shipped_plan()), banned=("203.0.113.9", "2001:db8::66"))


@pytest.mark.parametrize("name", sorted(OUTPUT_FILES))
def test_rendered_file_matches_golden(name: str) -> None:
    text = render_node(company_node(), TemplateSet()).files[name]
    golden = GOLDEN / name
    if os.environ.get("PBXCTL_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_rendering_is_pure_and_deterministic() -> None:
    first = render_node(company_node(), TemplateSet())
    second = render_node(company_node(), TemplateSet())
    assert first == second
    assert first.endpoints == ("201", "202", "301", "mts", "tele2")
    assert first.contexts == ("pbxctl-extensions", "pbxctl-from-kazan", "pbxctl-from-omsk",
                              "pbxctl-inbound-mts", "pbxctl-inbound-tele2",
                              "pbxctl-numbers")


def test_operator_override_replaces_one_template(tmp_path: Path) -> None:
    (tmp_path / "rtp.conf.j2").write_text("[general]\nrtpstart=30000\nrtpend=30100\n")
    files = render_node(company_node(), TemplateSet(tmp_path)).files
    assert files["rtp.conf"] == "[general]\nrtpstart=30000\nrtpend=30100\n"
    assert files["pjsip.conf"] == render_node(company_node(), TemplateSet()).files["pjsip.conf"]
