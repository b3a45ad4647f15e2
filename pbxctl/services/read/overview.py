"""The live state of the whole company, as ``pbxctl status`` and ``GET /status`` show it."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from pbxctl.billing.formats import json_value
from pbxctl.services.bundle import Services
from pbxctl.services.deploy import ami_connector
from pbxctl.services.live_switches import CrisisState, crisis_states
from pbxctl.services.read.backups import LastBackup, last_backup
from pbxctl.services.read.catch_up import catch_up_state
from pbxctl.services.read.service_levels import service_levels_today
from pbxctl.services.read.spend import SpendRow, spend_report
from pbxctl.services.read.status import NodeStatus, node_status

STATUS_AMI_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class CompanyStatus:
    """The nodes, the branches under the crisis switch, the capped departments' spend
    this month with the brake's state, and the last backup."""

    nodes: list[NodeStatus]
    crisis: list[CrisisState]
    spend: list[SpendRow]
    backup: LastBackup | None = None


async def company_status(s: Services, node: str | None = None) -> CompanyStatus:
    """Every node (or one) asked over AMI at once, queues with today's service level, how
    far its Master.csv is caught up, the branches under the crisis switch and the spend
    brake's state of each capped department."""
    nodes = [await s.nodes.get(node)] if node else list(await s.nodes.list())
    statuses = await asyncio.gather(*(
        node_status(n.name, ami_connector(n, min(s.settings.ami_timeout, STATUS_AMI_TIMEOUT)))
        for n in nodes))
    now = datetime.now(UTC)
    today = await service_levels_today(s.session, now)
    for node_state, stored in zip(statuses, nodes, strict=True):
        node_state.queues = [dataclasses.replace(q, today=today.get(q.name, ""))
                             for q in node_state.queues]
        if stored.cdr_csv:
            node_state.catch_up = await catch_up_state(
                s.session, stored.name, stored.cdr_csv, now, s.settings.cdr_catch_up_every)
    capped = [row for row in await spend_report(s.session, now=now) if row.cap is not None]
    return CompanyStatus(list(statuses), await crisis_states(s.session), capped,
                         await last_backup(s.session))


def status_document(company: CompanyStatus) -> dict[str, object]:
    """The status as JSON values (``status --json`` and ``GET /status``)."""
    return {"nodes": [dataclasses.asdict(n) for n in company.nodes],
            "crisis": [dataclasses.asdict(c) for c in company.crisis],
            "spend": [{name: json_value(value) for name, value in dataclasses.asdict(row).items()}
                      for row in company.spend],
            "backup": ({name: json_value(value) for name, value
                        in dataclasses.asdict(company.backup).items()}
                       if company.backup else None)}
