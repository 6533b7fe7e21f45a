"""What travels between the components, and what each component offers the others.

The producer, the broker, the delivery patterns and the consumer instances only know one
another through the Protocols here, so none imports another to type its arguments; the
simulation (:mod:`sim.engine.simulation`) builds the concrete ones and wires them together.
Messages on the wire are plain tuples (cheaper than objects on the hot path); their fields
are named here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any, Protocol

from sim.registry.causes import DupCause

Recorder = Callable[..., None]
"""Records one event of the trace (:meth:`sim.engine.trace.Tracer.record`)."""

Attempt = tuple[int, int, int, int, int]
"""A publish attempt on the ``publish`` link: (producer index, message, attempt number,
producer session, the session's first sequence number). The broker learns where a new session
starts from the attempt itself (sequence dedup), never from the producer's memory."""

Copy = tuple[int, Any]
"""A copy a consumer instance holds: (message, the pattern's token for acking it)."""

Record = tuple[int, int, int]
"""A streaming record in a fetch answer: (partition, offset, message)."""


class Answer(IntEnum):
    """The broker's answer to a publish attempt (sent back on the ``publish_ack`` link)."""

    STORED = 0
    DUPLICATE = 1
    """Already stored: dropped and acked again (idempotent publish)."""
    FULL = 2
    """Negative ack: ``capacity`` reached."""
    OUT_OF_ORDER = 3
    """Negative ack: not the next sequence number of its producer session."""
    FENCED = 4
    """Negative ack: the broker does not know this producer session (any more)."""


PublishAck = tuple[int, int, int, Answer]
"""The broker's answer on the ``publish_ack`` link: (message, attempt, session, answer)."""


class RetryReason(IntEnum):
    """Why a producer resends an attempt (the cause of a trace's RETRY event)."""

    TIMEOUT = 1
    """No answer within ``ack_timeout``."""
    REFUSED = 2
    """A negative ack (the broker was full)."""


class BrokerSide(Protocol):
    """The broker as producers and patterns see it."""

    up: bool

    def on_publish_arrives(self, attempt: Attempt) -> None:
        """A publish attempt arrived from the ``publish`` link."""
        ...


class ConsumerSide(Protocol):
    """A consumer instance as a delivery pattern sees it."""

    g: int
    """Its consumer group's index."""
    index: int
    """Its index within the group."""
    up: bool
    epoch: int
    """Incremented by every crash: work sent before a crash is recognised by it."""
    session: Any
    """The instance's session with the broker; the pattern owns it (:meth:`Pattern.attach`)."""
    buffer: deque[Copy]
    """Copies received and not yet processed."""
    crashed_after: Any
    """The token of the copy just applied when it crashed (else None)."""
    trace_id: int

    def accept(self, copies: Iterable[Copy]) -> None:
        """Copies arrive from the broker; they wait their turn in FIFO order."""
        ...


class Pattern(Protocol):
    """A delivery pattern (SPEC section 1): how the broker keeps stored copies and how each
    consumer instance's session with it fetches or is pushed copies and acks them.

    The broker calls the storage methods, consumer instances the session methods, the
    simulation the set-up and counting ones. Each method says when it is called.
    """

    unconsumed: int
    """Stored copies some group has yet to consume; the broker refuses a publish once this
    reaches ``capacity``."""
    broker: BrokerSide
    """The broker whose storage this is (set by the simulation once both exist)."""
    trace: Recorder | None
    trace_id: int
    rebalances: list[tuple[int, float, float]]
    """(group, start, end) of every reassignment of partitions (streaming), in order."""

    # --- set-up, by the simulation ---------------------------------------------------------

    def attach(self, instance: ConsumerSide) -> None:
        """Once per consumer instance, before the run: give it a session
        (``instance.session``) and what it reads (partitions, a share of pushes)."""
        ...

    def join(self, instance: ConsumerSide) -> None:
        """At its group's ``join_at``: the instance starts receiving copies."""
        ...

    # --- the broker's storage, by the broker -----------------------------------------------

    def append(self, m: int, now: float, attempt: int, copy: int) -> None:
        """The broker stored copy number ``copy`` of message ``m`` (from publish ``attempt``)
        at ``now``: keep it for every group that should read it (reporting each one to the
        ledger with ``store_for``) and hand it to readers that wait."""
        ...

    def wipe(self, since: float) -> None:
        """A broker crash: lose every copy stored after ``since`` (``-inf``: every one), each
        reported dead to the ledger with cause ``broker_crash``."""
        ...

    def broker_down(self) -> None:
        """The broker crashed (after :meth:`wipe`): sessions break, nothing is sent."""
        ...

    def broker_up(self) -> None:
        """The broker restarted: serve the sessions again."""
        ...

    # --- a consumer instance's session, by the instance ------------------------------------

    def publish_attempt(self, token: Any) -> int:
        """The publish attempt the copy ``token`` was stored from (its id under
        ``retry_new_id``)."""
        ...

    def provenance(self, instance: ConsumerSide, token: Any) -> tuple[int, DupCause]:
        """About to apply copy ``token``: which stored copy of its message it is (1, 2, ...)
        and, if this stored copy reached the group before, why it came back."""
        ...

    def processed(self, instance: ConsumerSide, m: int, token: Any) -> None:
        """The instance applied (or skipped) message ``m``'s copy ``token``: ack or commit it
        as the semantics says (unless it acked on receipt)."""
        ...

    def give_back(self, instance: ConsumerSide, m: int, token: Any) -> None:
        """The instance could not process message ``m``'s copy ``token`` (a poison message)
        and gives it back unacked: pub/sub negative-acks it (redelivered at once), streaming
        reads the record again (it cannot commit past it)."""
        ...

    def want_more(self, instance: ConsumerSide) -> None:
        """The instance has room for more copies: fetch (a pull pattern) or nothing (push)."""
        ...

    def instance_down(self, instance: ConsumerSide) -> None:
        """The instance crashed, after dropping what it held: end what its session had in
        flight (the copies it held come back by the pattern's own rules)."""
        ...

    def instance_up(self, instance: ConsumerSide) -> None:
        """The instance restarted: resume its session (from the group's last commit)."""
        ...

    # --- counting, by the simulation and the timeline --------------------------------------

    def redeliveries(self, g: int) -> int:
        """Copies group ``g`` was sent again so far."""
        ...

    def lag(self, g: int) -> int:
        """Stored copies group ``g`` has yet to consume, now."""
        ...
