"""Number formats, dialing rules, destination classes and the numbering plan file."""

from __future__ import annotations

import pytest

from pbxctl.errors import ValidationError
from pbxctl.numbering import (
    PlanEntry,
    after_hours_classes,
    call_limit,
    class_for_branch,
    dest_classes,
    duration_limits,
    duration_text,
    number_class,
    parse_dialing,
    parse_number_format,
    parse_plan_csv,
    shipped_plan,
)


@pytest.mark.parametrize(("fmt", "number", "rendered", "forms"), [
    ("e164", "+78435550101", "78435550101", ("78435550101", "+78435550101")),
    ("plus", "+78435550101", "+78435550101", ("+78435550101",)),
    ("national:7", "+78435550101", "8435550101", ("8435550101", "+78435550101")),
    ("national:7", "+46701234567", "46701234567", ("46701234567", "+46701234567")),
])
def test_carrier_number_formats(fmt: str, number: str, rendered: str,
                                forms: tuple[str, ...]) -> None:
    parsed = parse_number_format("--number-format", fmt)
    assert str(parsed) == fmt
    assert parsed.render(number) == rendered
    assert parsed.inbound_forms(number) == forms


@pytest.mark.parametrize("text", ["national", "national:", "national:07", "e.164", "plus:7"])
def test_bad_number_formats(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_number_format("--number-format", text)


def test_dialing_rules_know_the_country_prefixes() -> None:
    russia = parse_dialing("--dialing", "national:7")
    assert (russia.national_prefix, russia.international_prefix) == ("8", "810")
    sweden = parse_dialing("--dialing", "national:46")
    assert (sweden.national_prefix, sweden.international_prefix) == ("0", "00")
    custom = parse_dialing("--dialing", "national:7", international_prefix="00")
    assert custom.international_prefix == "00"
    with pytest.raises(ValidationError):
        parse_dialing("--dialing", "national:7", national_prefix="8", international_prefix="8")


def test_other_countries_numbers_are_international() -> None:
    mobile_ru = PlanEntry("79", "mobile")
    assert class_for_branch(mobile_ru, "7") == "mobile"
    assert class_for_branch(mobile_ru, "46") == "international"
    assert class_for_branch(PlanEntry("870", "satellite"), "7") == "satellite"


def test_destination_classes() -> None:
    assert dest_classes("allow", ("national", "mobile", "national")) == ("national", "mobile")
    with pytest.raises(ValidationError, match="moon"):
        dest_classes("allow", ("national", "moon"))


def test_plan_files_are_checked_line_by_line() -> None:
    assert len(shipped_plan()) > 30
    with pytest.raises(ValidationError, match="line 3.*line 4"):
        parse_plan_csv("prefix,class\n7,national\n7x,national\n8,moon\n")
    with pytest.raises(ValidationError, match="twice"):
        parse_plan_csv("prefix,class\n7,national\n7,mobile\n")


@pytest.mark.parametrize(("number", "country", "expected"), [
    ("+78091", "7", "premium"),             # too short for _+7809X., still under 7809
    ("+78095550000", "7", "premium"),
    ("+79001234567", "7", "mobile"),
    ("+79001234567", "46", "international"),
    ("+46701234567", "7", "international"),
    ("+112", "7", "international"),          # emergency codes are dialled, not E.164
])
def test_a_number_has_the_class_of_its_longest_prefix(number: str, country: str,
                                                      expected: str) -> None:
    assert number_class(number, shipped_plan(), country) == expected


def test_a_number_outside_the_plan_has_no_class() -> None:
    assert number_class("+46701234567", [PlanEntry("7", "national")], "7") is None


def test_duration_limits_are_minutes_or_seconds() -> None:
    assert duration_limits("max_minutes", [("international", 30), ("mobile", "120"),
                                           ("national", "90s"), ("local", "2m")]) == {
        "international": 1800, "mobile": 7200, "national": 90, "local": 120}
    assert [duration_text(s) for s in (1800, 90, 60, 61)] == ["30m", "90s", "1m", "61s"]
    for bad in (0, "0", "0s", "9s", "1441", "2h", "-5", "", True, "30 m"):
        with pytest.raises(ValidationError) as refused:
            duration_limits("max_minutes", [("mobile", bad)])
        assert refused.value.field == "max_minutes", bad


def test_zero_calls_and_emergency_limits_are_refused_with_a_reason() -> None:
    assert call_limit("max_calls", 6) == 6 and call_limit("max_calls", "none") is None
    with pytest.raises(ValidationError, match="use none to remove the limit"):
        call_limit("max_calls", 0)
    with pytest.raises(ValidationError, match="left out of allow"):
        duration_limits("max_minutes", [("premium", 0)])
    with pytest.raises(ValidationError, match="never cut"):
        duration_limits("max_minutes", [("emergency", 30)])


def test_after_hours_classes_all_none_or_a_list() -> None:
    assert after_hours_classes("after_hours_allow", ["all"]) is None
    assert after_hours_classes("after_hours_allow", ["none"]) == ()
    assert after_hours_classes("after_hours_allow", []) == ()
    assert after_hours_classes("after_hours_allow", ["local", "national", "local"]) == (
        "local", "national")
    for bad in (["emergency"], ["all", "local"], ["moon"]):
        with pytest.raises(ValidationError):
            after_hours_classes("after_hours_allow", bad)
