"""The provisioning files: each model's names, every template rendering well-formed for
awkward names and offsets, an operator's template shadowing the packaged one, and MACs
checked by allow-list."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbxctl import validation as v
from pbxctl.errors import ValidationError
from pbxctl.render.provisioning import (
    MODEL_FILES,
    SOFTPHONE_FILES,
    Colleague,
    PhoneSetup,
    mac_of,
    provisioning_templates,
    render_setup,
    template_of,
    utc_offset,
)

MAC = "805ec0123456"


def _phone(model: str, offset: int = 19800) -> PhoneSetup:
    return PhoneSetup(model=model, mac=MAC, number="201", display_name="Boris O'Neil",
                      auth_user=f"201-{MAC}", password="pw-Secret_1", server="10.0.0.5",
                      port=5060, realm="pbxctl", timezone="Asia/Kolkata", utc_offset=offset,
                      colleagues=(Colleague("202", "Anna (sales)"),))


@pytest.mark.parametrize("model", list(MODEL_FILES))
def test_every_template_renders_what_its_phone_parses(model: str) -> None:
    for pattern, template in MODEL_FILES[model]:
        name = pattern.format(mac=MAC)
        assert mac_of(name) == MAC and template_of(model, MAC, name.upper()) == template
        text = render_setup(provisioning_templates(), template, _phone(model))
        if name.endswith(".xml") or model == "polycom-vvx":
            ET.fromstring(text)                        # well-formed, the name escaped
        assert "pbxctl" in text.splitlines()[0] + text.splitlines()[1]
    assert template_of(model, MAC, "cfg.xml") is None and mac_of("../etc/passwd") is None


def test_softphone_files_render() -> None:
    for template in SOFTPHONE_FILES.values():
        text = render_setup(provisioning_templates(), template, _phone("softphone"))
        assert "201-805ec0123456" in text and "pw-Secret_1" in text


def test_offsets_as_phones_write_them() -> None:
    assert _phone("generic", 19800).utc_offset_hours == "+5:30"
    assert _phone("generic", -12600).utc_offset_hours == "-3:30"
    assert _phone("generic", 0).utc_offset_hours == "+0"
    assert utc_offset("Europe/Moscow", datetime(2026, 7, 1, tzinfo=UTC)) == 10800
    assert utc_offset("Europe/Berlin", datetime(2026, 7, 1, tzinfo=UTC)) == 7200


def test_an_operators_template_shadows_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "snom-d7xx.xml.j2").write_text("<settings>{{ phone.number }}</settings>\n")
    text = render_setup(provisioning_templates(tmp_path), "snom-d7xx.xml.j2", _phone("snom-d7xx"))
    assert text == "<settings>201</settings>\n"


@pytest.mark.parametrize(("typed", "stored"), [
    ("80:5E:C0:12:34:56", MAC), ("80-5e-c0-12-34-56", MAC), ("805EC0123456", MAC)])
def test_macs_are_normalised(typed: str, stored: str) -> None:
    assert v.mac("mac", typed) == stored


@pytest.mark.parametrize("typed", ["80:5E:C0:12:34", "80:5E-C0:12:34:56", "80:5E:C0:12:34:5G",
                                   "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "805ec0123456\n",
                                   "80:5E:C0:12:34:56:78", ""])
def test_bad_macs_are_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(ValidationError) as refused:
        v.mac("mac", typed)
    assert refused.value.field == "mac"
