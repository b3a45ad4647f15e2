"""An edge plan's diff: the phones' HA1s never shown, every other table's rows shown."""

from __future__ import annotations

from pbxctl.kamailio.plan import make_edge_plan
from pbxctl.render.edge import db_text_table


def test_the_phones_ha1s_are_masked_in_the_diff_and_other_rows_are_not() -> None:
    plan = make_edge_plan("edge1", {
        "db/phone_ha1": db_text_table({"201": "a" * 32, "202": "b" * 32}),
        "db/logins": db_text_table({"201": "201", "202": "202"}),
    }, {"db/phone_ha1": db_text_table({"201": "c" * 32}), "db/logins": None})
    diff = plan.diff
    assert "a" * 32 not in diff and "b" * 32 not in diff and "c" * 32 not in diff
    assert "-201:0:0:********:0\n" in diff and "+201:0:0:********:0\n" in diff
    assert "+202:0:0:********:0\n" in diff          # a changed HA1 still shows as a change
    assert "+202:0:0:202:0\n" in diff               # logins are no secret
