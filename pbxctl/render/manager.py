"""Who may log in to a node's AMI as pbxctl: manager.conf's deny/permit rules. Pure.

Asterisk applies every rule in order and the last one that matches wins, starting from
"allow"; an IPv4 rule never matches an IPv6 client and an IPv6 rule never matches an IPv4
client (an IPv4-mapped client counts as IPv4): main/acl.c ``ast_apply_ha``. So each family
AMI can be reached by gets its own "deny everything", then loopback and the bound address
are permitted.
"""

from __future__ import annotations

import ipaddress

from pbxctl import validation as v
from pbxctl.errors import RenderError, ValidationError
from pbxctl.render.model import NodeConfig

Rule = tuple[str, str]   # ("deny" | "permit", network)

_IPV4: tuple[Rule, ...] = (("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.255"))
_IPV6: tuple[Rule, ...] = (("deny", "::/0"), ("permit", "::1/128"))


def manager_acl(node: NodeConfig) -> tuple[Rule, ...]:
    """The rules for ``node``'s AMI address: a wildcard (0.0.0.0, ::) is reachable over
    both families and permits loopback only; a specific address permits loopback and
    itself, in its own family."""
    try:
        address = ipaddress.ip_address(v.bind_address("ami_host", node.ami_host))
    except ValidationError as exc:
        raise RenderError(f"node {node.name}: {exc.message}; give the node another AMI "
                          "address (pbxctl node set) before applying", field="ami_host") from None
    if address.is_unspecified:
        return _IPV4 + _IPV6
    if isinstance(address, ipaddress.IPv4Address):
        own: Rule = ("permit", f"{address}/255.255.255.255")
        return _IPV4 if own in _IPV4 else (*_IPV4, own)
    own = ("permit", f"{address}/128")
    return _IPV6 if own in _IPV6 else (*_IPV6, own)
