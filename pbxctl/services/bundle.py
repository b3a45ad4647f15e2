"""The services of one transaction, wired with the same session and audit trail: what a
CLI command or an API request works with. Each service is built (and its module imported)
the first time it is used, so a command pays only for the services it calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pbxctl.db.session import transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.settings import Settings

if TYPE_CHECKING:
    from pbxctl.asterisk.ami import AmiClient
    from pbxctl.db.models import Node
    from pbxctl.services.branches import BranchService
    from pbxctl.services.carriers import CarrierService
    from pbxctl.services.cdrs import CdrStore
    from pbxctl.services.company import CompanyService
    from pbxctl.services.devices import DeviceService
    from pbxctl.services.edges import EdgeService
    from pbxctl.services.extensions import ExtensionService
    from pbxctl.services.live_switches import LiveSwitches
    from pbxctl.services.nodes import NodeService
    from pbxctl.services.numbers import NumberService
    from pbxctl.services.numplan import NumberingPlanService
    from pbxctl.services.policies import PolicyService
    from pbxctl.services.provisioning import ProvisioningService
    from pbxctl.services.queues import QueueMembers, QueueService
    from pbxctl.services.rates import RateService
    from pbxctl.services.read.reports import ReportService
    from pbxctl.services.secrets import SecretsService
    from pbxctl.services.security import SecurityService
    from pbxctl.services.spend import SpendService
    from pbxctl.services.tokens import TokenService
    from pbxctl.services.webhooks import WebhookService


class Services:
    """The services of one transaction, wired with the same session and audit trail."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, settings: Settings) -> None:
        self.session = session
        self.audit = audit
        self.settings = settings

    @cached_property
    def nodes(self) -> NodeService:
        """Asterisk nodes."""
        from pbxctl.services.nodes import NodeService, protected_files
        return NodeService(self.session, self.audit, self.settings.node_config_roots,
                           protected_files(self.settings))

    @cached_property
    def edges(self) -> EdgeService:
        """Kamailio SIP edges."""
        from pbxctl.services.edges import EdgeService
        from pbxctl.services.nodes import protected_files
        return EdgeService(self.session, self.audit, self.settings.node_config_roots,
                           protected_files(self.settings))

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
    def devices(self) -> DeviceService:
        """Devices (phones that set themselves up) and their provisioning links."""
        from pbxctl.services.devices import DeviceService
        return DeviceService(self.session, self.audit, self.settings.provisioning_url)

    @cached_property
    def provisioning(self) -> ProvisioningService:
        """A phone's set-up, as the provisioning server serves it."""
        from pbxctl.render.provisioning import provisioning_templates
        from pbxctl.services.provisioning import ProvisioningService
        return ProvisioningService(self.devices, self.audit,
                                   provisioning_templates(self.settings.template_dir))

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

    @cached_property
    def queues(self) -> QueueService:
        """Queues as configured."""
        from pbxctl.services.queues import QueueService
        return QueueService(self.session, self.audit)

    @cached_property
    def queue_members(self) -> QueueMembers:
        """Queue members logging in, out and pausing on the node at once."""
        from pbxctl.services.queues import QueueMembers
        return QueueMembers(self.queues, self.ami, self.audit)

    @cached_property
    def switches(self) -> LiveSwitches:
        """The crisis switch and on-demand recording."""
        from pbxctl.services.live_switches import LiveSwitches
        return LiveSwitches(self.session, self.audit, self.ami)

    @cached_property
    def spend(self) -> SpendService:
        """Department spend caps and their brake."""
        from pbxctl.services.spend import SpendService
        return SpendService(self.session, self.audit, self.ami)

    @cached_property
    def webhooks(self) -> WebhookService:
        """Webhooks and their deliveries."""
        from pbxctl.services.webhooks import WebhookService
        return WebhookService(self.session, self.audit, self.settings.webhook_allow_networks)

    @cached_property
    def company(self) -> CompanyService:
        """The company file: export, plan and sync over the other services."""
        from pbxctl.services.company import CompanyService
        return CompanyService(self)

    @cached_property
    def tokens(self) -> TokenService:
        """API tokens."""
        from pbxctl.services.tokens import TokenService
        return TokenService(self.session, self.audit)

    @cached_property
    def security(self) -> SecurityService:
        """Security bans."""
        from pbxctl.services.security import SecurityService
        return SecurityService(self.session, self.audit, self.settings)

    @cached_property
    def secrets(self) -> SecretsService:
        """Secrets at rest: their keys, sealing, status."""
        from pbxctl.services.secrets import SecretsService
        return SecretsService(self.session, self.audit)

    @cached_property
    def cdrs(self) -> CdrStore:
        """Stored CDRs: import, re-rating."""
        from pbxctl.services.cdrs import CdrStore
        return CdrStore(self.session)

    @cached_property
    def reports(self) -> ReportService:
        """Cost reports."""
        from pbxctl.services.read.reports import ReportService
        return ReportService(self.session)

    async def ami(self, node: Node) -> AmiClient:
        """An AMI connection to ``node`` with the configured deadline."""
        from pbxctl.services.deploy import ami_connector
        return await ami_connector(node, self.settings.ami_timeout)()


# Opens a new transaction with its services: how a use case that needs several
# transactions (apply: plan, then audit each node's outcome) gets them, from the CLI or
# the API alike.
UnitOfWork = Callable[[], AbstractAsyncContextManager[Services]]


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine, actor: Actor, settings: Settings
                       ) -> AsyncIterator[Services]:
    """One transaction and its services, changes audited as ``actor``: committed when the
    block ends, rolled back when it raises. The CLI and the API open every transaction
    through here."""
    async with transaction(engine) as session:
        yield Services(session, AuditTrail(session, actor), settings)


def units(engine: AsyncEngine, actor: Actor, settings: Settings) -> UnitOfWork:
    """Opens each new transaction of a use case (:func:`unit_of_work`) for ``actor``."""

    def unit() -> AbstractAsyncContextManager[Services]:
        return unit_of_work(engine, actor, settings)

    return unit
