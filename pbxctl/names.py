"""Every name pbxctl shares with Asterisk, defined once.

Dialplan contexts, queue sections and members, AstDB families and keys, the UserEvent the
dialplan sends, the recording file prefix and the PJSIP transports. The templates get
these as ``names`` and never spell them out (a test reads them to make sure); the live
code (crisis switch, recording, queue members, status, webhook events) reads the same
object, through this module, when it runs. Rename something here and both change.

Names never collide, by construction. A context of an object is ``pbxctl-<kind>-<slug>``
where ``<kind>`` is one word (no ``-``) given to one kind only and to no fixed context, so
reading up to the second ``-`` tells the kind and the rest is the slug. A queue's name
doubles every ``-`` of its branch's slug and joins it to the queue's slug with a single
``-``, which only the joint can be (slugs neither start nor end with ``-``). Phone
endpoints are digits, carrier endpoints slugs (starting with a letter), the edge's
endpoint holds a ``_`` no slug has; AstDB record keys
are a one-word scope, ``-`` and the target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AsteriskNames:
    """The names; fields ending in ``_prefix`` are followed by a branch or carrier slug."""

    # Dialplan contexts pbxctl writes.
    dial_phone: str = "pbxctl-dial-phone"
    call_person: str = "pbxctl-call-person"       # dial_phone, then the person's mailbox
    answered: str = "pbxctl-answered"
    call_ended: str = "pbxctl-call-ended"
    out_answered: str = "pbxctl-leg-answered"
    out_ended: str = "pbxctl-leg-ended"
    record: str = "pbxctl-record"
    crisis: str = "pbxctl-crisis"
    spend_blocked: str = "pbxctl-spend-blocked"
    ring_branch: str = "pbxctl-ring-branch"
    queue_agent: str = "pbxctl-queue-agent"
    ring_phone: str = "pbxctl-ring-phone"
    present_caller_id: str = "pbxctl-present-caller-id"
    limit_reached: str = "pbxctl-limit-reached"
    extensions: str = "pbxctl-extensions"
    from_edge: str = "pbxctl-edge-calls"          # calls from another node, via the edge
    edge_leg: str = "pbxctl-edge-leg"              # pre-dial handler of a leg to the edge
    numbers: str = "pbxctl-numbers"
    from_branch_prefix: str = "pbxctl-from-"
    from_carrier_prefix: str = "pbxctl-inbound-"
    dialed_prefix: str = "pbxctl-dialed-"
    out_prefix: str = "pbxctl-out-"
    trunks_prefix: str = "pbxctl-trunks-"
    forward_prefix: str = "pbxctl-forward-"
    hours_prefix: str = "pbxctl-hours-"
    brakes_prefix: str = "pbxctl-brakes-"
    dids_prefix: str = "pbxctl-dids-"
    trunk_prefix: str = "pbxctl-trunk-"
    hints_prefix: str = "pbxctl-hints-"            # busy lamps a branch's phones may watch
    # Other Asterisk objects.
    carrier_group: str = "pbxctl-carrier"          # GROUP() category counting carrier calls
    branch_group: str = "pbxctl-branch"            # GROUP() category: a branch's calls out
    voicemail_context: str = "pbxctl"              # voicemail.conf context of the mailboxes
    queue_prefix: str = "q-"                       # queues.conf sections, see queue_section
    udp_transport: str = "pbxctl-udp"
    tcp_transport: str = "pbxctl-tcp"
    edge_endpoint: str = "pbxctl_edge"             # the edge (``_``: never a carrier slug)
    bans_acl: str = "pbxctl-bans"                  # PJSIP ACL (type=acl) of banned sources
    bans_file: str = "pjsip_bans.conf"             # holds it, included by pjsip.conf
    # Run-time state and events.
    crisis_family: str = "pbxctl-crisis"           # AstDB: <branch> -> kind/target
    record_family: str = "pbxctl-record"           # AstDB: <scope>-<target> -> 1
    spend_family: str = "pbxctl-spend"             # AstDB: <department> -> blocked
    # Asterisk's own (app_queue, persistentmembers=yes): <queue> -> its dynamic members.
    queue_members_family: str = "Queue/PersistentMembers"
    user_event: str = "PbxctlCall"                 # UserEvent announcing a company call
    recording_prefix: str = "pbxctl-"              # MixMonitor file names
    # CDR userfield of a call a brake refused (Master.csv, the AMI Cdr event).
    refused_max_calls: str = "pbxctl:max-calls"    # the branch had its --max-calls out
    refused_after_hours: str = "pbxctl:after-hours"  # its class is not allowed after hours
    cut_max_minutes: str = "pbxctl:max-minutes"    # (a call) cut at its class's limit

    def branch_context(self, slug: str) -> str:
        """Where a branch's phones' calls start."""
        return f"{self.from_branch_prefix}{slug}"

    def hints_context(self, slug: str) -> str:
        """The hints (extension states) a branch's phones may subscribe to: their own
        branch's extensions, no one else's."""
        return f"{self.hints_prefix}{slug}"

    def carrier_context(self, slug: str) -> str:
        """Where a carrier's incoming calls start."""
        return f"{self.from_carrier_prefix}{slug}"

    def queue_section(self, branch: str, name: str) -> str:
        """A queue's name in Asterisk (its queues.conf section): ``q-kazan-sales``, and
        ``q-north--west-sales`` for queue ``sales`` of branch ``north-west``, so that no two
        queues share a name (``ab-cd/ef`` is ``q-ab--cd-ef``, ``ab/cd-ef`` is ``q-ab-cd-ef``)."""
        return f"{self.queue_prefix}{branch.replace('-', '--')}-{name}"

    def queue_member(self, extension: str) -> str:
        """How a queue rings an extension: every device of the phone, through a Local
        channel into ``queue_agent``."""
        return f"Local/{extension}@{self.queue_agent}/n"

    def record_key(self, scope: str, target: str) -> str:
        """The AstDB key (in ``record_family``) that switches recording on for a number,
        branch, extension or crisis route."""
        return f"{scope}-{target}"


ASTERISK = AsteriskNames()
