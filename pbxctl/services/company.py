"""The company as a file: the desired state read as a company document (export), compared
with a file (plan) and made to match it (sync), every change through the service that
makes it from the command line, so it is checked and audited the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pbxctl.company.document import Document, normalise
from pbxctl.company.plan import Change, plan, refusals, summary
from pbxctl.company.schema import FORMAT_VERSION, KIND, KINDS, WEEKDAYS
from pbxctl.destinations import parse_destination
from pbxctl.errors import PbxctlError, ValidationError
from pbxctl.render.edge import host_port
from pbxctl.services.branches import BranchSpec, branch_snapshot
from pbxctl.services.carriers import CarrierSpec, carrier_snapshot
from pbxctl.services.edges import EdgeSpec
from pbxctl.services.extensions import SipCredentials
from pbxctl.services.nodes import NodeSpec, node_snapshot
from pbxctl.services.numbers import NumberSpec, number_snapshot
from pbxctl.services.policies import OutboundChange, policy_snapshot
from pbxctl.services.queues import QueueSpec

if TYPE_CHECKING:
    from pbxctl.services.bundle import Services

Item = dict[str, Any]
Secrets = dict[str, dict[str, str]]
@dataclass(frozen=True)
class NewWebhook:
    """A webhook sync created, with its signing secret (shown once)."""

    id: int
    url: str
    branch: str | None
    secret: str


@dataclass
class SyncResult:
    """What sync did, and the credentials of what it created (shown once)."""

    changes: list[Change]
    phones: list[SipCredentials] = field(default_factory=list)
    webhooks: list[NewWebhook] = field(default_factory=list)


def _pick(kind: str, values: Item) -> Item:
    return {f.name: values[f.name] for f in KIND[kind].fields if f.name in values}


def _hours_specs(hours: dict[str, list[str]]) -> tuple[str, ...]:
    return tuple(f"{day} {interval}" for day in WEEKDAYS for interval in hours.get(day, []))


class CompanyService:
    """Export, plan and sync of the company file, over the services of one transaction."""

    def __init__(self, services: Services) -> None:
        self._s = services

    async def export(self) -> Document:
        """Everything a sysadmin describes, as the company file holds it (no secrets)."""
        s = self._s
        branches = [await s.branches.get(b.slug) for b in await s.branches.list()]
        document = {
            "version": FORMAT_VERSION,
            "nodes": [_pick("nodes", node_snapshot(n)) for n in await s.nodes.list()],
            "edges": [{"name": e.name, "sip_address": e.sip_address, "sip_port": e.sip_port,
                       "rpc": host_port(e.rpc_address, e.rpc_port),
                       "config_dir": e.config_dir} for e in await s.edges.list()],
            "carriers": [_pick("carriers", carrier_snapshot(c))
                         for c in await s.carriers.list()],
            "branches": [{
                **_pick("branches", branch_snapshot(b)),
                "hours": {day: [f"{h.opens}-{h.closes}" for h in b.hours
                                if h.weekday == index + 1]
                          for index, day in enumerate(WEEKDAYS)},
                "holidays": [{"day": h.day.isoformat(), "name": h.name} for h in b.holidays],
                "outbound": policy_snapshot(b.outbound)} for b in branches],
            "extensions": [{"number": e.number, "branch": e.branch.slug,
                            "name": e.display_name, "department": e.department,
                            "email": e.email}
                           for e in await s.extensions.list()],
            "queues": [{"branch": q.branch.slug, "name": q.name, "strategy": q.strategy,
                        "members": list(q.members), "max_wait": q.max_wait,
                        "service_level": q.service_level, "target": q.target_percent,
                        "overflow": q.overflow} for q in await s.queues.list()],
            "numbers": [_pick("numbers", number_snapshot(n)) for n in await s.numbers.list()],
            "webhooks": [{"url": w.url, "branch": w.branch, "events": w.events.split(",")}
                         for w in await s.webhooks.list()],
            "departments": [{"name": lim.department, "monthly": str(lim.monthly_cap),
                             "warn_at_percent": lim.warn_percent, "currency": lim.currency}
                            for lim in await s.spend.limits()],
        }
        return normalise(document)

    async def plan(self, desired: Document) -> list[Change]:
        """What sync would create, change and remove to make the database match."""
        return plan(await self.export(), desired)

    async def sync(self, desired: Document, secrets: Secrets) -> SyncResult:
        """Make the database match ``desired`` (in the caller's transaction): creations
        and changes in dependency order, then removals in reverse; a refusal names the
        object and field (``numbers[+78432000001].route: …``) and the caller rolls back.
        New nodes and registering carriers take their secrets from ``secrets``."""
        changes = await self.plan(desired)
        refused = refusals(changes)
        if refused:
            raise ValidationError("file", "; ".join(refused))
        result = SyncResult(changes)
        by_kind = {kind.name: [c for c in changes if c.kind == kind.name] for kind in KINDS}
        steps: list[tuple[Change, Callable[[Change], Awaitable[None]]]] = []
        writers = self._writers(result, secrets)
        for kind in KINDS:
            steps += [(c, writers[kind.name]) for c in by_kind[kind.name]
                      if c.action != "remove"]
            if kind.name == "numbers":   # caller ids are numbers the company owns
                steps += [(c, self._outbound) for c in by_kind["branches"]
                          if c.action != "remove"]
        for kind in reversed(KINDS):
            steps += [(c, writers[kind.name]) for c in by_kind[kind.name]
                      if c.action == "remove"]
        for change, write in steps:
            if change.action == "remove":    # what earlier steps changed, read again
                await self._s.session.flush()
                self._s.session.expire_all()
            try:
                await write(change)
            except PbxctlError as exc:
                raise _at(f"{change.kind}[{change.key}]", exc) from None
        if changes:
            counts = summary(changes)
            self._s.audit.record("company.sync", "company", "file", detail=(
                f"{counts['create']} created, {counts['update']} changed, "
                f"{counts['remove']} removed"))
        return result

    def _writers(self, result: SyncResult, secrets: Secrets
                 ) -> dict[str, Callable[[Change], Awaitable[None]]]:
        s = self._s

        async def nodes(c: Change) -> None:
            if c.action == "remove":
                await s.nodes.remove(c.key)
                return
            new = c.new or {}
            if c.action == "update":
                await s.nodes.set_ami_host(c.key, new["ami_host"])
                return
            secret = secrets["nodes"].get(c.key)
            if secret is None:
                raise ValidationError("ami_secret", "a new node needs its AMI secret: give "
                                      f"it in the `secrets` file (nodes: {c.key}: "
                                      "ami_secret: …)")
            await s.nodes.add(NodeSpec(ami_secret=secret, **new))

        async def edges(c: Change) -> None:
            if c.action == "remove":
                await s.edges.remove(c.key)
            else:           # its other fields are fixed: plan refuses to change them
                await s.edges.add(EdgeSpec(**(c.new or {})))

        async def carriers(c: Change) -> None:
            if c.action == "remove":
                await s.carriers.remove(c.key)
                return
            new = dict(c.new or {})
            del new["slug"]
            spec = CarrierSpec(**{**new, "match": tuple(new["match"])})
            if c.action == "update":
                await s.carriers.update(c.key, spec)
                return
            secret = secrets["carriers"].get(c.key)
            if new["auth"] == "register" and secret is None:
                raise ValidationError("secret", "a new registering carrier needs its "
                                      f"secret: give it in the `secrets` file (carriers: "
                                      f"{c.key}: secret: …)")
            await s.carriers.add(c.key, CarrierSpec(**{**vars(spec), "secret": secret}))

        async def branches(c: Change) -> None:
            if c.action == "remove":
                await s.branches.remove(c.key)
                return
            old, new = c.old or {}, c.new or {}
            if c.action == "create":
                await s.branches.add(BranchSpec(**{k: new[k] for k in (
                    "slug", "name", "city", "timezone", "ext_range", "node", "standby_node",
                    "language")}))
            else:
                if old["standby_node"] != new["standby_node"]:
                    await s.branches.set_standby(c.key, new["standby_node"])
                if old["language"] != new["language"]:
                    await s.branches.set_language(c.key, new["language"])
            if old.get("hours", {}) != new["hours"]:
                await s.policies.set_hours(c.key, _hours_specs(new["hours"]))
            await self._holidays(c.key, old.get("holidays", []), new["holidays"])

        async def extensions(c: Change) -> None:
            if c.action == "remove":
                await s.extensions.remove(c.key)
                return
            new = c.new or {}
            if c.action == "create":
                _, credentials = await s.extensions.add(new["branch"], new["number"],
                                                        new["name"], new["department"],
                                                        new["email"])
                result.phones.append(credentials)
            elif (c.old or {}).get("email") != new["email"]:
                await s.extensions.set_email(c.key, new["email"])

        async def queues(c: Change) -> None:
            if c.action == "remove":
                await s.queues.remove(c.key)
                return
            new = c.new or {}
            spec = QueueSpec(strategy=new["strategy"], members=tuple(new["members"]),
                             max_wait=new["max_wait"], service_level=new["service_level"],
                             target=new["target"],
                             overflow=None if new["overflow"] is None
                             else parse_destination("overflow", new["overflow"]))
            if c.action == "update":
                await s.queues.update(c.key, spec)
            else:
                await s.queues.add(new["branch"], new["name"], spec)

        async def numbers(c: Change) -> None:
            if c.action == "remove":
                await s.numbers.release(c.key)
                return
            new = c.new or {}
            spec = NumberSpec(
                e164=new["number"], carrier=new["carrier"], branch=new["branch"],
                monthly_fee=Decimal(new["monthly_fee"]), contract=new["contract"],
                route=parse_destination("route", new["route"]),
                after_hours=None if new["after_hours"] is None
                else parse_destination("after_hours", new["after_hours"]))
            if c.action == "update":
                await s.numbers.update(spec)
            else:
                await s.numbers.add(spec)

        async def webhooks(c: Change) -> None:
            if c.action == "remove":
                old = c.old or {}
                for hook in await s.webhooks.list():
                    if (hook.url, hook.branch, sorted(hook.events.split(","))) == \
                            (old["url"], old["branch"], old["events"]):
                        await s.webhooks.remove(hook.id)
                return
            new = c.new or {}
            hook_id, secret = await s.webhooks.add(new["url"], new["events"], new["branch"])
            result.webhooks.append(NewWebhook(hook_id, new["url"], new["branch"], secret))

        async def departments(c: Change) -> None:
            if c.action == "remove":
                await s.spend.remove_limit(c.key)
                return
            new = c.new or {}
            await s.spend.set_limit(c.key, new["monthly"], new["warn_at_percent"],
                                    new["currency"])

        return {"nodes": nodes, "edges": edges, "carriers": carriers, "branches": branches,
                "extensions": extensions, "queues": queues, "numbers": numbers,
                "webhooks": webhooks, "departments": departments}

    async def _holidays(self, slug: str, old: list[Item], new: list[Item]) -> None:
        wanted = {h["day"]: h["name"] for h in new}
        gone = tuple(h["day"] for h in old if wanted.get(h["day"], 0) != h["name"])
        if gone:
            await self._s.policies.change_holidays(slug, (), gone)
        had = {h["day"]: h["name"] for h in old if h["day"] not in gone}
        for day, name in wanted.items():
            if day not in had:
                await self._s.policies.change_holidays(slug, (day,), (), name)

    async def _outbound(self, c: Change) -> None:
        new = (c.new or {})["outbound"]
        if new is None or new == (c.old or {}).get("outbound"):
            return
        await self._s.policies.set_outbound(c.key, OutboundChange(
            carriers=tuple(new["carriers"]), caller_id=new["caller_id"],
            allow=tuple(new["allow"]), dialing=new["dialing"],
            national_prefix=new["national_prefix"],
            international_prefix=new["international_prefix"],
            allow_foreign_caller_id=new["allow_foreign_caller_id"],
            max_calls="none" if new["max_calls"] is None else new["max_calls"],
            max_minutes=tuple(new["max_minutes"].items()),
            after_hours_allow=("all",) if new["after_hours_allow"] is None
            else tuple(new["after_hours_allow"]) or ("none",)))


def _at(where: str, error: PbxctlError) -> PbxctlError:
    """``error`` with its field placed in the file: ``numbers[+7843…].route``."""
    field = f"{where}.{error.field}" if error.field else where
    if isinstance(error, ValidationError):
        return ValidationError(field, error.message)
    return type(error)(error.message, field)
