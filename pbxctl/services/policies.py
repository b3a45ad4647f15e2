"""A branch's outbound policy, business hours and holidays."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.db.models import Branch, BusinessHours, Carrier, Holiday, OutboundPolicy, PhoneNumber
from pbxctl.errors import NotFoundError, ValidationError
from pbxctl.numbering import (
    after_hours_classes,
    call_limit,
    dest_classes,
    duration_limits,
    duration_text,
    parse_dialing,
)
from pbxctl.services.audit import AuditTrail, Snapshot

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
                       r"(?P<opens>[0-2][0-9]:[0-5][0-9])-(?P<closes>[0-2][0-9]:[0-5][0-9])")


@dataclass(frozen=True)
class OutboundChange:
    """What ``branch outbound`` was given; ``None`` keeps the current value."""

    carriers: tuple[str, ...] | None = None
    caller_id: str | None = None
    allow: tuple[str, ...] | None = None
    dialing: str | None = None
    national_prefix: str | None = None
    international_prefix: str | None = None
    allow_foreign_caller_id: bool | None = None
    # The brakes (issue 13). ``max_calls``: 1-1000 or "none"; ``max_minutes``: the whole
    # set of (class, limit) pairs, each limit minutes (30, "30", "30m") or seconds ("90s"),
    # () for none; ``after_hours_allow``: classes, or ("all",) for no night rule, ("none",)
    # or () for emergency calls only.
    max_calls: int | str | None = None
    max_minutes: tuple[tuple[str, int | str], ...] | None = None
    after_hours_allow: tuple[str, ...] | None = None


def policy_snapshot(policy: OutboundPolicy | None) -> Snapshot | None:
    """A policy as the audit trail and ``branch show`` present it."""
    if policy is None:
        return None
    return {
        "dialing": f"national:{policy.country_code}", "national_prefix": policy.national_prefix,
        "international_prefix": policy.international_prefix,
        "allow": list(policy.allowed_classes), "carriers": list(policy.carriers),
        "caller_id": policy.caller_id, "allow_foreign_caller_id": policy.allow_foreign_caller_id,
        "max_calls": policy.max_calls,
        "max_minutes": {c: duration_text(s) for c, s in (policy.max_seconds or {}).items()},
        "after_hours_allow": (None if policy.after_hours_classes is None
                              else list(policy.after_hours_classes)),
    }


def parse_hours(field: str, specs: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """``mon-fri 09:00-18:00``-style lines into (weekday 1-7, opens, closes)."""
    intervals: list[tuple[int, str, str]] = []
    for spec in specs:
        match = _HOURS_RE.fullmatch(spec.strip().lower())
        if not match:
            raise ValidationError(field, f"{spec!r} is not like 'mon-fri 09:00-18:00'")
        opens, closes = match["opens"], match["closes"]
        if not ("00:00" <= opens < closes <= "24:00"):
            raise ValidationError(field, f"{spec!r}: the interval must be within a day and "
                                         "open before it closes")
        for day in _expand_days(field, match["days"]):
            intervals.append((day, opens, closes))
    intervals.sort()
    for (day_a, _o, closes_a), (day_b, opens_b, _c) in zip(intervals, intervals[1:],
                                                            strict=False):
        if day_a == day_b and opens_b < closes_a:
            raise ValidationError(field, f"intervals overlap on {WEEKDAYS[day_a - 1]}")
    return intervals


def _expand_days(field: str, text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValidationError(field, f"{part!r}: days are mon, tue, wed, thu, fri, sat, sun")
        start, end = WEEKDAYS.index(first) + 1, WEEKDAYS.index(last or first) + 1
        if end < start:
            raise ValidationError(field, f"{part!r}: write the days in week order")
        days.extend(range(start, end + 1))
    return days


class PolicyService:
    """Sets outbound policies, hours and holidays of branches."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def set_outbound(self, slug: str, change: OutboundChange) -> OutboundPolicy:
        """Create or change a branch's outbound policy; everything is checked first."""
        branch = await self._branch(slug)
        current = branch.outbound
        before = policy_snapshot(current)
        if current is None and change.dialing is None:
            raise ValidationError("dialing", "the first policy of a branch needs `dialing`, "
                                               "e.g. national:7")
        if change.dialing is not None:
            rules = parse_dialing("dialing", change.dialing, change.national_prefix,
                                  change.international_prefix)
        else:
            assert current is not None
            rules = parse_dialing(
                "dialing", f"national:{current.country_code}",
                change.national_prefix if change.national_prefix is not None
                else current.national_prefix,
                change.international_prefix if change.international_prefix is not None
                else current.international_prefix)
        allowed = (list(dest_classes("allow", change.allow)) if change.allow is not None
                   else list(current.allowed_classes) if current else [])
        carriers = (await self._carriers(change.carriers) if change.carriers is not None
                    else list(current.carriers) if current else [])
        foreign_ok = (change.allow_foreign_caller_id
                      if change.allow_foreign_caller_id is not None
                      else bool(current and current.allow_foreign_caller_id))
        caller_id = (v.e164("caller_id", change.caller_id) if change.caller_id is not None
                     else current.caller_id if current else None)
        if caller_id is not None:
            await self._check_caller_id(branch, caller_id, foreign_ok)
        max_calls = (call_limit("max_calls", change.max_calls)
                     if change.max_calls is not None else current.max_calls if current else None)
        max_seconds = (duration_limits("max_minutes", change.max_minutes)
                       if change.max_minutes is not None
                       else dict(current.max_seconds or {}) if current else {})
        night = (after_hours_classes("after_hours_allow", change.after_hours_allow)
                 if change.after_hours_allow is not None
                 else None if current is None or current.after_hours_classes is None
                 else tuple(current.after_hours_classes))
        policy = current or OutboundPolicy(branch_id=branch.id)
        policy.country_code = rules.country_code
        policy.national_prefix = rules.national_prefix
        policy.international_prefix = rules.international_prefix
        policy.allowed_classes = allowed
        policy.carriers = carriers
        policy.caller_id = caller_id
        policy.allow_foreign_caller_id = foreign_ok
        policy.max_calls = max_calls
        policy.max_seconds = max_seconds
        policy.after_hours_classes = None if night is None else list(night)
        if current is None:
            branch.outbound = policy
        await self._session.flush()
        after = policy_snapshot(policy)
        if after != before:
            self._audit.record("branch.outbound", "branch", slug, before=before, after=after)
        return policy

    async def set_hours(self, slug: str, specs: tuple[str, ...]) -> list[BusinessHours]:
        """Replace the branch's weekly opening hours (no lines: open around the clock)."""
        branch = await self._branch(slug)
        intervals = parse_hours("hours", specs)
        before = {"hours": [f"{WEEKDAYS[h.weekday - 1]} {h.opens}-{h.closes}"
                            for h in branch.hours]}
        branch.hours.clear()
        await self._session.flush()
        for day, opens, closes in intervals:
            branch.hours.append(BusinessHours(weekday=day, opens=opens, closes=closes))
        after = {"hours": [f"{WEEKDAYS[d - 1]} {o}-{c}" for d, o, c in intervals]}
        if after != before:
            self._audit.record("branch.hours", "branch", slug, before=before, after=after)
        return list(branch.hours)

    async def change_holidays(self, slug: str, add: tuple[str, ...], remove: tuple[str, ...],
                              name: str | None = None) -> list[Holiday]:
        """Add and remove closed days (branch local dates, ISO format)."""
        branch = await self._branch(slug)
        if name is not None:
            v.display_name("name", name)
        existing = {h.day: h for h in branch.holidays}
        for text in remove:
            day = v.iso_date("remove", text)
            if day not in existing:
                raise NotFoundError(f"{day} is not a holiday of branch {slug!r}")
            branch.holidays.remove(existing.pop(day))
            self._audit.record("branch.holiday.remove", "branch", slug, before={"day": str(day)})
        for text in add:
            day = v.iso_date("add", text)
            if day in existing:
                continue
            holiday = Holiday(day=day, name=name)
            branch.holidays.append(holiday)
            existing[day] = holiday
            self._audit.record("branch.holiday.add", "branch", slug,
                               after={"day": str(day), "name": name})
        await self._session.flush()
        return sorted(existing.values(), key=lambda h: h.day)

    async def _check_caller_id(self, branch: Branch, caller_id: str, foreign_ok: bool) -> None:
        number = await self._session.scalar(
            select(PhoneNumber).where(PhoneNumber.e164 == caller_id)
            .options(selectinload(PhoneNumber.branch)))
        if number is None:
            raise ValidationError("caller_id", f"{caller_id} is not a number the company "
                                                 "owns (add it with 'pbxctl number add')")
        if number.branch_id != branch.id and not foreign_ok:
            raise ValidationError("caller_id", f"{caller_id} belongs to branch "
                                                 f"{number.branch.slug!r}; pass "
                                                 "`allow_foreign_caller_id` to present it")

    async def _carriers(self, names: Sequence[str]) -> list[str]:
        slugs = list(names)
        if not slugs:
            raise ValidationError("carriers", "name at least one carrier")
        if len(set(slugs)) != len(slugs):
            raise ValidationError("carriers", "a carrier is listed twice")
        for slug in slugs:
            v.slug("carriers", slug)
            if await self._session.scalar(select(Carrier.id).where(Carrier.slug == slug)) is None:
                raise NotFoundError(f"no carrier {slug!r}", "carriers")
        return slugs

    async def _branch(self, slug: str) -> Branch:
        query = (select(Branch).where(Branch.slug == v.slug("branch", slug))
                 .options(selectinload(Branch.outbound), selectinload(Branch.hours),
                          selectinload(Branch.holidays)))
        branch = await self._session.scalar(query)
        if branch is None:
            raise NotFoundError(f"no branch {slug!r}")
        return branch

