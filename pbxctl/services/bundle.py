"""The services of one transaction, wired with the same session and audit trail: what a
CLI command or an API request works with."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Node
from pbxctl.services.audit import AuditTrail
from pbxctl.services.branches import BranchService
from pbxctl.services.carriers import CarrierService
from pbxctl.services.deploy import ami_connector
from pbxctl.services.extensions import ExtensionService
from pbxctl.services.nodes import NodeService
from pbxctl.services.numbers import NumberService
from pbxctl.services.numplan import NumberingPlanService
from pbxctl.services.policies import PolicyService
from pbxctl.services.rates import RateService
from pbxctl.settings import Settings


@dataclass
class Services:
    """The services of one transaction, wired with the same session and audit trail."""

    session: AsyncSession
    audit: AuditTrail
    nodes: NodeService
    branches: BranchService
    extensions: ExtensionService
    carriers: CarrierService
    numbers: NumberService
    policies: PolicyService
    numplan: NumberingPlanService
    rates: RateService
    settings: Settings

    async def ami(self, node: Node) -> AmiClient:
        """An AMI connection to ``node`` with the configured deadline."""
        return await ami_connector(node, self.settings.ami_timeout)()


def services_for(session: AsyncSession, audit: AuditTrail, settings: Settings) -> Services:
    """Every service on ``session``, recording changes in ``audit``."""
    return Services(session, audit, NodeService(session, audit), BranchService(session, audit),
                    ExtensionService(session, audit), CarrierService(session, audit),
                    NumberService(session, audit), PolicyService(session, audit),
                    NumberingPlanService(session, audit), RateService(session, audit),
                    settings)
