"""Dialplan building blocks computed in Python, laid out by dialplans/extensions.conf.j2.

Every string produced here is made of validated names and numbers only.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbxctl import names
from pbxctl.destinations import Destination
from pbxctl.numbering import NumberFormat, class_for_branch
from pbxctl.render.model import BranchConfig, CarrierConfig, NodeConfig

DIALABLE = "0123456789+*#"
# What may reach a carrier: digits, after a '+' for E.164 (never '*' or '#').
CARRIER_DIALABLE = "0123456789+"


@dataclass(frozen=True)
class OutboundPrefix:
    """One numbering-plan prefix as a branch sees it: its class, whether the branch may
    call it, which brake a call passes first (``hours``: the night rule, then the channel
    limit; ``calls``: the channel limit only; None: none) and its longest call in seconds."""

    pattern: str
    dest_class: str
    allowed: bool
    brake: str | None = None
    limit_seconds: int | None = None


@dataclass(frozen=True)
class DialingPattern:
    """A pattern of what phones dial and the E.164 expression it becomes."""

    pattern: str
    e164: str


@dataclass(frozen=True)
class TrunkAttempt:
    """One carrier tried, in order, with the caller ID as that carrier expects it."""

    carrier: str
    caller_id: str


def destination_apps(dest: Destination, owner: str, node: NodeConfig) -> list[str]:
    """Dialplan applications that deliver a call to ``dest``; ``owner`` is the branch that
    pays for outbound legs (forwards to external numbers)."""
    ring = node.ring_seconds
    name = names.ASTERISK
    if dest.kind == "ext" and dest.target in node.remote_extensions:
        return [f"Goto({name.extensions},{dest.target},1)"]     # through the edge
    if dest.kind == "ext":
        return [f"Gosub({name.call_person},s,1({dest.target},{ring}))"]
    if dest.kind == "voicemail":
        return [f"VoiceMail({dest.target}@{name.voicemail_context},u)"]
    if dest.kind == "branch":
        phones = [p.number for p in node.phones if p.branch == dest.target]
        if not phones:
            return ["Hangup(20)"]
        targets = "&".join(f"Local/{n}@{name.ring_phone}" for n in phones)
        return [f"Dial({targets},{ring})"]
    if dest.kind == "external":
        return [f"Goto({name.forward_prefix}{owner},{dest.target},1)"]
    if dest.kind == "hangup":
        return ["Hangup(21)"]
    if dest.kind == "queue":
        queue = node.queue(dest.target)
        overflow = (destination_apps(queue.overflow, owner, node) if queue.overflow
                    else ["Hangup(34)"])
        return [f"Queue({queue.section},,,,{queue.max_wait})", *overflow]
    raise ValueError(f"destination {dest} cannot be rendered on node {node.name}")


def dialing_patterns(branch: BranchConfig) -> list[DialingPattern]:
    """How what a branch's phones dial becomes E.164 (most specific pattern first).

    Each pattern ends in ``!`` (any number of characters, none too), so the longest
    dialing prefix decides however short the rest is; ``*`` and ``#`` are refused later,
    before a carrier."""
    if branch.outbound is None:
        return []
    rules = branch.outbound.dialing
    intl, natl = rules.international_prefix, rules.national_prefix
    return [
        DialingPattern("_+!", "${EXTEN}"),
        DialingPattern(f"_{intl}!", f"+${{EXTEN:{len(intl)}}}"),
        DialingPattern(f"_{natl}!", f"+{rules.country_code}${{EXTEN:{len(natl)}}}"),
    ]


def outbound_prefixes(branch: BranchConfig, node: NodeConfig) -> list[OutboundPrefix]:
    """Every E.164 prefix of the numbering plan with its class for this branch.

    A prefix's pattern ends in ``!`` (any number of digits, none too): Asterisk prefers
    the longest literal prefix, so a number is classed by its longest prefix however
    short it is. (``_+7809X.`` wanted two more digits, and ``+78091`` went to ``_+7X.``.)"""
    if branch.outbound is None:
        return []
    policy = branch.outbound
    country = policy.dialing.country_code
    allowed = set(policy.allowed_classes)
    result = []
    for entry in sorted(node.numbering_plan, key=lambda e: (-len(e.prefix), e.prefix)):
        if entry.dest_class == "emergency":
            continue
        dest_class = class_for_branch(entry, country)
        result.append(OutboundPrefix(f"_+{entry.prefix}!", dest_class, dest_class in allowed,
                                     _brake(branch, dest_class),
                                     policy.limit_seconds(dest_class)))
    return result


def _brake(branch: BranchConfig, dest_class: str) -> str | None:
    """Where a call of ``dest_class`` enters the branch's brakes context, if at all."""
    policy = branch.outbound
    assert policy is not None
    if (branch.has_schedule and policy.after_hours_classes is not None
            and dest_class not in policy.after_hours_classes):
        return "hours"
    return "calls" if policy.max_calls else None


def has_brakes(branch: BranchConfig, node: NodeConfig) -> bool:
    """Whether any call of the branch passes its brakes context."""
    return any(p.allowed and p.brake for p in outbound_prefixes(branch, node))



def emergency_codes(node: NodeConfig) -> list[str]:
    """Short emergency numbers every phone may always dial."""
    return sorted(e.prefix for e in node.numbering_plan if e.dest_class == "emergency")


def trunk_attempts(branch: BranchConfig, node: NodeConfig) -> list[TrunkAttempt]:
    """The carriers a branch's calls try, in order, each with the caller ID in its format.

    A branch without a policy still reaches emergency numbers through every carrier.
    """
    if branch.outbound is not None and branch.outbound.carriers:
        order = [c for c in branch.outbound.carriers if any(x.slug == c for x in node.carriers)]
    else:
        order = [c.slug for c in node.carriers]
    caller = branch.outbound.caller_id if branch.outbound else None
    return [TrunkAttempt(slug, node.carrier(slug).number_format.render(caller) if caller
                         else "") for slug in order]


def carrier_number_expr(number_format: NumberFormat) -> str:
    """A dialplan expression turning ``${num}`` (E.164 or a short code) into the carrier's
    form at call time."""
    if number_format.kind == "plus":
        return "${num}"
    strip_plus = '${IF($["${num:0:1}" = "+"]?${num:1}:${num})}'
    if number_format.kind == "e164":
        return strip_plus
    cc = number_format.country_code
    return (f'${{IF($["${{num:0:{len(cc) + 1}}}" = "+{cc}"]?${{num:{len(cc) + 1}}}:'
            f'{strip_plus})}}')


def carrier_dids(carrier: CarrierConfig, node: NodeConfig) -> list[tuple[str, str]]:
    """(called number as the carrier sends it, E.164) for every number it serves here."""
    pairs: dict[str, str] = {}
    for number in node.numbers:
        if number.carrier == carrier.slug:
            for form in carrier.number_format.inbound_forms(number.e164):
                pairs[form] = number.e164
    return sorted(pairs.items())


def hours_conditions(branch: BranchConfig) -> list[str]:
    """Expression conditions (on ``wd`` 1-7 and ``hm`` HHMM) under which the branch is open."""
    return [f"${{wd}} = {h.weekday} & ${{hm}} >= {h.opens.replace(':', '')} & "
            f"${{hm}} < {h.closes.replace(':', '')}" for h in branch.hours]
