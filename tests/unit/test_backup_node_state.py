"""A node's AstDB state as a backup keeps it: allow-listed families, plain keys and
values, sorted bytes, and app_queue's stored members read back into QueueAdd."""

from __future__ import annotations

import pytest

from pbxctl.backup.node_state import (
    BadNodeState,
    QueueMember,
    dump,
    load,
    queue_add_fields,
    queue_members,
    split_key,
)


def test_entries_round_trip_sorted() -> None:
    entries = [("pbxctl-record", "crisis-kazan", "1"), ("pbxctl-crisis", "kazan", "ext/201")]
    assert load(dump(entries)) == sorted(entries)
    assert dump(entries) == dump(list(reversed(entries)))


@pytest.mark.parametrize("entry", [
    ("registrar", "contact", "x"),                     # a family a backup does not keep
    ("pbxctl-crisis", "../kazan", "ext/201"),
    ("pbxctl-crisis", "kazan", "ext/201\nAction: Originate"),
])
def test_foreign_families_and_odd_characters_are_refused(
        entry: tuple[str, str, str]) -> None:
    with pytest.raises(BadNodeState):
        dump([entry])
    with pytest.raises(BadNodeState):
        load(f'[["{entry[0]}", "{entry[1]}", {entry[2]!r}]]'.replace("'", '"').encode())


def test_not_a_list_of_triples_is_refused() -> None:
    for data in (b"{}", b'[["a", "b"]]', b"not json"):
        with pytest.raises(BadNodeState):
            load(data)


def test_keys_come_out_of_their_family() -> None:
    assert split_key("/Queue/PersistentMembers/q-kazan-sales",
                     "Queue/PersistentMembers") == "q-kazan-sales"
    with pytest.raises(BadNodeState):
        split_key("/pbxctl-crisis/kazan", "pbxctl-record")


def test_stored_queue_members_log_in_again_as_they_were() -> None:
    # As Asterisk 22 stores them (seen in the sandbox): two members, one paused.
    value = ("Local/202@pbxctl-queue-agent/n;0;1;202;PJSIP/202;;0|"
             "Local/203@pbxctl-queue-agent/n;2;0;203;PJSIP/203;;0")
    first, second = queue_members("q-kazan-sales", value)
    assert first == QueueMember("q-kazan-sales", "Local/202@pbxctl-queue-agent/n", 0, True,
                                "202", "PJSIP/202")
    assert queue_add_fields(second) == {
        "Queue": "q-kazan-sales", "Interface": "Local/203@pbxctl-queue-agent/n",
        "Penalty": "2", "Paused": "false", "MemberName": "203",
        "StateInterface": "PJSIP/203"}
    (old,) = queue_members("q", "SIP/100;0")                 # an older, shorter store
    assert queue_add_fields(old)["MemberName"] == "SIP/100"
    with pytest.raises(BadNodeState):
        queue_members("q", "SIP/100;x")
