"""The trace: every event of every message, in typed columns, for explaining what happened.

Tracing is off unless asked for (``--trace``); components then hold ``None`` instead of a
recorder and test it before building anything, so a run without a trace pays one attribute
check per event site. A traced run keeps seven numbers per event (about 30 bytes) and turns
them into a DataFrame (and a Parquet file) at the end.
"""

from __future__ import annotations

from array import array
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.clock import Clock
from sim.engine.shapes import Answer, RetryReason
from sim.registry.causes import Cause, DupCause

if TYPE_CHECKING:
    import pandas as pd


class Event(IntEnum):
    """What happened to a message (or, with message -1, to a component)."""

    CREATED = 1
    SENT = 2  # a publish attempt left the producer (detail: attempt)
    LOST = 3  # a copy, ack or commit lost (cause: the Wire)
    DUPLICATED = 4  # a link delivered a copy twice (cause: the Wire)
    STORED = 5  # detail: the copy's number; cause: why a second copy (DupCause)
    DEDUPLICATED = 6  # the broker recognised an attempt it had stored (detail: attempt)
    REJECTED = 7  # a negative ack (detail: attempt; cause: the broker's Answer)
    ACKED = 8  # the producer saw the ack (detail: attempt)
    RETRY = 9  # the producer gave up waiting and will resend (detail: attempt that failed)
    GAVE_UP = 10
    DROPPED = 11  # a component that was down dropped it (cause: the loss Cause)
    EXPIRED = 12  # deleted by retention
    WIPED = 13  # lost in a broker crash
    DELIVERED = 14  # the broker sent a copy to a consumer (cause: why again, DupCause)
    RECEIVED = 15  # a consumer instance got a copy
    APPLIED = 16  # the effect was applied (detail: how many times now; cause: DupCause)
    SKIPPED = 17  # a processed-id store recognised it
    REDELIVERY = 18  # an unacked copy was put back to be sent again (cause: DupCause)
    ACK_SENT = 19  # a consumer acked or committed (detail: offset for a commit)
    CRASH = 20  # a component crashed (message -1) or a copy died with it
    FAILED = 21  # applying the effect failed with an error (retried)
    OUTCOME = 22  # the end of the run: detail 0 delivered, 1 pending, 2 lost, 3 dead-lettered
    ACK_RECEIVED = 23  # the broker got a consumer's ack or commit
    DELETED = 24  # pub/sub: every subscription acked the stored copy, the broker deleted it
    DEAD_LETTERED = 25  # a delivery limit moved it to the dead-letter queue (detail: deliveries)
    DISCARDED = 26  # a delivery limit dropped it, no dead-letter queue (detail: deliveries)
    NACKED = 27  # a poison message: processing failed, the copy was given back unacked


class Wire(IntEnum):
    """Which link lost or duplicated something (the cause of LOST and DUPLICATED)."""

    PUBLISH = 1
    PUBLISH_ACK = 2
    DELIVER = 3
    CONSUME_ACK = 4


DELIVERED, PENDING, LOST, DEAD_LETTERED = 0, 1, 2, 3
"""The outcomes an OUTCOME event's detail names."""


class Tracer:
    """Events of one run, appended to typed columns."""

    def __init__(self, clock: Clock, groups: list[str]):
        self.clock = clock
        self.groups = groups
        self.components: list[str] = []
        self.time = array("d")
        self.event = array("b")
        self.message = array("q")
        self.group = array("h")
        self.where = array("h")
        self.detail = array("i")
        self.cause = array("b")

    def component(self, name: str) -> int:
        """Give a component a lane in the trace; returns its number."""
        self.components.append(name)
        return len(self.components) - 1

    def record(
        self, event: Event, m: int, group: int = -1, where: int = 0, detail: int = 0, cause: int = 0
    ) -> None:
        """Append one event of message ``m`` (or -1: of the component ``where``) at the current
        time."""
        self.time.append(self.clock.now)
        self.event.append(event)
        self.message.append(m)
        self.group.append(group)
        self.where.append(where)
        self.detail.append(detail)
        self.cause.append(cause)

    def frame(self) -> pd.DataFrame:
        """The events as a DataFrame, names instead of codes, in the order they happened."""
        import pandas as pd

        n = len(self.time)
        events = np.frombuffer(self.event, dtype=np.int8, count=n)
        causes = np.frombuffer(self.cause, dtype=np.int8, count=n)
        groups = np.frombuffer(self.group, dtype=np.int16, count=n)
        names = {e.value: e.name.lower() for e in Event}
        frame = pd.DataFrame(
            {
                "time": np.frombuffer(self.time, dtype=np.float64, count=n),
                "event": pd.Categorical.from_codes(
                    events - 1, pd.Index([names[e] for e in sorted(names)])
                ),
                "message": np.frombuffer(self.message, dtype=np.int64, count=n),
                "group": pd.Categorical.from_codes(groups, pd.Index(self.groups))
                if self.groups
                else None,
                "component": pd.Categorical.from_codes(
                    np.frombuffer(self.where, dtype=np.int16, count=n), pd.Index(self.components)
                ),
                "detail": np.frombuffer(self.detail, dtype=np.int32, count=n),
                "cause": _cause_names(events, causes),
            }
        )
        return frame


def _cause_names(events: np.ndarray, causes: np.ndarray) -> pd.Categorical[str]:
    """The cause column as a categorical, naming each distinct (event, cause) pair once."""
    import pandas as pd

    pairs = events.astype(np.int32) * 256 + causes.astype(np.int32)
    unique, codes = np.unique(pairs, return_inverse=True)
    names = [describe_cause(int(p) // 256, int(p) % 256) for p in unique]
    categories = list(dict.fromkeys(names))
    lookup = np.array([categories.index(n) for n in names], dtype=np.int32)
    return pd.Categorical.from_codes(lookup[codes], pd.Index(categories))


def describe_cause(event: int, cause: int) -> str:
    """The name of an event's ``cause`` code, which depends on the event."""
    if not cause:
        return ""
    if event in (Event.LOST, Event.DUPLICATED):
        return Wire(cause).name.lower()
    if event in (Event.STORED, Event.DELIVERED, Event.APPLIED, Event.REDELIVERY):
        return DupCause(cause).name.lower()
    if event in (Event.DROPPED, Event.OUTCOME, Event.CRASH, Event.DISCARDED):
        return Cause(cause).name.lower()
    if event == Event.REJECTED:
        return Answer(cause).name.lower().replace("_", " ")
    if event == Event.RETRY:
        return RetryReason(cause).name.lower()
    return str(cause)
