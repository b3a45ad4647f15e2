"""The company file's plan: a pure diff of two documents, object by natural key and field
by field; and the canonical form that makes equal companies compare equal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pbxctl.company.document import dump, load, normalise
from pbxctl.company.plan import as_json, as_text, plan
from pbxctl.errors import ValidationError

FILE = """
version: 1
branches:
- slug: kazan
  name: Kazan salon
  city: Kazan
  timezone: Europe/Moscow
  ext_range: 200-299
  node: local
  hours: {fri: [09:00-18:00], mon: [14:00-18:00, 09:00-13:00]}
  holidays: [{day: 2026-12-31}]
  outbound: {dialing: national:7, allow: [local], carriers: [tele2],
             max_minutes: {mobile: 90s, national: 30}}
extensions:
- {number: "1000", branch: kazan, name: Later}
- {number: "201", branch: kazan, name: Anna}
"""


def document() -> dict[str, Any]:
    return load(FILE)


def test_a_hand_written_file_is_brought_to_the_canonical_form() -> None:
    doc = document()
    kazan = doc["branches"][0]
    assert kazan["hours"] == {"mon": ["09:00-13:00", "14:00-18:00"], "fri": ["09:00-18:00"]}
    assert kazan["holidays"] == [{"day": "2026-12-31", "name": None}]
    assert kazan["outbound"]["national_prefix"] == "8"
    assert kazan["outbound"]["max_minutes"] == {"national": "30m", "mobile": "90s"}
    assert [e["number"] for e in doc["extensions"]] == ["201", "1000"]
    assert doc["extensions"][0]["department"] is None
    assert load(dump(doc)) == doc and normalise(doc) == doc


def test_the_plan_names_exactly_what_differs() -> None:
    old = document()
    new = copy.deepcopy(old)
    new["branches"][0]["hours"]["mon"] = ["10:00-19:00"]
    new["branches"][0]["name"] = "Kazan store"
    new["extensions"] = new["extensions"][:1]
    changes = plan(old, new)
    assert [(c.kind, c.key, c.action) for c in changes] == [
        ("branches", "kazan", "update"), ("extensions", "1000", "remove")]
    fields = {f.field: (f.old, f.new, f.fixed) for f in changes[0].fields}
    assert fields == {"name": ("Kazan salon", "Kazan store", True),
                      "hours.mon": (["09:00-13:00", "14:00-18:00"], ["10:00-19:00"], False)}
    assert as_json(changes)["summary"] == {"create": 0, "update": 1, "remove": 1}
    assert as_json(changes)["refused"] == [
        "branches[kazan].name: cannot be changed in place (remove the object and add it "
        "again)"]
    assert "(cannot be changed in place)" in as_text(changes)
    assert "! sync refuses branches[kazan].name" in as_text(changes)
    assert plan(old, copy.deepcopy(old)) == []
    assert as_text([]) == "No changes: the database matches the file.\n"


@pytest.mark.parametrize(("text", "where"), [
    ("version: 2\n", "version"),
    ("version: 1\nnodes: [{name: xy}]\n", "file: 4 problems: nodes[0]: 'ami_host' is"),
    ("version: 1\nextensions: [{number: '201', branch: kazan, name: \"A\\u2028B\"}]\n",
     "extensions[0].name"),
    ("version: 1\nnumbers: [{number: '+7843', carrier: tele2, branch: kazan, monthly_fee: '1',"
     " route: hangup}]\n", "numbers[0].number"),
    ("[unclosed\n", "file"),
])
def test_refusals_name_the_place(text: str, where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        load(text)
    assert str(refused.value).startswith(where)
