"""Delivery patterns: how stored copies reach the consumer groups, one entry per pattern.

Each entry names the engine class that implements it (``sim.engine.patterns``), which the
engine loads by that name; a new pattern is one new module there and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.registry.base import Registry, Style


@dataclass(frozen=True)
class Pattern:
    """One delivery pattern, as scenarios, tables and charts name it."""

    name: str
    description: str
    style: Style
    """Charts keep the colour for the semantics; a pattern is a line style, hatch and marker."""
    implementation: str
    """The engine class, as ``"module:Class"`` (see :func:`sim.registry.base.load`)."""
    replays: bool
    """The broker keeps a log a group can read from its start: a group that starts from the
    earliest record is owed every message, stored before it joined or after."""
    polls: bool
    """Readers ask the broker for records, so ``delivery.poll_interval`` applies (a pattern
    that pushes has no polls)."""

    def owes_everything(self, start: str) -> bool:
        """Whether a group starting at ``start`` (``earliest`` or ``latest``) should apply
        every message, whenever it was stored; otherwise only those stored from ``join_at``."""
        return self.replays and start == "earliest"

    def poll_events(self, readers: int, horizon: float, poll_interval: float) -> float:
        """Timer events ``readers`` take polling every ``poll_interval`` seconds (0: long
        polls) over ``horizon`` seconds."""
        if not self.polls or poll_interval <= 0:
            return 0.0
        return readers * horizon / poll_interval


PATTERNS: Registry[Pattern] = Registry(
    "pattern",
    [
        Pattern(
            "streaming",
            "Event streaming: the broker appends every message to a replayable log, in "
            "partitions; each consumer group reads it from its committed offset (a group "
            "that joins late can replay the retained log from the start).",
            Style("black", line="-", hatch="", marker="o"),
            "sim.engine.patterns.streaming:Streaming",
            replays=True,
            polls=True,
        ),
        Pattern(
            "pubsub",
            "Publish/subscribe: every subscription (consumer group) gets its own copy of each "
            "message stored after it subscribed; the broker pushes copies, waits for acks, "
            "redelivers after the ack deadline and deletes a message once every subscription "
            "acked it.",
            Style("black", line="--", hatch="///", marker="s"),
            "sim.engine.patterns.pubsub:PubSub",
            replays=False,
            polls=False,
        ),
    ],
)
"""Every delivery pattern, in the order tables and charts show them."""
