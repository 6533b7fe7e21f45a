"""Why messages are lost and why effects are applied twice: every loss and every duplicate has
exactly one cause (SPEC section 2, the ``lost_<cause>`` and ``dup_<cause>`` columns).

The engine decides causes by their code (:class:`Cause`, :class:`DupCause`); everything that
names or explains one (the result columns, explain's stories, the charts, the docs) reads its
entry in :data:`LOSS_CAUSES` or :data:`DUP_CAUSES`. A new cause is a new code and a new entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sim.registry.base import Registry, Style


class Cause(IntEnum):
    """Why copies die. Every loss is attributed to exactly one of these (never ``NONE``)."""

    NONE = 0
    PUBLISH_LOST = 1
    REJECTED = 2
    PRODUCER_GAVE_UP = 3
    PRODUCER_CRASH = 4
    BROKER_CRASH = 5
    RETENTION = 6
    DELIVER_LOST = 7
    CONSUMER_CRASH = 8
    DELIVERY_LIMIT = 9
    POISON = 10

    @property
    def column(self) -> str:
        """The ``runs.csv`` column counting losses of this cause."""
        return LOSS_CAUSES.of(self).column


class DupCause(IntEnum):
    """Why an effect was applied again. Every duplicate is attributed to exactly one.

    The first six say why the broker stored a second copy of the message, the others why one
    stored copy reached the group's consumers again.
    """

    NONE = 0
    PUBLISH_ACK_LOST = 1
    PREMATURE_RETRY = 2
    PRODUCER_RESTART = 3
    DEDUP_WINDOW_EXPIRED = 4
    NETWORK_DUPLICATION = 5
    BROKER_CRASH = 6
    CONSUME_ACK_LOST = 7
    CRASH_AFTER_PROCESS = 8
    ACK_DEADLINE = 9
    CONSUMER_CRASH = 10
    NON_ATOMIC_DEDUP = 11
    REBALANCE = 12

    @property
    def column(self) -> str:
        """The ``runs.csv`` column counting duplicates of this cause."""
        return DUP_CAUSES.of(self).column


@dataclass(frozen=True)
class CauseEntry:
    """One cause: its code, the column that counts it, its words and its colour."""

    code: IntEnum
    prefix: str
    """``lost`` or ``dup``: the column is ``<prefix>_<name>``."""
    description: str
    """Completes "lost, because ..." or "a duplicate caused by ..." in a story."""
    style: Style

    @property
    def name(self) -> str:
        """The cause's name (``publish_lost``)."""
        return self.code.name.lower()

    @property
    def column(self) -> str:
        """The ``runs.csv`` column that counts it (``lost_publish_lost``)."""
        return f"{self.prefix}_{self.name}"

    @property
    def label(self) -> str:
        """The name as a chart legend shows it."""
        return self.name.replace("_", " ")


class CauseRegistry(Registry[CauseEntry]):
    """Causes by name, in code order; also found by code."""

    def of(self, code: int) -> CauseEntry:
        """The entry of a cause code (``Cause.PUBLISH_LOST``, or its integer value)."""
        for entry in self:
            if entry.code == code:
                return entry
        raise KeyError(f"no {self.family} has code {code}")


def _loss(code: Cause, description: str, colour: str) -> CauseEntry:
    return CauseEntry(code, "lost", description, Style(colour))


def _dup(code: DupCause, description: str, colour: str) -> CauseEntry:
    return CauseEntry(code, "dup", description, Style(colour))


LOSS_CAUSES = CauseRegistry(
    "loss cause",
    [
        _loss(Cause.PUBLISH_LOST, "its publish was lost on the network", "#8c564b"),
        _loss(Cause.REJECTED, "the broker refused it (capacity, or out of order)", "#e377c2"),
        _loss(Cause.PRODUCER_GAVE_UP, "the producer gave up on it (max_attempts)", "#7f7f7f"),
        _loss(
            Cause.PRODUCER_CRASH,
            "the producer crashed before it was acked (memory outbox)",
            "#bcbd22",
        ),
        _loss(Cause.BROKER_CRASH, "a broker crash lost it (not yet durable)", "#17becf"),
        _loss(Cause.RETENTION, "retention deleted it before it was read", "#9467bd"),
        _loss(Cause.DELIVER_LOST, "its delivery was lost on the network", "#ff7f0e"),
        _loss(Cause.CONSUMER_CRASH, "a consumer crashed holding it", "#1f3b73"),
        _loss(
            Cause.DELIVERY_LIMIT,
            "it reached the delivery limit (max_deliveries) and, with no dead-letter "
            "queue, was dropped",
            "#d62728",
        ),
        _loss(
            Cause.POISON,
            "its processing always failed (a poison message) after at-most-once had acked it "
            "on receipt",
            "#2ca02c",
        ),
    ],
)
"""Every cause of loss, in code order (the order of the ``lost_<cause>`` columns)."""

DUP_CAUSES = CauseRegistry(
    "duplicate cause",
    [
        _dup(
            DupCause.PUBLISH_ACK_LOST,
            "a lost publish ack (the producer resent a stored message)",
            "#1f3b73",
        ),
        _dup(DupCause.PREMATURE_RETRY, "a retry sent before a slow ack came back", "#6baed6"),
        _dup(DupCause.PRODUCER_RESTART, "a restarted producer resending its outbox", "#fd8d3c"),
        _dup(
            DupCause.DEDUP_WINDOW_EXPIRED,
            "a retry that came after the broker's dedup window",
            "#74c476",
        ),
        _dup(DupCause.NETWORK_DUPLICATION, "the network duplicating a copy", "#9e9ac8"),
        _dup(
            DupCause.BROKER_CRASH,
            "a broker crash (its dedup state lost, or unacked copies resent)",
            "#7f7f7f",
        ),
        _dup(DupCause.CONSUME_ACK_LOST, "a lost consumer ack (or offset commit)", "#e377c2"),
        _dup(
            DupCause.CRASH_AFTER_PROCESS,
            "a consumer crash after applying it, before acking",
            "#8c564b",
        ),
        _dup(
            DupCause.ACK_DEADLINE,
            "the ack deadline passing while the consumer still had it",
            "#bcbd22",
        ),
        _dup(
            DupCause.CONSUMER_CRASH,
            "a consumer crash that rewound the reader before the commit arrived",
            "#17becf",
        ),
        _dup(
            DupCause.NON_ATOMIC_DEDUP,
            "a crash between writing the effect and its id (non-atomic dedup)",
            "#d62728",
        ),
        _dup(
            DupCause.REBALANCE,
            "a rebalance that moved its partition to another instance, which read it again "
            "from the last commit",
            "#2ca02c",
        ),
    ],
)
"""Every cause of a duplicate, in code order (the order of the ``dup_<cause>`` columns)."""
