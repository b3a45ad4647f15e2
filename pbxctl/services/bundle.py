"""The services of one transaction, wired with the same session and audit trail: what a
CLI command or an API request works with. Each service is built (and its module imported)
the first time it is used, so a command pays only for the services it calls."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.services.audit import AuditTrail
from pbxctl.settings import Settings

if TYPE_CHECKING:
    from pbxctl.asterisk.ami import AmiClient
    from pbxctl.db.models import Node
    from pbxctl.services.branches import BranchService
    from pbxctl.services.carriers import CarrierService
    from pbxctl.services.extensions import ExtensionService
    from pbxctl.services.nodes import NodeService
    from pbxctl.services.numbers import NumberService
    from pbxctl.services.numplan import NumberingPlanService
    from pbxctl.services.policies import PolicyService
    from pbxctl.services.rates import RateService


class Services:
    """The services of one transaction, wired with the same session and audit trail."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, settings: Settings) -> None:
        self.session = session
        self.audit = audit
        self.settings = settings

    @cached_property
    def nodes(self) -> NodeService:
        """Asterisk nodes."""
        from pbxctl.services.nodes import NodeService
        return NodeService(self.session, self.audit)

    @cached_property
    def branches(self) -> BranchService:
        """Branches."""
        from pbxctl.services.branches import BranchService
        return BranchService(self.session, self.audit)

    @cached_property
    def extensions(self) -> ExtensionService:
        """Extensions (phones)."""
        from pbxctl.services.extensions import ExtensionService
        return ExtensionService(self.session, self.audit)

    @cached_property
    def carriers(self) -> CarrierService:
        """Carriers and their trunks."""
        from pbxctl.services.carriers import CarrierService
        return CarrierService(self.session, self.audit)

    @cached_property
    def numbers(self) -> NumberService:
        """Numbers (DIDs) and their routes."""
        from pbxctl.services.numbers import NumberService
        return NumberService(self.session, self.audit)

    @cached_property
    def policies(self) -> PolicyService:
        """Branches' outbound policies."""
        from pbxctl.services.policies import PolicyService
        return PolicyService(self.session, self.audit)

    @cached_property
    def numplan(self) -> NumberingPlanService:
        """The numbering plan."""
        from pbxctl.services.numplan import NumberingPlanService
        return NumberingPlanService(self.session, self.audit)

    @cached_property
    def rates(self) -> RateService:
        """Rate decks."""
        from pbxctl.services.rates import RateService
        return RateService(self.session, self.audit)

    async def ami(self, node: Node) -> AmiClient:
        """An AMI connection to ``node`` with the configured deadline."""
        from pbxctl.services.deploy import ami_connector
        return await ami_connector(node, self.settings.ami_timeout)()


# Opens a new transaction with its services: how a use case that needs several
# transactions (apply: plan, then audit each node's outcome) gets them, from the CLI or
# the API alike.
UnitOfWork = Callable[[], AbstractAsyncContextManager[Services]]


def services_for(session: AsyncSession, audit: AuditTrail, settings: Settings) -> Services:
    """Every service on ``session``, recording changes in ``audit``."""
    return Services(session, audit, settings)
