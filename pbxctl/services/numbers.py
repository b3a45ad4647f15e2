"""The number inventory: DIDs owned through carrier contracts, independent of the PBX.

A number keeps its route whatever carrier or node serves it; every change of carrier,
paying branch, route or fee closes one history period and opens the next.
"""

from __future__ import annotations

import builtins
import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl import validation as v
from pbxctl.billing.csv_safety import safe_cell
from pbxctl.db.models import Branch, Carrier, NumberPeriod, PhoneNumber, utcnow
from pbxctl.destinations import Destination, parse_destination
from pbxctl.errors import ConflictError, NotFoundError, PbxctlError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.routing import check_forward, checked_destination

EXPORT_COLUMNS = ("number", "carrier", "branch", "monthly_fee", "contract", "route",
                  "after_hours")
MAX_FEE = Decimal("1000000")


@dataclass(frozen=True)
class NumberSpec:
    """A number as the operator describes it."""

    e164: str
    carrier: str
    branch: str
    monthly_fee: Decimal
    route: Destination
    contract: str | None = None
    after_hours: Destination | None = None


def number_snapshot(number: PhoneNumber) -> Snapshot:
    """A number's fields as the audit trail, ``--json`` and export show them."""
    return {
        "number": number.e164, "carrier": number.carrier.slug, "branch": number.branch.slug,
        "monthly_fee": f"{number.monthly_fee:.2f}", "contract": number.contract,
        "route": number.route, "after_hours": number.after_hours,
    }


def parse_fee(field: str, text: str) -> Decimal:
    """A monthly fee written as text (``350.00``), checked like :func:`checked_fee`."""
    try:
        fee = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(field, f"{text!r} is not an amount like 350.00") from None
    return checked_fee(field, fee, text)


def checked_fee(field: str, fee: Decimal, shown: str | None = None) -> Decimal:
    """A monthly fee: a non-negative amount with at most two decimals."""
    if not fee.is_finite() or fee < 0 or fee >= MAX_FEE or fee != fee.quantize(Decimal("0.01")):
        raise ValidationError(field, f"{shown if shown is not None else str(fee)!r}: use a "
                                     "non-negative amount with at most two decimals")
    return fee.quantize(Decimal("0.01"))


class NumberService:
    """Adds, routes, moves, releases, exports and imports numbers."""

    def __init__(self, session: AsyncSession, audit: AuditTrail,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._session = session
        self._audit = audit
        self._clock = clock

    async def add(self, spec: NumberSpec) -> PhoneNumber:
        """Add a number the company owns."""
        e164 = v.e164("number", spec.e164)
        if await self._find(e164) is not None:
            raise ConflictError(f"number {e164} is already in the inventory")
        number = PhoneNumber(e164=e164)
        await self._fill(number, spec)
        self._session.add(number)
        await self._session.flush()
        self._open_period(number)
        self._audit.record("number.add", "number", e164, after=number_snapshot(number))
        return number

    async def route(self, e164: str, route: Destination, after_hours: Destination | None = None,
                    clear_after_hours: bool = False) -> PhoneNumber:
        """Send calls to ``e164`` to ``route`` (and outside hours to ``after_hours``)."""
        number = await self.get(e164)
        before = number_snapshot(number)
        number.route = str(await checked_destination(self._session, "route", route))
        if after_hours is not None:
            number.after_hours = str(await checked_destination(
                self._session, "after_hours", after_hours))
        elif clear_after_hours:
            number.after_hours = None
        await self._check_forwards(number)
        await self._changed(number, before, "number.route")
        return number

    async def move(self, e164: str, carrier: str | None = None,
                   branch: str | None = None) -> PhoneNumber:
        """Serve the number through another carrier, or charge it to another branch.

        The route does not change.
        """
        if carrier is None and branch is None:
            raise ValidationError("carrier/branch", "say where the number moves")
        number = await self.get(e164)
        before = number_snapshot(number)
        if carrier is not None:
            number.carrier = await self._carrier(carrier)
        if branch is not None:
            number.branch = await self._branch(branch)
            await self._check_forwards(number)
        await self._changed(number, before, "number.move")
        return number

    async def update(self, spec: NumberSpec) -> PhoneNumber:
        """Make a number match ``spec`` as a whole (carrier, branch, fee, contract, routes),
        checked and audited as one change."""
        number = await self.get(spec.e164)
        before = number_snapshot(number)
        await self._fill(number, spec)
        await self._changed(number, before, "number.update")
        return number

    async def release(self, e164: str) -> None:
        """Give the number back to its carrier; its history stays."""
        number = await self.get(e164)
        await self._close_period(number.e164)
        self._audit.record("number.release", "number", number.e164,
                           before=number_snapshot(number))
        await self._session.delete(number)

    async def list(self, carrier: str | None = None,
                   branch: str | None = None) -> Sequence[PhoneNumber]:
        """Numbers in E.164 order, optionally of one carrier and/or branch."""
        query = (select(PhoneNumber).order_by(PhoneNumber.e164)
                 .options(selectinload(PhoneNumber.carrier), selectinload(PhoneNumber.branch)))
        if carrier is not None:
            query = query.where(PhoneNumber.carrier_id == (await self._carrier(carrier)).id)
        if branch is not None:
            query = query.where(PhoneNumber.branch_id == (await self._branch(branch)).id)
        return (await self._session.scalars(query)).all()

    async def get(self, e164: str) -> PhoneNumber:
        """The number ``e164``."""
        number = await self._find(v.e164("number", e164))
        if number is None:
            raise NotFoundError(f"number {e164} is not in the inventory")
        return number

    async def history(self, e164: str) -> Sequence[NumberPeriod]:
        """Every period of the number, oldest first (also after release)."""
        v.e164("number", e164)
        query = (select(NumberPeriod).where(NumberPeriod.e164 == e164)
                 .order_by(NumberPeriod.valid_from, NumberPeriod.id))
        return (await self._session.scalars(query)).all()

    async def export_csv(self) -> str:
        """The whole inventory as CSV (header ``number,carrier,branch,…``)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for number in await self.list():
            snap = number_snapshot(number)
            writer.writerow({k: safe_cell(str(snap[k] or "")) for k in EXPORT_COLUMNS})
        return out.getvalue()

    async def import_csv(self, text: str, replace: bool = False) -> dict[str, int]:
        """Add or update every number in the CSV; all rows are checked before any change.

        Idempotent: importing the same file twice changes nothing the second time.
        With ``replace``, numbers missing from the file are released.
        """
        specs, errors = self._parse_rows(text)
        for line, spec in specs:
            try:
                await self._validate(spec)
            except PbxctlError as exc:
                errors.append(f"line {line}: {exc}")
        if errors:
            raise ValidationError("file", "; ".join(errors[:20]))
        counts = {"added": 0, "updated": 0, "unchanged": 0, "released": 0}
        listed = set()
        for _line, spec in specs:
            listed.add(spec.e164)
            existing = await self._find(spec.e164)
            if existing is None:
                await self.add(spec)
                counts["added"] += 1
                continue
            before = number_snapshot(existing)
            await self._fill(existing, spec)
            if await self._changed(existing, before, "number.import"):
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if replace:
            for number in await self.list():
                if number.e164 not in listed:
                    await self.release(number.e164)
                    counts["released"] += 1
        return counts

    @staticmethod
    def _parse_rows(text: str) -> tuple[builtins.list[tuple[int, NumberSpec]],
                                        builtins.list[str]]:
        """The rows as specs, and what could not be read, by line."""
        reader = v.CsvRows(text)
        missing = set(EXPORT_COLUMNS) - {"contract", "after_hours"} - set(reader.fieldnames or ())
        if missing:
            raise ValidationError("file", f"the header lacks {', '.join(sorted(missing))}; "
                                          f"expected {','.join(EXPORT_COLUMNS)}")
        rows, errors, seen = [], [], set()
        for line, row in reader:
            if None in row or any(value is None for value in row.values()):
                raise ValidationError("file", f"line {line}: wrong number of columns")
            after_hours = (row.get("after_hours") or "").strip()
            try:
                spec = NumberSpec(
                    e164=row["number"].strip(), carrier=row["carrier"].strip(),
                    branch=row["branch"].strip(),
                    monthly_fee=parse_fee("monthly_fee", row["monthly_fee"]),
                    route=parse_destination("route", row["route"].strip()),
                    contract=(row.get("contract") or "").strip() or None,
                    after_hours=(parse_destination("after_hours", after_hours)
                                 if after_hours else None))
            except ValidationError as exc:
                errors.append(f"line {line}: {exc}")
                continue
            if spec.e164 in seen:
                raise ValidationError("file", f"line {line}: {spec.e164} appears twice")
            seen.add(spec.e164)
            rows.append((line, spec))
        return rows, errors

    async def _validate(self, spec: NumberSpec) -> None:
        v.e164("number", spec.e164)
        await self._carrier(spec.carrier)
        await self._branch(spec.branch)
        checked_fee("monthly_fee", spec.monthly_fee)
        if spec.contract:
            v.contract("contract", spec.contract)
        await checked_destination(self._session, "route", spec.route)
        await check_forward(self._session, "route", spec.route, spec.branch)
        if spec.after_hours:
            await checked_destination(self._session, "after_hours", spec.after_hours)
            await check_forward(self._session, "after_hours", spec.after_hours, spec.branch)

    async def _fill(self, number: PhoneNumber, spec: NumberSpec) -> None:
        number.carrier = await self._carrier(spec.carrier)
        number.branch = await self._branch(spec.branch)
        number.monthly_fee = checked_fee("monthly_fee", spec.monthly_fee)
        number.contract = v.contract("contract", spec.contract) if spec.contract else None
        number.route = str(await checked_destination(self._session, "route", spec.route))
        number.after_hours = (str(await checked_destination(self._session, "after_hours",
                                                            spec.after_hours))
                              if spec.after_hours else None)
        await self._check_forwards(number)

    async def _check_forwards(self, number: PhoneNumber) -> None:
        """The number's branch may make the calls its routes forward to."""
        await check_forward(self._session, "route", parse_destination("route", number.route),
                            number.branch.slug)
        if number.after_hours:
            await check_forward(self._session, "after_hours",
                                parse_destination("after_hours", number.after_hours),
                                number.branch.slug)

    async def _changed(self, number: PhoneNumber, before: Snapshot, action: str) -> bool:
        after = number_snapshot(number)
        if after == before:
            return False
        await self._session.flush()
        tracked = ("carrier", "branch", "route", "monthly_fee")
        if any(before[k] != after[k] for k in tracked):
            await self._close_period(number.e164)
            self._open_period(number)
        self._audit.record(action, "number", number.e164, before=before, after=after)
        return True

    def _open_period(self, number: PhoneNumber) -> None:
        self._session.add(NumberPeriod(
            e164=number.e164, carrier=number.carrier.slug, branch=number.branch.slug,
            route=number.route, monthly_fee=number.monthly_fee, valid_from=self._clock()))

    async def _close_period(self, e164: str) -> None:
        await self._session.flush()
        await self._session.execute(
            update(NumberPeriod)
            .where(NumberPeriod.e164 == e164, NumberPeriod.valid_to.is_(None))
            .values(valid_to=self._clock())
            .execution_options(synchronize_session="fetch"))

    async def _carrier(self, slug: str) -> Carrier:
        carrier = await self._session.scalar(
            select(Carrier).where(Carrier.slug == v.slug("carrier", slug)))
        if carrier is None:
            raise NotFoundError(f"no carrier {slug!r}")
        return carrier

    async def _branch(self, slug: str) -> Branch:
        branch = await self._session.scalar(
            select(Branch).where(Branch.slug == v.slug("branch", slug)))
        if branch is None:
            raise NotFoundError(f"no branch {slug!r}")
        return branch

    async def _find(self, e164: str) -> PhoneNumber | None:
        query = (select(PhoneNumber).where(PhoneNumber.e164 == e164)
                 .options(selectinload(PhoneNumber.carrier), selectinload(PhoneNumber.branch)))
        return await self._session.scalar(query)
