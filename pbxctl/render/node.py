"""Render every file pbxctl owns on a node."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pbxctl import ami_rights, names
from pbxctl.destinations import Destination
from pbxctl.numbering import WARNING_SECONDS
from pbxctl.render import dialplan
from pbxctl.render.edge import INTERNAL_HEADER
from pbxctl.render.manager import manager_acl
from pbxctl.render.model import NodeConfig
from pbxctl.render.pjsip import branch_context, carrier_context, endpoint_names, pjsip_sections
from pbxctl.render.templates import TemplateSet

# Output file -> template. pbxctl owns these files in the node's config directory.
OUTPUT_FILES: dict[str, str] = {
    "asterisk.conf": "asterisk.conf.j2",
    "modules.conf": "modules.conf.j2",
    "logger.conf": "logger.conf.j2",
    "manager.conf": "manager.conf.j2",
    "acl.conf": "acl.conf.j2",
    "stasis.conf": "stasis.conf.j2",
    "pjproject.conf": "pjproject.conf.j2",
    "rtp.conf": "rtp.conf.j2",
    "udptl.conf": "udptl.conf.j2",
    "indications.conf": "indications.conf.j2",
    "ccss.conf": "ccss.conf.j2",
    "cel.conf": "cel.conf.j2",
    "cdr.conf": "cdr.conf.j2",
    "cdr_manager.conf": "cdr_manager.conf.j2",
    "features.conf": "features.conf.j2",
    "queuerules.conf": "queuerules.conf.j2",
    "queues.conf": "queues.conf.j2",
    "pjsip.conf": "pjsip.conf.j2",
    names.ASTERISK.bans_file: "pjsip_bans.conf.j2",
    "extensions.conf": "extensions.conf.j2",
    "voicemail.conf": "voicemail.conf.j2",
}


@dataclass(frozen=True)
class RenderedNode:
    """The files of a node and what Asterisk should show once they are loaded."""

    files: dict[str, str]
    endpoints: tuple[str, ...]
    contexts: tuple[str, ...]


def render_node(node: NodeConfig, templates: TemplateSet) -> RenderedNode:
    """Render all of ``node``'s files; pure apart from reading the templates."""
    context = {
        "node": node,
        "names": names.ASTERISK,
        "manager_acl": manager_acl(node),
        "ami_read": ",".join(ami_rights.read_classes()),
        "ami_events": ami_rights.followed_events(),
        "ami_write": ",".join(ami_rights.write_classes()),
        "pjsip_sections": pjsip_sections(node),
        "branch_context": branch_context,
        "carrier_context": carrier_context,
        "dialable": dialplan.DIALABLE,
        "carrier_dialable": dialplan.CARRIER_DIALABLE,
        "emergency_codes": dialplan.emergency_codes(node),
        "destination_apps": partial(dialplan.destination_apps, node=node),
        "dialing_patterns": dialplan.dialing_patterns,
        "outbound_prefixes": partial(dialplan.outbound_prefixes, node=node),
        "trunk_attempts": partial(dialplan.trunk_attempts, node=node),
        "carrier_number_expr": dialplan.carrier_number_expr,
        "carrier_dids": partial(dialplan.carrier_dids, node=node),
        "hours_conditions": dialplan.hours_conditions,
        "has_brakes": partial(dialplan.has_brakes, node=node),
        "warning_seconds": WARNING_SECONDS,
        "branch_destination": lambda slug: Destination("branch", slug),
        "internal_header": INTERNAL_HEADER,
    }
    files = {name: templates.render(template, **context)
             for name, template in OUTPUT_FILES.items()}
    internal = (names.ASTERISK.extensions,) if node.phones else ()
    numbers = (names.ASTERISK.numbers,) if node.numbers else ()
    edge = (names.ASTERISK.edge_leg, names.ASTERISK.from_edge) if node.edge else ()
    contexts = (*internal, *(branch_context(b.slug) for b in node.branches),
                *(carrier_context(c.slug) for c in node.carriers), *numbers, *edge)
    return RenderedNode(files=files, endpoints=tuple(endpoint_names(node)), contexts=contexts)
