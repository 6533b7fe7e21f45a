"""Why messages are lost and why effects are applied twice: one cause for every loss and for
every duplicate (SPEC section 2, ``lost_<cause>`` and ``dup_<cause>`` columns)."""

from __future__ import annotations

from enum import IntEnum


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

    @property
    def column(self) -> str:
        return f"lost_{self.name.lower()}"


LOSS_CAUSES = [c for c in Cause if c is not Cause.NONE]


class DupCause(IntEnum):
    """Why an effect was applied again. Every duplicate is attributed to exactly one.

    The first six say why the broker stored a second copy of the message, the others why one
    stored copy reached the group's consumers again.
    """

    NONE = 0
    PUBLISH_ACK_LOST = 1
    """The producer resent because the broker's ack was lost."""
    PREMATURE_RETRY = 2
    """The producer resent before a slow ack came back."""
    PRODUCER_RESTART = 3
    """A restarted producer resent its durable outbox, acked or not."""
    DEDUP_WINDOW_EXPIRED = 4
    """Exactly-once: the retry came after the broker's dedup window."""
    NETWORK_DUPLICATION = 5
    """A link delivered one publish (or one pushed copy) twice."""
    BROKER_CRASH = 6
    """A crash erased the broker's dedup state, or it redelivered everything on restart."""
    CONSUME_ACK_LOST = 7
    """The consumer's ack (or offset commit) was lost; the copy came back."""
    CRASH_AFTER_PROCESS = 8
    """The consumer crashed after applying the effect, before acking it."""
    ACK_DEADLINE = 9
    """The ack deadline passed while the consumer still had the copy."""
    CONSUMER_CRASH = 10
    """Streaming: a crash rewound the reader before the record's commit had arrived."""
    NON_ATOMIC_DEDUP = 11
    """Exactly-once without atomic dedup: a crash left the effect without its id."""

    @property
    def column(self) -> str:
        return f"dup_{self.name.lower()}"


DUP_CAUSES = [c for c in DupCause if c is not DupCause.NONE]
