"""SQLAlchemy models of the desired state and the audit trail.

The schema itself is created only by the migrations in ``pbxctl/db/migrations``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from pbxctl.db.secrets import Sealed


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pbxctl stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints stably."""

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Node(Base):
    """An Asterisk server pbxctl manages."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    ami_host: Mapped[str] = mapped_column(String(253))
    ami_port: Mapped[int] = mapped_column(Integer)
    ami_user: Mapped[str] = mapped_column(String(32))
    ami_secret: Mapped[str] = mapped_column(Sealed)
    config_dir: Mapped[str] = mapped_column(String(4096))
    sip_address: Mapped[str] = mapped_column(String(45))
    sip_port: Mapped[int] = mapped_column(Integer)
    media_address: Mapped[str] = mapped_column(String(45))
    recordings_dir: Mapped[str | None] = mapped_column(String(4096))
    # The node's cdr_csv Master.csv as pbxctl can read it: the backfill after an AMI outage.
    cdr_csv: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    branches: Mapped[list[Branch]] = relationship(back_populates="node",
                                                  foreign_keys="Branch.node_id")


class Edge(Base):
    """A Kamailio SIP edge in front of the nodes: carriers send it their calls, it picks
    the branch's node and fails over to the standby."""

    __tablename__ = "edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    sip_address: Mapped[str] = mapped_column(String(45))
    sip_port: Mapped[int] = mapped_column(Integer)
    rpc_address: Mapped[str] = mapped_column(String(45))
    rpc_port: Mapped[int] = mapped_column(Integer)
    config_dir: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Branch(Base):
    """A sales site; its slug is its default department (CDR accountcode)."""

    __tablename__ = "branches"
    __table_args__ = (CheckConstraint("ext_start <= ext_end", name="ext_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    city: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    # What its phones speak: an ISO 639-1 code of validation.LANGUAGES.
    language: Mapped[str] = mapped_column(String(8), server_default="en")
    ext_start: Mapped[int] = mapped_column(Integer)
    ext_end: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="RESTRICT"), index=True)
    # The node that takes the branch's calls when its own node does not answer.
    standby_node_id: Mapped[int | None] = mapped_column(
        ForeignKey("nodes.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    node: Mapped[Node] = relationship(back_populates="branches", foreign_keys=[node_id])
    standby_node: Mapped[Node | None] = relationship(foreign_keys=[standby_node_id])
    extensions: Mapped[list[Extension]] = relationship(
        back_populates="branch", order_by="Extension.number")
    outbound: Mapped[OutboundPolicy | None] = relationship(
        back_populates="branch", cascade="all, delete-orphan")
    hours: Mapped[list[BusinessHours]] = relationship(
        order_by="(BusinessHours.weekday, BusinessHours.opens)", cascade="all, delete-orphan")
    holidays: Mapped[list[Holiday]] = relationship(
        order_by="Holiday.day", cascade="all, delete-orphan")

    @property
    def ext_range(self) -> str:
        """The range as typed on the command line, e.g. ``200-299``."""
        return f"{self.ext_start}-{self.ext_end}"


class Extension(Base):
    """A phone or softphone; its number is unique across the company."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(6), unique=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="RESTRICT"), index=True)
    display_name: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(32))
    # HA1 digest (MD5 of "number:realm:password"), as good as the password for SIP digest
    # authentication, so sealed; the password itself is never stored.
    sip_ha1: Mapped[str] = mapped_column(Sealed)
    # The mailbox's PIN (voicemail.conf needs it in clear, so sealed, not hashed); None
    # until set: then the mailbox opens from the extension's own phones only.
    voicemail_pin: Mapped[str | None] = mapped_column(Sealed, nullable=True)
    # Where serve mails each new voicemail message, the recording attached; None: nowhere.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    branch: Mapped[Branch] = relationship(back_populates="extensions")
    devices: Mapped[list[Device]] = relationship(
        back_populates="extension", order_by="Device.name", cascade="all, delete-orphan")

    @property
    def effective_department(self) -> str:
        """The cost centre of calls from this phone: its own, else its branch's slug."""
        return self.department or self.branch.slug


class Device(Base):
    """A phone of an extension that sets itself up: a desk phone found by its MAC, or a
    softphone (no MAC) set up by a one-time link. Each has its own SIP login
    (``name``, e.g. ``201-805ec0123456``) and password, so it is revoked alone."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(24), unique=True)
    extension_id: Mapped[int] = mapped_column(
        ForeignKey("extensions.id", ondelete="CASCADE"), index=True)
    mac: Mapped[str | None] = mapped_column(String(12), unique=True)   # 12 lower-case hex
    model: Mapped[str] = mapped_column(String(24))
    # The phone reads it in clear from its provisioning file, so sealed, not hashed.
    sip_password: Mapped[str] = mapped_column(Sealed)
    # SHA-256 of the secret in the device's provisioning URL (shown once); None once a
    # one-time link was used. A one-time link expires at ``key_expires``.
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    key_expires: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    extension: Mapped[Extension] = relationship(back_populates="devices")


class AuditEntry(Base):
    """One change: who made it, when, through which interface, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(16))
    object_key: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)


class Carrier(Base):
    """An independent telecom operator and its SIP trunk; the slug is the PJSIP endpoint."""

    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    auth: Mapped[str] = mapped_column(String(8))  # "ip" or "register"
    match: Mapped[list[str]] = mapped_column(JSON, default=list)
    username: Mapped[str | None] = mapped_column(String(64))
    secret: Mapped[str | None] = mapped_column(Sealed)
    number_format: Mapped[str] = mapped_column(String(16))
    max_channels: Mapped[int | None] = mapped_column(Integer)
    qualify_seconds: Mapped[int] = mapped_column(Integer, default=30)
    currency: Mapped[str] = mapped_column(String(3))
    contract: Mapped[str | None] = mapped_column(String(64))
    # False: calls through this carrier carry no display name (staff names stay inside).
    send_names: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PhoneNumber(Base):
    """A DID in E.164, owned through a carrier contract, paid for by a branch.

    The route belongs to the number, not to the carrier.
    """

    __tablename__ = "numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    carrier_id: Mapped[int] = mapped_column(
        ForeignKey("carriers.id", ondelete="RESTRICT"), index=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="RESTRICT"), index=True)
    monthly_fee: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    contract: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(64))
    after_hours: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    carrier: Mapped[Carrier] = relationship()
    branch: Mapped[Branch] = relationship()


class NumberPeriod(Base):
    """One stretch of a number's life with the same carrier, branch and route.

    ``valid_to`` is None for the current period; the cost report prorates rental by these.
    """

    __tablename__ = "number_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str] = mapped_column(String(16), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    branch: Mapped[str] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(64))
    monthly_fee: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboundPolicy(Base):
    """How a branch's phones call out: dialing rules, allowed classes, carriers in order."""

    __tablename__ = "outbound_policies"

    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True)
    country_code: Mapped[str] = mapped_column(String(3))
    national_prefix: Mapped[str] = mapped_column(String(3))
    international_prefix: Mapped[str] = mapped_column(String(4))
    allowed_classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    carriers: Mapped[list[str]] = mapped_column(JSON, default=list)
    caller_id: Mapped[str | None] = mapped_column(String(16))
    allow_foreign_caller_id: Mapped[bool] = mapped_column(Boolean, default=False)
    # The brakes (issue 13): concurrent calls (None: no limit), the longest call per class
    # in seconds, and the classes that still go out after hours (None: every allowed one).
    max_calls: Mapped[int | None] = mapped_column(Integer)
    max_seconds: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    after_hours_classes: Mapped[list[str] | None] = mapped_column(JSON)

    branch: Mapped[Branch] = relationship(back_populates="outbound")


class BusinessHours(Base):
    """One opening interval of a branch on one weekday (1 = Monday … 7 = Sunday)."""

    __tablename__ = "business_hours"
    __table_args__ = (CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday"),
                      CheckConstraint("opens < closes", name="interval"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[str] = mapped_column(String(5))   # "09:00", branch local time
    closes: Mapped[str] = mapped_column(String(5))  # "18:00"


class Holiday(Base):
    """A date on which a branch is closed all day (branch local date)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("branch_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str | None] = mapped_column(String(64))


class NumberingPrefix(Base):
    """Numbering plan: an E.164 prefix (digits) and the destination class it belongs to."""

    __tablename__ = "numbering_plan"

    prefix: Mapped[str] = mapped_column(String(15), primary_key=True)
    dest_class: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(64))


class RateDeck(Base):
    """One version of a carrier's price list, valid from a date (UTC) on."""

    __tablename__ = "rate_decks"
    __table_args__ = (UniqueConstraint("carrier_id", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    carrier_id: Mapped[int] = mapped_column(
        ForeignKey("carriers.id", ondelete="RESTRICT"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(255))
    checksum: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    carrier: Mapped[Carrier] = relationship()
    rates: Mapped[list[Rate]] = relationship(cascade="all, delete-orphan",
                                             passive_deletes=True)


class Rate(Base):
    """A price for calls to numbers starting with ``prefix`` (E.164 digits, no '+')."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("deck_id", "prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("rate_decks.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(15))
    destination: Mapped[str] = mapped_column(String(64))
    rate_per_minute: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    connect_fee: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    min_seconds: Mapped[int] = mapped_column(Integer)
    increment_seconds: Mapped[int] = mapped_column(Integer)


class Cdr(Base):
    """A call record from Asterisk, classified and (for outbound calls) rated.

    ``key`` is the primary key: node, Asterisk uniqueid and sequence, or a hash of the row
    for files without them, so the same call arriving twice is stored once. ``start`` has
    a BRIN index on PostgreSQL: rows arrive roughly in time order, and a bulk import keeps
    only two indexes up to date.
    """

    __tablename__ = "cdrs"
    __table_args__ = (Index("ix_cdrs_start", "start", postgresql_using="brin",
                            postgresql_with={"autosummarize": "on"}),)

    key: Mapped[str] = mapped_column(
        String(128).with_variant(String(128, collation="C"), "postgresql"), primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    answer: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    src: Mapped[str] = mapped_column(String(80))
    dst: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(80))
    dstchannel: Mapped[str] = mapped_column(String(80))
    disposition: Mapped[str] = mapped_column(String(16))
    duration: Mapped[int] = mapped_column(Integer)
    billsec: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))  # outbound, inbound, internal
    carrier: Mapped[str | None] = mapped_column(String(32))
    destination: Mapped[str | None] = mapped_column(String(32))
    charged_seconds: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    prefix: Mapped[str | None] = mapped_column(String(15))
    deck_id: Mapped[int | None] = mapped_column(Integer)
    unrated_reason: Mapped[str | None] = mapped_column(String(64))


class CostTotal(Base):
    """The outbound calls with billable seconds of one department, currency and quarter
    hour (UTC): what ``report costs`` adds up. Every write to ``cdrs`` keeps it exact in
    the same transaction. A quarter hour because every zone's midnight falls on one;
    ``quarter_hour`` counts them from 1970-01-01 UTC. ``currency`` is empty for calls no
    deck priced."""

    __tablename__ = "cost_totals"

    quarter_hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)             # priced calls
    billsec: Mapped[int] = mapped_column(BigInteger)           # of the priced calls
    charged_seconds: Mapped[int] = mapped_column(BigInteger)   # of the priced calls
    cost: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    unrated: Mapped[int] = mapped_column(BigInteger)           # calls no deck priced


class QuarantinedCdr(Base):
    """A CDR line that could not be read, kept with where it came from and why."""

    __tablename__ = "cdr_quarantine"
    __table_args__ = (UniqueConstraint("source", "line", "raw_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(255))
    raw: Mapped[str] = mapped_column(Text)
    raw_hash: Mapped[str] = mapped_column(String(64))
    quarantined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CrisisSwitch(Base):
    """A branch whose numbers all go to one destination at once (kept in AstDB too)."""

    __tablename__ = "crisis_switches"

    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True)
    destination: Mapped[str] = mapped_column(String(64))
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    branch: Mapped[Branch] = relationship()


class RecordingRule(Base):
    """Record incoming calls of a number, a branch or an extension (kept in AstDB too)."""

    __tablename__ = "recording_rules"
    __table_args__ = (UniqueConstraint("scope", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # number, branch, ext
    target: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CallQueue(Base):
    """A branch's call queue: who answers, how long callers wait, its service level."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    strategy: Mapped[str] = mapped_column(String(16))
    members: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_wait: Mapped[int] = mapped_column(Integer)
    service_level: Mapped[int] = mapped_column(Integer)
    target_percent: Mapped[int] = mapped_column(Integer)
    overflow: Mapped[str | None] = mapped_column(String(64))

    branch: Mapped[Branch] = relationship()

    @property
    def ref(self) -> str:
        """``branch/name`` as destinations and the CLI write it."""
        return f"{self.branch.slug}/{self.name}"


class QueueCall(Base):
    """One caller's stay in a queue: when they came, how long they waited, how it ended.

    ``key`` is the node and the caller's call id, so queue_log backfill and live events
    store a call once.
    """

    __tablename__ = "queue_calls"
    __table_args__ = (Index("ix_queue_calls_entered_queue", "entered_at", "queue"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    node: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(80))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # answered, abandoned, timeout, empty
    wait_seconds: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(32))


class ApiToken(Base):
    """A bearer token for the HTTP API; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin, accountant, viewer
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CdrFilePosition(Base):
    """How far a node's Master.csv has been read by the automatic backfill."""

    __tablename__ = "cdr_file_positions"
    __table_args__ = (UniqueConstraint("node", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(4096))
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Webhook(Base):
    """An HTTP endpoint that is told about calls; payloads are signed with its secret."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(200))  # comma-separated event names
    branch: Mapped[str | None] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(Sealed)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookMessage(Base):
    """One event for one webhook, kept until delivered (the persistent outbox)."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (UniqueConstraint("webhook_id", "event_key"),
                      Index("ix_webhook_outbox_due", "state", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(200))  # the same event is queued once
    payload: Mapped[str] = mapped_column(Text)           # the exact JSON body that is signed
    state: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class VoicemailMail(Base):
    """A new voicemail message as the mail serve sends (the persistent voicemail outbox):
    queued once per message, kept after it is sent or given up."""

    __tablename__ = "voicemail_mails"
    __table_args__ = (UniqueConstraint("node", "message_key"),
                      Index("ix_voicemail_mails_due", "state", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    message_key: Mapped[str] = mapped_column(String(200))  # <mailbox>/<Asterisk's msg_id>
    mailbox: Mapped[str] = mapped_column(String(6))
    recipient: Mapped[str] = mapped_column(String(254))
    mail: Mapped[str] = mapped_column(Text)                # the whole MIME message, ASCII
    state: Mapped[str] = mapped_column(String(16), default="pending")  # sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class WebhookAttempt(Base):
    """The delivery log: every attempt, its answer or error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_outbox.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer)   # HTTP status, when one came back
    error: Mapped[str | None] = mapped_column(String(500))
    milliseconds: Mapped[int] = mapped_column(Integer)


class SecurityBan(Base):
    """A source address refused by every node's SIP service, until ``expires_at`` or
    until lifted (``lifted_at``, by ``lifted_by``: an operator, or ``expiry``)."""

    __tablename__ = "security_bans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(45), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(Integer)
    banned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(64))


class DepartmentLimit(Base):
    """A department's monthly spend cap: outbound calls priced in ``currency`` from the
    first of its month (in its own zone); a warning at ``warn_percent`` of it."""

    __tablename__ = "department_limits"

    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    monthly_cap: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    warn_percent: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SpendState(Base):
    """What the spend brake did for a department in one month (its own zone's): when it
    warned, when it blocked outbound calls (kept in AstDB too), and an unblock in force
    until ``lifted_until``."""

    __tablename__ = "spend_states"

    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)     # 2026-11
    spent: Mapped[Decimal] = mapped_column(Numeric(20, 4), default=Decimal(0))
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
