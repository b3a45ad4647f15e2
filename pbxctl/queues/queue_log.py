"""Reading Asterisk's queue_log: one record per caller's stay in a queue. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# event -> index of the field that holds the caller's wait in seconds, and the outcome
_ENDINGS = {"CONNECT": (5, "answered"), "ABANDON": (7, "abandoned"),
            "EXITWITHTIMEOUT": (7, "timeout"), "EXITEMPTY": (7, "empty"),
            "EXITWITHKEY": (7, "timeout")}


@dataclass(frozen=True)
class QueueStay:
    """A caller's stay in a queue."""

    callid: str
    queue: str
    entered_at: datetime
    outcome: str
    wait_seconds: int
    agent: str | None


@dataclass(frozen=True)
class BadLine:
    """A queue_log line that could not be read."""

    line: int
    reason: str


def read_queue_log(text: str) -> tuple[list[QueueStay], list[BadLine]]:
    """Every finished stay in the log (a caller still waiting at its end is left out)."""
    entered: dict[str, int] = {}
    stays: list[QueueStay] = []
    bad: list[BadLine] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 5 or not fields[0].isdigit():
            bad.append(BadLine(number, "not a queue_log line"))
            continue
        epoch, callid, queue, agent, event = (int(fields[0]), *fields[1:5])
        if event == "ENTERQUEUE":
            entered[callid] = epoch
            continue
        ending = _ENDINGS.get(event)
        if ending is None:
            continue
        index, outcome = ending
        try:
            wait = int(fields[index])
        except (IndexError, ValueError):
            bad.append(BadLine(number, f"{event} without a wait time"))
            continue
        start = entered.pop(callid, epoch - wait)
        stays.append(QueueStay(callid, queue, datetime.fromtimestamp(start, UTC), outcome,
                               wait, agent if outcome == "answered" else None))
    return stays, bad
