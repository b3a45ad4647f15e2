"""Which Kamailio versions an edge may run, read from core.version answers."""

from __future__ import annotations

import pytest

from pbxctl.errors import ApplyError
from pbxctl.kamailio.version import check_supported


@pytest.mark.parametrize(("answer", "version"), [
    ("kamailio 5.6.3 (x86_64/linux) ", "5.6.3"),       # Debian 12
    ("kamailio 6.0.4 (x86_64/linux) ", "6.0.4"),
    ("kamailio 6.1.5 (x86_64/Linux) ", "6.1.5"),       # Debian sid
    ("kamailio 10.0.0 (aarch64/Linux) ", "10.0.0"),
])
def test_5_6_and_later_are_supported(answer: str, version: str) -> None:
    assert check_supported("edge1", answer) == version


@pytest.mark.parametrize("answer", ["kamailio 5.5.4 (x86_64/linux) ",
                                    "kamailio 4.4.7 (x86_64/linux) "])
def test_older_ones_are_refused_by_version(answer: str) -> None:
    shown = answer.split()[1]
    with pytest.raises(ApplyError, match=f"^edge edge1 runs Kamailio {shown}; .* needs "
                       r"Kamailio 5\.6 or later; nothing was written$"):
        check_supported("edge1", answer)


@pytest.mark.parametrize("answer", ["opensips 3.4.1", None, {"version": "6.0"}])
def test_an_answer_naming_no_kamailio_version_is_refused(answer: object) -> None:
    with pytest.raises(ApplyError, match="not a Kamailio version; nothing was written$"):
        check_supported("edge1", answer)
