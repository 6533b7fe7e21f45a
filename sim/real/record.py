"""What a harness watched during a real run, turned into the engine's per-message facts.

The harness notes, per message, when it was created, when its producer saw the broker's ack,
and every distinct broker-side id of a stored copy it came across (in a publish ack or on a
delivery); each group's effects are in its SQLite effect store. :meth:`Watch.facts` builds the
:class:`~sim.engine.figures.RunFacts` from which :func:`sim.engine.figures.figures` computes the
same figures as for a simulated run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.engine.figures import DEAD_LETTERED, DEAD_LETTERED_AFTER_APPLY, GroupFacts, RunFacts
from sim.real.effects import EffectStore
from sim.scenario.schema import Scenario


@dataclass
class GroupWatch:
    """One consumer group: its effect store and its counts."""

    name: str
    store: EffectStore
    redeliveries: int = 0
    deduplicated: int = 0
    crashes: int = 0
    unfinished: bool = False
    """The broker still held copies for the group when the run ended (drain ran out)."""
    dead_letter: dict[int, int] = field(default_factory=dict)
    """The group's dead-letter record: message -> :data:`~sim.engine.figures.DEAD_LETTERED`,
    or :data:`~sim.engine.figures.DEAD_LETTERED_AFTER_APPLY` when its effect existed then."""

    def dead_lettered(self, message: int) -> None:
        """The broker gave up on the group's copy of ``message`` at the delivery limit and the
        harness moved it to the group's dead-letter record."""
        state = DEAD_LETTERED_AFTER_APPLY if self.store.applied(message) else DEAD_LETTERED
        self.dead_letter[message] = max(self.dead_letter.get(message, 0), state)


@dataclass
class Watch:
    """Everything one real run recorded, on one clock (seconds since :attr:`started`)."""

    scenario: Scenario
    folder: Path
    started: float = field(default_factory=time.monotonic)
    created: list[float] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    copies: list[set[str]] = field(default_factory=list)
    """Per message, the broker's ids of its stored copies (stream sequences, entry ids)."""
    retrying: set[int] = field(default_factory=set)
    """Messages a producer still holds (not acked, not given up)."""
    poisoned: set[int] = field(default_factory=set)
    """Messages whose processing always fails (``workload.poison``)."""
    attempts: int = 0
    broker_deduplicated: int = 0
    broker_crashes: int = 0
    groups: list[GroupWatch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.groups = [
            GroupWatch(c.name, EffectStore(self.folder / f"effects-{c.name}.sqlite"))
            for c in self.scenario.consumers
        ]

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def new_message(self) -> int:
        """A message the application handed over now; its id."""
        self.created.append(self.now())
        self.acked_at.append(math.nan)
        self.copies.append(set())
        return len(self.created) - 1

    def stored(self, message: int, copy: str) -> None:
        """The broker holds a copy of ``message`` under its id ``copy``."""
        if 0 <= message < len(self.copies):
            self.copies[message].add(copy)

    def acked(self, message: int) -> None:
        """The producer saw the broker's ack (the first one counts)."""
        if math.isnan(self.acked_at[message]):
            self.acked_at[message] = self.now()

    def facts(self, acks: bool) -> RunFacts:
        """The run as per-message facts (``acks``: the application waits for the ack; false
        under at-most-once). A message is alive at the end while its producer still holds it,
        or while it has a stored copy the group's broker side still held."""
        n = len(self.created)
        stored = np.array([len(c) for c in self.copies], dtype=np.int64)
        retrying = np.zeros(n, dtype=bool)
        retrying[list(self.retrying)] = True
        groups = []
        for g in self.groups:
            effects, first = g.store.tally(n)
            held = (stored > 0) if g.unfinished else np.zeros(n, dtype=bool)
            facts = GroupFacts(
                name=g.name,
                eligible=np.ones(n, dtype=bool),
                effects=effects,
                first_effect=first,
                alive=retrying | held,
                counts={
                    "redeliveries": g.redeliveries,
                    "consumer_deduplicated": g.deduplicated,
                    "consumer_crashes": g.crashes,
                },
            )
            queue = {m: state for m, state in g.dead_letter.items() if 0 <= m < n}
            if queue:
                facts.dead_letter = np.zeros(n, dtype=np.int8)
                facts.dead_letter[list(queue)] = list(queue.values())
            groups.append(facts)
        return RunFacts(
            created=np.array(self.created, dtype=float),
            stored=stored,
            acked_at=np.array(self.acked_at, dtype=float) if acks else None,
            groups=groups,
            counts={
                "refused": 0,
                "attempts": self.attempts,
                "broker_deduplicated": self.broker_deduplicated,
                "publish_rejected": 0,
                "producer_crashes": 0,
                "broker_crashes": self.broker_crashes,
            },
        )

    def close(self) -> None:
        """Close every effect store."""
        for g in self.groups:
            g.store.close()
