"""The AMI events pbxctl follows, read once into typed values. Pure.

Asterisk sends every event as text fields; :func:`parse_event` turns the few kinds pbxctl
subscribes to into the types below (anything else is None), so the CDR store, the queue
tracker, the call-event reader and the ban keeper never look into raw fields themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pbxctl import names
from pbxctl.addresses import IpAddress
from pbxctl.bans import remote_address
from pbxctl.billing.records import from_ami_event

QUEUE_EVENT_NAMES = {"QueueCallerJoin": "join", "QueueCallerLeave": "leave",
                     "AgentConnect": "connect", "QueueCallerAbandon": "abandon"}
# Security events (class ``security``) that mean a request failed: a brute-force attempt
# shows as these. ChallengeSent, SuccessfulAuth and the rest are not followed.
SECURITY_FAILURE_NAMES = ("InvalidAccountID", "InvalidPassword", "ChallengeResponseFailed",
                          "FailedACL")


@dataclass(frozen=True)
class CdrReported:
    """A call record (``Cdr``), as the normalised row a cdr_csv line also becomes."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class CallStage:
    """The dialplan's ``UserEvent`` about a call to a company number: ringing, answered or
    ended. Values are as Asterisk sent them; readers allow-list what they pass on."""

    call_id: str            # Linkedid (else Uniqueid): every leg of the call shares it
    stage: str
    caller: str = ""
    number: str = ""
    branch: str = ""
    queue: str = ""
    extension: str = ""


@dataclass(frozen=True)
class OutboundLeg:
    """The dialplan's ``UserEvent`` about a call a carrier answered (``answered``, with the
    paying department, the carrier and the number called) or whose carrier leg ended
    (``ended``). ``channel`` names the carrier leg. Values are as Asterisk sent them."""

    channel: str
    stage: str
    department: str = ""
    carrier: str = ""
    number: str = ""


@dataclass(frozen=True)
class QueueEvent:
    """A caller in a queue: ``join``, ``leave``, ``connect`` (to an agent) or ``abandon``."""

    kind: str
    caller: str             # the caller's Uniqueid
    queue: str = ""
    hold_seconds: str = ""
    agent: str = ""


@dataclass(frozen=True)
class SecurityFailure:
    """A failed request reported by Asterisk's security events: its kind (the event's
    name), the service (``PJSIP``, ``AMI``), the account tried and where it came from.
    ``address`` is None when ``RemoteAddress`` is not an IP address and port."""

    kind: str
    service: str
    account: str
    address: IpAddress | None


AmiEvent = CdrReported | CallStage | OutboundLeg | QueueEvent | SecurityFailure
OUTBOUND_STAGE_PREFIX = "outbound "        # Stage: outbound answered | outbound ended


def parse_event(raw: Mapping[str, str]) -> AmiEvent | None:
    """The typed event ``raw`` is, or None for one pbxctl does not follow."""
    name = raw.get("Event", "")
    if name == "Cdr":
        return CdrReported(tuple(from_ami_event(raw)))
    if name == "UserEvent":
        if raw.get("UserEvent") != names.ASTERISK.user_event:
            return None
        stage = raw.get("Stage", "")
        if stage.startswith(OUTBOUND_STAGE_PREFIX):
            return OutboundLeg(raw.get("Channel", ""), stage[len(OUTBOUND_STAGE_PREFIX):],
                               raw.get("Department", ""), raw.get("Carrier", ""),
                               raw.get("Number", ""))
        return CallStage(raw.get("Linkedid") or raw.get("Uniqueid") or "",
                         raw.get("Stage", ""), raw.get("CallerIDNum", ""),
                         raw.get("Number", ""), raw.get("Branch", ""), raw.get("Queue", ""),
                         raw.get("Extension", ""))
    if name in QUEUE_EVENT_NAMES:
        return QueueEvent(QUEUE_EVENT_NAMES[name], raw.get("Uniqueid", ""),
                          raw.get("Queue", ""), raw.get("HoldTime", ""),
                          raw.get("MemberName", ""))
    if name in SECURITY_FAILURE_NAMES:
        return SecurityFailure(name, raw.get("Service", ""), raw.get("AccountID", ""),
                               remote_address(raw.get("RemoteAddress", "")))
    return None
