"""Failed phone logins the edges count, read from their authfail htables: sorted, the
locked ones marked, an edge that does not answer named while the others are read; an
unlock forgets a source's (an IPv6 source: its /64's) at every edge."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from pbxctl.kamailio.apply import RpcOpener
from pbxctl.kamailio.rpc import RpcError
from pbxctl.services.edge_lockouts import (
    EdgeLockout,
    failed_logins,
    lift_lockouts,
    read_lockouts,
)
from tests.kamailio.fake_kamailio import FakeKamailio

# htable.dump authfail as Kamailio 5.6 and 6.1 answer it (an int value per source)
DUMP = [{"entry": 12, "size": 1, "slot": [{"name": "127.0.0.66", "value": 3, "type": "int"}]},
        {"entry": 40, "size": 2, "slot": [
            {"name": "127.0.0.77", "value": 12, "type": "int"},
            {"name": "2001:db8::7", "value": 10, "type": "int"}]}]


def opener(fake: FakeKamailio) -> RpcOpener:
    return lambda: fake  # type: ignore[return-value]


def test_sources_are_listed_most_failures_first_from_the_tenth_locked() -> None:
    found = failed_logins("e1", DUMP)
    assert found == [EdgeLockout("e1", "127.0.0.77", 12), EdgeLockout("e1", "2001:db8::7", 10),
                     EdgeLockout("e1", "127.0.0.66", 3)]
    assert [s.locked for s in found] == [True, True, False]
    assert failed_logins("e1", []) == []


@pytest.mark.parametrize("dump", [{"slot": []}, [{"slot": [{"name": "x", "value": "many"}]}]])
def test_an_answer_of_another_shape_is_an_rpc_error(dump: Any) -> None:
    with pytest.raises(RpcError, match=r"^Kamailio \(edge e1\) answered htable.dump authfail "
                                       "in an unknown shape$"):
        failed_logins("e1", dump)


async def test_an_edge_that_does_not_answer_is_named_and_the_others_read(
        tmp_path: Path) -> None:
    (tmp_path / "dispatcher.list").write_text("# setid destination flags priority attrs\n")
    up, down = FakeKamailio(tmp_path), FakeKamailio(tmp_path)
    up.login_failures = {"127.0.0.66": 11}
    down.reachable = False
    found = await read_lockouts([("e0", opener(up)), ("e1", opener(down))])
    assert found.sources == (EdgeLockout("e0", "127.0.0.66", 11),)
    assert found.unread == ("edge e1: cannot reach edge e1's Kamailio RPC at "
                            "127.0.0.10:5090: connection refused",)
    assert up.calls == [("htable.dump", "authfail")]


async def test_an_unlock_forgets_the_source_and_its_ipv6_64_at_every_edge(
        tmp_path: Path) -> None:
    (tmp_path / "dispatcher.list").write_text("# setid destination flags priority attrs\n")
    e0, e1, down = FakeKamailio(tmp_path), FakeKamailio(tmp_path), FakeKamailio(tmp_path)
    e0.login_failures = {"127.0.0.66": 11, "127.0.0.67": 4}
    e1.login_failures = {"2001:db8:1:2::7": 10, "2001:db8:1:2::8": 2, "2001:db8:1:3::7": 5}
    down.reachable = False
    edges = [("e0", opener(e0)), ("e1", opener(e1)), ("e9", opener(down))]
    lifted = await lift_lockouts(edges, ipaddress.ip_address("127.0.0.66"))
    assert lifted.sources == (EdgeLockout("e0", "127.0.0.66", 11),)
    assert lifted.unread == ("edge e9: cannot reach edge e1's Kamailio RPC at "
                             "127.0.0.10:5090: connection refused",)
    assert e0.login_failures == {"127.0.0.67": 4}
    assert e1.login_failures == {"2001:db8:1:2::7": 10, "2001:db8:1:2::8": 2,
                                 "2001:db8:1:3::7": 5}
    lifted = await lift_lockouts(edges, ipaddress.ip_address("2001:db8:1:2::99"))
    assert lifted.sources == (EdgeLockout("e1", "2001:db8:1:2::7", 10),
                              EdgeLockout("e1", "2001:db8:1:2::8", 2))
    assert e1.login_failures == {"2001:db8:1:3::7": 5}
