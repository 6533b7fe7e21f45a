"""Network links: the cable between two components, with latency, loss, duplication and
partition windows (SimPy's ``Cable`` example, with failures added).

A link never reorders on purpose; reordering emerges from random latency and retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.engine.clock import Clock
from sim.engine.streams import Sampler


class Link:
    """One directed link. Loss and duplication are independent per message copy."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        latency: Sampler,
        loss: float,
        duplication: float,
        uniform: Sampler,
    ):
        self.name = name
        self._clock = clock
        """Held by its class, so that the compiled send calls ``schedule`` natively."""
        self._latency = latency
        self.loss = loss
        self.duplication = duplication
        self._uniform = uniform
        self.partitioned = 0
        """Number of partition windows in force; the link drops everything while above 0."""
        self.sent = 0
        """Copies put on the wire (duplicates included): the link's share of wire messages."""

    def send(self, handler: Callable[[Any], None], payload: Any) -> int:
        """Carry ``payload`` to ``handler``; return how many copies will arrive (0, 1 or 2).

        The sender learns nothing from the return value in the model (a real sender does not
        know); it is for the ledger's copy accounting.
        """
        if not self.duplication or self._uniform() >= self.duplication:  # the usual: one copy
            self.sent += 1
            if self.partitioned or (self.loss and self._uniform() < self.loss):
                return 0
            self._clock.schedule(self._latency(), handler, payload)
            return 1
        copies = 2
        self.sent += copies
        if self.partitioned:
            return 0
        arrived = 0
        for _ in range(copies):
            if self.loss and self._uniform() < self.loss:
                continue
            self._clock.schedule(self._latency(), handler, payload)
            arrived += 1
        return arrived

    def partition(self, start: bool) -> None:
        """Begin (``True``) or end (``False``) one partition window."""
        self.partitioned += 1 if start else -1
