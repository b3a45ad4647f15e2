"""What the API's changes really do, checked through the API, the database and the CLI
(the same services answer both): created objects can be read back, secrets are shown
once and never again, a moved number keeps its route, conflicts change nothing, and every
change is in the audit trail under the token's name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from pbxctl.db.models import Extension
from pbxctl.db.session import transaction
from pbxctl.services.extensions import sip_ha1
from tests.api.conftest import AMI_SECRET, MTS_SECRET, Api

MONTH = datetime.now(UTC).strftime("%Y-%m")


async def _ha1(api: Api, number: str) -> str:
    async with transaction(api.engine) as session:
        return str(await session.scalar(select(Extension.sip_ha1)
                                         .where(Extension.number == number)))


async def test_a_branch_added_can_be_read_back_and_removed(api: Api) -> None:
    status, created = await api.call("POST", "/api/v1/branches", body={
        "slug": "tver", "name": "Tver office", "city": "Tver", "timezone": "Europe/Moscow",
        "ext_range": "500-599", "node": "east", "standby_node": "spare", "language": "ru"})
    assert status == 201
    assert created == {"slug": "tver", "name": "Tver office", "city": "Tver",
                       "timezone": "Europe/Moscow", "language": "ru", "ext_range": "500-599",
                       "node": "east", "standby_node": "spare", "outbound": None, "hours": [],
                       "holidays": [], "extensions": []}
    assert await api.call("GET", "/api/v1/branches/tver") == (200, created)
    _, listed = await api.call("GET", "/api/v1/branches")
    assert [b["slug"] for b in listed["items"]] == ["kazan", "omsk", "perm", "tver"]
    status, changed = await api.call("PATCH", "/api/v1/branches/tver",
                                     body={"language": "de", "standby_node": None})
    assert status == 200 and changed == {**created, "language": "de", "standby_node": None}
    status, changed = await api.call("PATCH", "/api/v1/branches/tver",
                                     body={"standby_node": "spare"})
    assert status == 200 and (changed["language"], changed["standby_node"]) == ("de", "spare")
    before, audited = await api.db_state(), len(await api.audit())
    for body, field in (({"language": "klingon"}, "language"), ({}, "body"),
                        ({"standby_node": "east"}, "standby_node")):
        status, refused = await api.call("PATCH", "/api/v1/branches/tver", body=body)
        assert status == 400 and refused["error"]["message"].startswith(field), refused
    assert await api.db_state() == before and len(await api.audit()) == audited
    assert (await api.call("DELETE", "/api/v1/branches/tver"))[0] == 200
    status, missing = await api.call("GET", "/api/v1/branches/tver")
    assert status == 404 and missing["error"]["id"] == "not_found"


async def test_branch_answers_are_the_clis(api: Api) -> None:
    _, kazan = await api.call("GET", "/api/v1/branches/kazan")
    assert kazan == json.loads(await api.cli("branch", "show", "kazan", "--json"))
    assert kazan["outbound"]["carriers"] == ["tele2", "mts"]
    _, branches = await api.call("GET", "/api/v1/branches")
    assert branches["items"] == json.loads(await api.cli("branch", "list", "--json"))


async def test_a_conflict_is_409_and_changes_nothing(api: Api) -> None:
    before = await api.db_state()
    for method, path, body in (
            ("POST", "/api/v1/branches", {"slug": "kazan", "name": "Again", "city": "Kazan",
                                          "timezone": "Europe/Moscow", "ext_range": "600-699"}),
            ("POST", "/api/v1/branches", {"slug": "ufa", "name": "Ufa", "city": "Ufa",
                                          "timezone": "Asia/Yekaterinburg",
                                          "ext_range": "250-350"}),     # overlaps
            ("DELETE", "/api/v1/nodes/local", None),                    # serves branches
            ("DELETE", "/api/v1/carriers/mts", None),                   # serves a number
            ("DELETE", "/api/v1/extensions/201", None),                 # answers a queue
            ("POST", "/api/v1/extensions", {"branch": "omsk", "number": "301",
                                            "name": "Twin"})):
        status, data = await api.call(method, path, body=body)
        assert status == 409 and data["error"]["id"] == "conflict", (path, data)
    assert await api.db_state() == before


async def test_the_sip_password_is_shown_once_and_rotates(api: Api) -> None:
    status, created = await api.call("POST", "/api/v1/extensions", body={
        "branch": "omsk", "number": "302", "name": "Pavel Orlov", "department": "sales"})
    assert status == 201
    credentials = created["credentials"]
    assert credentials["username"] == "302" and len(credentials["password"]) >= 16
    assert await _ha1(api, "302") == sip_ha1("302", credentials["password"])
    everything = [await api.call("GET", path) for path in (
        "/api/v1/extensions", "/api/v1/branches/omsk", "/api/v1/audit")]
    assert all(status == 200 for status, _ in everything)
    assert credentials["password"] not in json.dumps(everything)
    assert "credentials" not in json.dumps(everything)
    assert {"number": "302", "branch": "omsk", "name": "Pavel Orlov",
            "department": "sales", "voicemail_pin": False, "email": None} \
        in everything[0][1]["items"]

    _, rotated = await api.call("POST", "/api/v1/extensions/302/password")
    new = rotated["credentials"]["password"]
    assert new != credentials["password"]
    assert await _ha1(api, "302") == sip_ha1("302", new)
    (entry,) = [e for e in await api.audit() if e.action == "ext.passwd"]
    assert (entry.actor, entry.object_key) == ("t-admin", "302")
    assert new not in json.dumps([entry.before, entry.after, entry.detail])


async def test_voicemail_is_mailed_where_told_and_a_bad_address_changes_nothing(
        api: Api) -> None:
    before = await api.db_state()
    for body in ({"email": "anna@example.com\r\nBcc: all@example.com"},
                 {"email": "Anna <anna@example.com>"}, {"email": "anna"}):
        status, data = await api.call("PUT", "/api/v1/extensions/201/email", body=body)
        assert status == 400 and data["error"]["message"].startswith("email: "), data
    status, data = await api.call("POST", "/api/v1/extensions", body={
        "branch": "omsk", "number": "302", "name": "Pavel", "email": "pavel"})
    assert status == 400 and data["error"]["message"].startswith("email: "), data
    assert await api.db_state() == before

    status, data = await api.call("PUT", "/api/v1/extensions/201/email",
                                  body={"email": "anna@example.com"})
    assert status == 200 and data["email"] == "anna@example.com"
    status, data = await api.call("DELETE", "/api/v1/extensions/201/email")
    assert status == 200 and data["email"] is None
    changes = [(e.actor, e.before["email"], e.after["email"])   # type: ignore[index]
               for e in await api.audit() if e.action == "ext.email"]
    assert changes == [("t-admin", None, "anna@example.com"),
                       ("t-admin", "anna@example.com", None)]


async def test_listings_are_the_clis(api: Api) -> None:
    for path, args in (("/api/v1/extensions?branch=kazan", ("ext", "list", "--branch",
                                                            "kazan")),
                       ("/api/v1/numbers", ("number", "list")),
                       ("/api/v1/carriers", ("carrier", "list")),
                       ("/api/v1/queues", ("queue", "list")),
                       ("/api/v1/nodes", ("node", "list"))):
        _, data = await api.call("GET", path)
        assert data["items"] == json.loads(await api.cli(*args, "--json")), path
    _, audit = await api.call("GET", "/api/v1/audit")
    assert audit["items"] == json.loads(await api.cli("audit", "--json"))


async def test_a_moved_number_keeps_its_route(api: Api) -> None:
    status, moved = await api.call("POST", "/api/v1/numbers/+78435550101/move",
                                   body={"carrier": "mts"})
    assert status == 200
    assert (moved["carrier"], moved["branch"], moved["route"]) == ("mts", "kazan", "ext:201")
    _, moved = await api.call("POST", "/api/v1/numbers/+78435550101/move",
                              body={"branch": "omsk"})
    assert (moved["carrier"], moved["branch"], moved["route"]) == ("mts", "omsk", "ext:201")
    _, number = await api.call("GET", "/api/v1/numbers/+78435550101")
    assert [(p["carrier"], p["branch"], p["route"]) for p in number["history"]] == [
        ("tele2", "kazan", "ext:201"), ("mts", "kazan", "ext:201"), ("mts", "omsk", "ext:201")]
    status, refused = await api.call("POST", "/api/v1/numbers/+78435550101/move", body={})
    assert status == 400 and "say where" in refused["error"]["message"]
    moves = [e for e in await api.audit() if e.action == "number.move"]
    assert [(e.actor, e.interface) for e in moves] == [("t-admin", "api")] * 2
    assert moves[0].before["carrier"] == "tele2" and moves[0].after["carrier"] == "mts"


async def test_routes_and_outbound_policy(api: Api) -> None:
    status, routed = await api.call("PUT", "/api/v1/numbers/+78435550101/route", body={
        "route": "queue:kazan/sales", "after_hours": "voicemail:201"})
    assert status == 200
    assert (routed["route"], routed["after_hours"]) == ("queue:kazan/sales", "voicemail:201")
    _, routed = await api.call("PUT", "/api/v1/numbers/+78435550101/route",
                               body={"route": "ext:202", "after_hours": None})
    assert (routed["route"], routed["after_hours"]) == ("ext:202", None)
    status, refused = await api.call("PUT", "/api/v1/numbers/+78435550101/route",
                                     body={"route": "ext:999"})
    assert status == 404, refused

    status, policy = await api.call("PUT", "/api/v1/branches/omsk/outbound", body={
        "carriers": ["mts", "tele2"], "caller_id": "+73812550101", "allow": ["national"],
        "dialing": "national:7"})
    assert status == 200 and policy["carriers"] == ["mts", "tele2"]
    _, routes = await api.call("GET", "/api/v1/routes")
    assert {"branch": "omsk", "policy": policy} in routes["outbound"]
    assert {"number": "+78435550101", "branch": "kazan", "carrier": "tele2",
            "route": "ext:202", "after_hours": None} in routes["inbound"]
    before = await api.db_state()
    status, refused = await api.call("PUT", "/api/v1/branches/omsk/outbound",
                                     body={"caller_id": "+78435550101"})    # kazan's number
    assert status == 400, refused
    assert await api.db_state() == before


async def test_carriers_and_nodes_never_show_secrets(api: Api) -> None:
    status, mts = await api.call("GET", "/api/v1/carriers/mts")
    assert status == 200 and mts["username"] == "kazan01"
    assert "secret" not in mts and MTS_SECRET not in json.dumps(mts)
    _, changed = await api.call("PATCH", "/api/v1/carriers/mts",
                                body={"secret": "new-secret-999", "max_channels": 4})
    assert changed["max_channels"] == 4 and "new-secret-999" not in json.dumps(changed)
    assert (await api.call("GET", "/api/v1/carriers/mts"))[1] == changed
    status, node = await api.call("POST", "/api/v1/nodes", body={
        "name": "west", "ami_host": "127.0.0.6", "ami_user": "pbxctl",
        "ami_secret": "west-secret-1", "config_dir": "/srv/west/asterisk"})
    assert status == 201
    assert (node["ami_port"], node["sip_address"], node["sip_port"]) == (5038, "127.0.0.6",
                                                                         5060)
    listed = json.dumps(await api.call("GET", "/api/v1/nodes"))
    assert "west-secret-1" not in listed and AMI_SECRET not in listed
    _, audit = await api.call("GET", "/api/v1/audit")
    assert "west-secret-1" not in json.dumps(audit) and "new-secret-999" not in json.dumps(
        audit)


async def test_queues_add_change_and_remove(api: Api) -> None:
    status, queue = await api.call("POST", "/api/v1/queues", body={
        "branch": "kazan", "name": "support", "members": ["202", "201"], "max_wait": 45,
        "overflow": "voicemail:201"})
    assert status == 201
    assert queue == {"queue": "kazan/support", "strategy": "ringall",
                     "members": ["202", "201"], "max_wait": 45, "service_level": 20,
                     "target": 90, "overflow": "voicemail:201"}
    _, changed = await api.call("PATCH", "/api/v1/queues/kazan/support",
                                body={"strategy": "leastrecent", "members": ["201"]})
    assert (changed["strategy"], changed["members"], changed["max_wait"]) == (
        "leastrecent", ["201"], 45)
    assert (await api.call("GET", "/api/v1/queues/kazan/support"))[1] == changed
    await api.call("PUT", "/api/v1/numbers/+78435550101/route",
                   body={"route": "queue:kazan/support"})
    status, refused = await api.call("DELETE", "/api/v1/queues/kazan/support")
    assert status == 409 and "+78435550101" in refused["error"]["message"]
    await api.call("PUT", "/api/v1/numbers/+78435550101/route", body={"route": "ext:201"})
    assert (await api.call("DELETE", "/api/v1/queues/kazan/support"))[0] == 200
    assert (await api.call("GET", "/api/v1/queues/kazan/support"))[0] == 404
    actions = [e.action for e in await api.audit() if e.actor == "t-admin"]
    assert actions == ["queue.add", "queue.update", "number.route", "number.route",
                       "queue.remove"]


async def test_reports_are_the_clis_byte_for_byte(api: Api) -> None:
    for query, args in (
            (f"month={MONTH}", ("--format", "json")),
            (f"month={MONTH}&format=csv", ("--format", "csv")),
            (f"month={MONTH}&format=excel", ("--format", "csv", "--excel")),
            (f"month={MONTH}&format=json&detail=true", ("--format", "json", "--detail")),
            (f"month={MONTH}&department=omsk", ("--format", "json", "--department", "omsk"))):
        response = await api.client.get(f"/api/v1/reports/costs?{query}",
                                        headers=api.auth("accountant"))
        assert response.status == 200
        cli = await api.cli("report", "costs", "--month", MONTH, *args)
        assert await response.read() == cli, query
    _, costs = await api.call("GET", "/api/v1/reports/costs", "accountant", month=MONTH)
    assert {r["department"]: r["number_rental"] != "0.00" for r in costs["rows"]} == {
        "kazan": True, "omsk": True}
    response = await api.client.get(f"/api/v1/reports/costs?month={MONTH}&format=xlsx",
                                    headers=api.auth("accountant"))
    assert response.status == 200 and (await response.read())[:2] == b"PK"
    assert response.headers["Content-Disposition"].endswith(f'{MONTH}.xlsx"')
    for query, args in ((f"month={MONTH}", ("--format", "json")),
                        (f"month={MONTH}&format=csv&by=day", ("--format", "csv", "--by",
                                                               "day"))):
        response = await api.client.get(f"/api/v1/reports/sla?{query}",
                                        headers=api.auth("accountant"))
        assert response.status == 200
        cli = await api.cli("report", "sla", "--month", MONTH, *args)
        assert await response.read() == cli, query
    _, sla = await api.call("GET", "/api/v1/reports/sla", "viewer", month=MONTH)
    assert [r["queue"] for r in sla["rows"]] == ["kazan/sales", "omsk/support"]
