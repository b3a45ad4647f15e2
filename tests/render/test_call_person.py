"""A caller trying to reach a person who does not take the call leaves a message (issue 15):
the call-person subroutine rings the phone, then sends the caller to the mailbox with the
busy or the unavailable greeting. Queue agents and the legs of a ring group are only rung:
a mailbox must never take their calls. The live proof is in
tests/integration/test_voicemail_missed_live.py."""

from __future__ import annotations

import dataclasses
import re

from pbxctl import names
from pbxctl.destinations import Destination
from pbxctl.render import TemplateSet, render_node
from pbxctl.render.model import NodeConfig
from tests.render.test_golden import company_node

N = names.ASTERISK


def _dialplan(node: NodeConfig) -> str:
    return render_node(node, TemplateSet()).files["extensions.conf"]


DIALPLAN = _dialplan(company_node())


def _context(name: str, dialplan: str = DIALPLAN) -> str:
    match = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", dialplan,
                      re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(1)


def _contexts_calling(target: str, dialplan: str = DIALPLAN) -> set[str]:
    """The contexts holding a Gosub into ``target``."""
    return {name for name, body in re.findall(r"^\[([^\]]+)\]\n(.*?)(?=^\[|\Z)", dialplan,
                                              re.MULTILINE | re.DOTALL)
            if f"Gosub({target},s,1(" in body}


def test_the_subroutine_sends_whom_the_phone_did_not_reach_to_their_mailbox() -> None:
    body = _context(N.call_person)
    mailbox = f"${{ext}}@{N.voicemail_context}"
    assert body.startswith("exten => s,1,Set(LOCAL(ext)=${FILTER(0123456789,${ARG1})})\n")
    # Only a number with a mailbox goes there; one without is rung as before.
    assert f'GotoIf($["${{ext}}" != "" & 0${{VM_INFO({mailbox},exists)}}]?mailbox)' in body
    assert (f" same => n,Gosub({N.dial_phone},s,1(${{ext}},${{ARG2}}))\n"
            " same => n,Return()\n") in body
    # The phone rings with the offline case returned, not hung up.
    assert f" same => n(mailbox),Gosub({N.dial_phone},s,1(${{ext}},${{ARG2}},1))\n" in body
    busy = body.index('"${DIALSTATUS}" = "BUSY"]?busy)')
    unavailable = body.index('"${DIALSTATUS}" = "NOANSWER" | "${DIALSTATUS}" = "CHANUNAVAIL"'
                             ' | "${DIALSTATUS}" = "CONGESTION"]?unavailable)')
    answered = body.index(" same => n,Return()\n same => n(busy),")   # ANSWER and the rest
    assert busy < unavailable < answered
    assert re.search(rf"n\(busy\),Log\(.*\n same => n,VoiceMail\({re.escape(mailbox)},b\)\n",
                     body)
    assert re.search(rf"n\(unavailable\),Log\(.*\n same => n,VoiceMail\({re.escape(mailbox)}"
                     r",u\)\n", body)


def test_a_phone_with_no_device_online_returns_to_the_subroutine_only_when_asked() -> None:
    body = _context(N.dial_phone)
    assert (' same => n(offline),GotoIf($["${ARG3}" = "1"]?unreachable)\n'
            " same => n,Hangup(20)\n"
            " same => n(unreachable),Set(DIALSTATUS=CHANUNAVAIL)\n"
            " same => n,Return()\n") in body


def test_people_are_called_through_it_and_queue_agents_and_ring_groups_are_not() -> None:
    node = dataclasses.replace(company_node(), numbers=tuple(
        dataclasses.replace(n, after_hours=Destination("ext", "202"))
        if n.e164 == "+78435550101" else n for n in company_node().numbers), queues=tuple(
        dataclasses.replace(q, overflow=Destination("ext", "202"))
        for q in company_node().queues))
    dialplan = _dialplan(node)
    assert _contexts_calling(N.dial_phone, dialplan) == {
        N.call_person, N.queue_agent, N.ring_phone}
    assert _contexts_calling(N.call_person, dialplan) == {
        N.extensions, N.numbers, N.crisis}
    # Each phone dialled by its number; the crisis switch's extension.
    extensions = _context(N.extensions, dialplan)
    for number in ("201", "202", "301"):
        assert f"exten => {number},1,Gosub({N.call_person},s,1({number},30))" in extensions
    assert (f" same => n(ext),Gosub({N.call_person},s,1(${{FILTER(0123456789,"
            f"${{PBXCTL_TARGET}})}},30))") in _context(N.crisis, dialplan)
    # A number's route, its after-hours route and a queue's overflow to an extension.
    numbers = _context(N.numbers, dialplan)
    assert f" same => n,Gosub({N.call_person},s,1(201,30))\n" in numbers
    assert f" same => n(closed),Gosub({N.call_person},s,1(202,30))\n" in numbers
    assert (f" same => n,Queue({N.queue_section('kazan', 'sales')},,,,45)\n"
            f" same => n,Gosub({N.call_person},s,1(202,30))\n") in numbers
    # A queue's agents and a branch's phones ringing at once: never a mailbox.
    assert "VoiceMail" not in _context(N.queue_agent, dialplan)
    assert "VoiceMail" not in _context(N.ring_phone, dialplan)
    assert f"Dial(Local/201@{N.ring_phone}&Local/202@{N.ring_phone},30)" in dialplan
