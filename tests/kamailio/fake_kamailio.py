"""A Kamailio stand-in for the edge applier: it keeps in memory what it last loaded from
the edge's files and answers the JSON-RPC methods pbxctl uses as Kamailio 6.1 does."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import TracebackType
from typing import Any

from pbxctl.kamailio.plan import DISPATCHER_FILE, table_file
from pbxctl.kamailio.rpc import RpcError, RpcRefused
from pbxctl.kamailio.verify import (
    COMPARED_FIELDS,
    rendered_destinations,
    rendered_networks,
    rendered_registrations,
    rendered_rows,
)
from pbxctl.render.edge import (
    ADDRESSES_FILE,
    HTABLES,
    LOGIN_FAILURES_TABLE,
    REGISTRATIONS_FILE,
)


class FakeKamailio:
    """Loads the edge's files at start; ``refuse`` maps a method to the error messages of
    its next calls; ``reachable`` False makes every call fail to connect; ``version`` is
what core.version answers."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.calls: list[tuple[str, ...]] = []
        self.refuse: dict[str, list[str]] = {}
        self.reachable = True
        self.version = "kamailio 6.1.5 (x86_64/Linux)"
        self.login_failures: dict[str, int] = {}    # the authfail htable, in memory
        self.sets = rendered_destinations(self._read(DISPATCHER_FILE))
        self.tables = {t: rendered_rows(self._read(table_file(t))) for t in HTABLES}
        self.registrations = rendered_registrations(self._read(REGISTRATIONS_FILE))
        self.networks = rendered_networks(self._read(ADDRESSES_FILE))

    def _read(self, relative: str) -> str:
        path = self.dir / relative
        return path.read_text() if path.exists() else "header\n"

    async def __aenter__(self) -> FakeKamailio:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        return None

    async def call(self, method: str, *params: str) -> Any:
        self.calls.append((method, *params))
        if not self.reachable:
            raise RpcError("cannot reach edge e1's Kamailio RPC at 127.0.0.10:5090: "
                           "connection refused")
        if self.refuse.get(method):
            raise RpcRefused(f"Kamailio (edge e1) refused {method}: "
                             f"{self.refuse[method].pop(0)}", 500)
        if method == "core.version":
            return self.version
        if method == "dispatcher.reload":
            self.sets = rendered_destinations(self._read(DISPATCHER_FILE))
            return "Ok. Dispatcher successfully reloaded."
        if method == "htable.reload":
            self.tables[params[0]] = rendered_rows(self._read(table_file(params[0])))
            return "Ok. Htable reloaded."
        if method == "uac.reg_reload":
            self.registrations = rendered_registrations(self._read(REGISTRATIONS_FILE))
            return None
        if method == "permissions.addressReload":
            self.networks = rendered_networks(self._read(ADDRESSES_FILE))
            return None
        if method in ("permissions.addressDump", "permissions.subnetDump"):
            # single addresses in the first, networks in the second, as Kamailio shows them
            single = method == "permissions.addressDump"
            shown = []
            for group, network, tag in sorted(self.networks):
                net = ipaddress.ip_network(network)
                if (net.num_addresses == 1) == single:
                    item = {"ip": str(net.network_address), "port": 0, "tag": tag}
                    shown.append({"group": group, "item": item if single
                                  else {**item, "mask": net.prefixlen}})
            return shown
        if method == "uac.reg_dump":
            return [{"l_uuid": uuid, **dict(zip(COMPARED_FIELDS, values, strict=True)),
                     "expires": 3600} for uuid, values in sorted(self.registrations.items())]
        if method == "dispatcher.list":
            if not self.sets:
                raise RpcRefused("Kamailio (edge e1) refused dispatcher.list: "
                                 "No Destination Sets", 500)
            return {"NRSETS": len(self.sets), "RECORDS": [
                {"SET": {"ID": set_id, "TARGETS": [
                    {"DEST": {"URI": uri, "FLAGS": "AP", "PRIORITY": priority}}
                    for uri, priority in sorted(members)]}}
                for set_id, members in sorted(self.sets.items())]}
        if method == "htable.dump" and params[0] == LOGIN_FAILURES_TABLE:
            return [{"entry": i, "size": 1, "slot": [{"name": k, "value": v, "type": "int"}]}
                    for i, (k, v) in enumerate(sorted(self.login_failures.items()))]
        if method == "htable.delete" and params[0] == LOGIN_FAILURES_TABLE:
            del self.login_failures[params[1]]
            return None
        if method == "htable.dump":
            return [{"entry": i, "size": 1, "slot": [{"name": k, "value": v, "type": "str"}]}
                    for i, (k, v) in enumerate(sorted(self.tables[params[0]].items()))]
        raise RpcRefused(f"Kamailio (edge e1) refused {method}: Method Not Found", 500)
