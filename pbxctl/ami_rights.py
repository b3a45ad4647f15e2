"""The AMI rights pbxctl needs, from the actions it sends and the events it follows. Pure.

manager.conf's ``read =``, ``write =`` and ``eventfilter`` lines for pbxctl's user are
rendered from these two tables and nothing else (tests/unit/test_ami_rights.py holds the
tables to the source).

Asterisk 22 runs an action for a user whose ``write`` classes include *any one* of the
classes the action was registered with (``writeperm & authority``, main/manager.c
``process_message``); an action registered with none runs for every logged-in user. It
sends an event of a class only to a user whose ``read`` includes that class and who asked
for it in the Login's ``Events`` mask (``send_events = readperm & mask``,
main/manager.c ``set_eventmask``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pbxctl.ami_events import QUEUE_EVENT_NAMES, SECURITY_FAILURE_NAMES


@dataclass(frozen=True)
class ActionRight:
    """An AMI action: the classes Asterisk accepts for it, the one pbxctl grants for it
    (None when it needs none), and where Asterisk 22 registers it."""

    accepts: tuple[str, ...]
    grants: str | None
    source: str


# Every action pbxctl sends. When several classes would do, the narrowest is granted:
# `system` is needed anyway (ModuleLoad, PJSIPShowEndpoints, DBPut), so Reload takes it
# rather than `config` (which would let the user rewrite any file with UpdateConfig), and
# ShowDialPlan takes the read-only `reporting`. Never granted: `command` (any CLI command),
# `originate` (calls billed to the company), `config`, `call`, `user`, `dialplan`.
# `system` still allows other actions (GetConfig reads /etc/asterisk, DBDelTree, Hangup,
# ModuleLoad of any module): the AMI secret stays a secret, and AMI stays on loopback.
ACTIONS: dict[str, ActionRight] = {
    "Login": ActionRight((), None, "main/manager.c (sent by panoramisk on connect)"),
    "Logoff": ActionRight((), None, "main/manager.c"),
    "Ping": ActionRight((), None, "main/manager.c"),
    "Reload": ActionRight(("config", "system"), "system", "main/manager.c"),
    "ModuleCheck": ActionRight(("system",), "system", "main/manager.c"),
    "ModuleLoad": ActionRight(("system",), "system", "main/manager.c"),
    "CoreShowChannels": ActionRight(("system", "reporting"), "system", "main/manager.c"),
    "ShowDialPlan": ActionRight(("config", "reporting"), "reporting", "main/pbx.c"),
    "DBGet": ActionRight(("system", "reporting"), "system", "main/db.c"),
    "DBGetTree": ActionRight(("system", "reporting"), "system", "main/db.c"),
    "DBPut": ActionRight(("system",), "system", "main/db.c"),
    "DBDel": ActionRight(("system",), "system", "main/db.c"),
    "PJSIPShowEndpoints": ActionRight(("system",), "system",
                                      "res/res_pjsip/pjsip_configuration.c"),
    "QueueStatus": ActionRight((), None, "apps/app_queue.c"),
    "QueueAdd": ActionRight(("agent",), "agent", "apps/app_queue.c"),
    "QueueRemove": ActionRight(("agent",), "agent", "apps/app_queue.c"),
    "QueuePause": ActionRight(("agent",), "agent", "apps/app_queue.c"),
}

# Every event the follower listens to, and its class: Cdr (cdr/cdr_manager.c), UserEvent
# (main/stasis.c), the queue callers' events (apps/app_queue.c). Add an event here and
# both the Login's Events mask and manager.conf's `read` follow.
FOLLOWED_EVENTS: dict[str, str] = {
    "Cdr": "cdr",
    "UserEvent": "user",
    **{name: "agent" for name in sorted(QUEUE_EVENT_NAMES)},
    **{name: "security" for name in sorted(SECURITY_FAILURE_NAMES)},
}


def write_classes() -> tuple[str, ...]:
    """manager.conf's ``write`` classes: one granted for each action that needs one."""
    return tuple(sorted({a.grants for a in ACTIONS.values() if a.grants is not None}))


def followed_events() -> tuple[str, ...]:
    """The events manager.conf lets through to pbxctl's user (``eventfilter`` lines, by
    name: Asterisk drops every other event of the read classes before sending it, such
    as the ChallengeSent and SuccessfulAuth of every authenticated call)."""
    return tuple(sorted(FOLLOWED_EVENTS))


def read_classes() -> tuple[str, ...]:
    """manager.conf's ``read`` classes (and the Login's Events mask): those of the
    followed events."""
    return tuple(sorted(set(FOLLOWED_EVENTS.values())))
