"""The ledger: what happened to every message, kept compactly, and how it ended.

Every figure of SPEC section 2 comes from here. Per message the ledger keeps a few numbers in
columns instead of a dict each (a whole run peaks at 173 bytes a message at 1M with one
group); DataFrames are built once, at the end. The columns every message updates several
times and whose values are small (counts, a producer's index) are lists: the compiled engine
reads and writes a list's items natively, where an ``array`` item costs a call, argument
parsing and a boxed index (docs/performance.md); their small integers are shared objects, so
a list costs 8 bytes an item. Times and ids stay in typed arrays.

Whether an undelivered message is *pending* or *lost* is decided by counting its live copies.
A copy is anything that can still lead to an effect:

* before the broker (shared by all groups): the producer's outbox entry while it still retries,
  and each publish attempt on the wire or waiting in the broker's queue;
* for one consumer group: the broker's stored copy for that group (a log record the group has
  not committed past, or a subscription's copy), copies on the ``deliver`` link, and copies
  held by one of the group's consumer instances.

Components report births and deaths of copies. A death carries the failure that caused it
(``Cause``), or ``Cause.NONE`` when the copy ended without harm (an attempt that was stored, an
outbox entry that was acked). When the last copy of an undelivered message dies, the message is
lost, and its cause is the failure that destroyed that last copy; if that copy ended without
harm (for example the producer saw the ack of a copy the broker later lost), the cause is the
most recent failure that destroyed one of the message's copies for that group.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.codes import DUP_NONE
from sim.engine.figures import DEAD_LETTERED, DEAD_LETTERED_AFTER_APPLY, GroupFacts
from sim.registry.causes import Cause, DupCause

RESENT, RESTARTED = 1, 2
"""Why the producer sent a message again (``Ledger.resent``)."""

_NAN = float("nan")
_BLOCK = 4096
"""Messages the columns grow by at a time (a few hundred kilobytes at most unused)."""


def counts(column: list[int], n: int) -> np.ndarray:
    """The first ``n`` items of a list column, as the int32 array the figures read."""
    return np.array(column[:n], dtype=np.int32)


@dataclass(frozen=True)
class GroupRule:
    """Which messages a consumer group should apply (SPEC: pattern and ``join_at`` decide)."""

    join_at: float
    everything: bool
    """True when the group reads the whole retained log (streaming, ``start = "earliest"``)."""


class Ledger:
    """Per-message columns and per-group copy accounting for one run."""

    def __init__(self, rules: list[GroupRule], producers: int):
        self.rules = rules
        groups = range(len(rules))
        # one entry per message
        self.created = array("d")
        self.producer: list[int] = []
        self.seq = array("q")
        self.acked_at = array("d")
        self.stored: list[int] = []
        self.last_stored = array("d")
        self.pre: list[int] = []
        self.pre_cause = array("b")
        self.ack_lost = bytearray()
        """An ack of the message was lost (on the link, or at a producer that was down)."""
        self.resent = bytearray()
        """Why the producer last sent it again: RESENT (timeout, refusal) or RESTARTED."""
        self.last_stored_attempt = array("i")
        self.store_origin = array("b")
        """The DupCause of the message's latest extra stored copy."""
        # one entry per message and group
        self.copies: list[list[int]] = [[] for _ in groups]
        self.cause = [array("b") for _ in groups]
        self.stored_for = [bytearray() for _ in groups]
        self.effects: list[list[int]] = [[] for _ in groups]
        self.first_effect = [array("d") for _ in groups]
        self.processed_ids = [bytearray() for _ in groups]
        self.processed_keys: list[set[tuple[int, int]]] = [set() for _ in groups]
        """The processed-id store when ids are (message, publish attempt): ``retry_new_id``."""
        # per group counters
        self.first_copy = [array("h") for _ in groups]
        """Which stored copy (1, 2, ...) produced the group's first effect."""
        self.dup_causes = [[0] * len(DupCause) for _ in groups]
        self.duplicated_at = [array("d") for _ in groups]
        """Times of the effect applications beyond a message's first (for timelines)."""
        self.max_seq = [[-1] * producers for _ in groups]
        self.reordered = [0] * len(rules)
        self.dead_letter: list[dict[int, int]] = [{} for _ in groups]
        """Per group, the messages a delivery limit moved to its dead-letter queue (and whether
        their effect existed then); empty unless ``delivery.dead_letter`` is on."""
        self.poisoned: set[int] = set()
        """Messages whose processing always fails (``workload.poison``)."""
        self._count = 0
        self._columns: list[tuple[array[Any] | bytearray | list[int], int | float]] = [
            (self.created, 0.0),
            (self.producer, 0),
            (self.seq, 0),
            (self.acked_at, _NAN),
            (self.stored, 0),
            (self.last_stored, _NAN),
            (self.pre, 0),
            (self.pre_cause, 0),
            (self.ack_lost, 0),
            (self.resent, 0),
            (self.last_stored_attempt, 0),
            (self.store_origin, 0),
        ]
        """Every per-message column and the value a new message starts with."""
        for g in groups:
            self._columns += [
                (self.copies[g], 0),
                (self.cause[g], 0),
                (self.stored_for[g], 0),
                (self.effects[g], 0),
                (self.first_effect[g], _NAN),
                (self.first_copy[g], 0),
                (self.processed_ids[g], 0),
            ]

    def __len__(self) -> int:
        return self._count

    # --- messages ----------------------------------------------------------------------------

    def new_message(self, producer: int, seq: int, now: float) -> int:
        """Register a message a producer created at ``now``; returns its id (its index in every
        column)."""
        m = self._count
        if m == len(self.created):
            self._grow()
        self.created[m] = now
        self.producer[m] = producer
        self.seq[m] = seq
        self._count = m + 1
        return m

    def _grow(self) -> None:
        """Room for ``_BLOCK`` more messages, every column at its starting value: writing
        three values per new message is cheaper than appending to every column, and columns
        are read only up to ``len(self)``."""
        for column, start in self._columns:
            if isinstance(column, list):
                column.extend([int(start)] * _BLOCK)
            elif isinstance(column, bytearray):
                column.extend(bytes([int(start)]) * _BLOCK)
            else:
                column.extend(array(column.typecode, [start]) * _BLOCK)

    def acked(self, m: int, now: float) -> None:
        """The producer saw the broker's ack: the end of the publish latency."""
        if self.acked_at[m] != self.acked_at[m]:  # NaN: first ack
            self.acked_at[m] = now

    def stored_copy(self, m: int, now: float, attempt: int, origin: DupCause) -> int:
        """The broker stored a copy of ``m`` (from ``attempt``); ``origin`` says why when it
        is not the first. Returns the copy's number (1, 2, ...)."""
        copy = self.stored[m] + 1
        self.stored[m] = copy
        self.last_stored[m] = now
        self.last_stored_attempt[m] = attempt
        if copy > 1:
            self.store_origin[m] = origin
        return copy

    # --- copies before the broker ------------------------------------------------------------

    def pre_born(self, m: int, n: int = 1) -> None:
        """``n`` more copies of ``m`` before the broker (an outbox entry, attempts on the wire)."""
        self.pre[m] += n

    def pre_died(self, m: int, cause: Cause) -> None:
        """A copy of ``m`` before the broker ended (``cause``: its failure, or NONE)."""
        left = self.pre[m] - 1
        self.pre[m] = left
        if left == 0:
            self._pre_gone(m, cause)

    def pre_never_born(self, m: int, cause: Cause) -> None:
        """A copy that died on its way out (for example a publish lost on the link)."""
        if self.pre[m] == 0:
            self._pre_gone(m, cause)

    def _pre_gone(self, m: int, cause: Cause) -> None:
        if self.stored[m] == 0:
            self.pre_cause[m] = cause
        elif cause:
            for g, copies in enumerate(self.copies):
                if copies[m] == 0:
                    self.cause[g][m] = cause

    # --- copies of one group -----------------------------------------------------------------

    def store_for(self, g: int, m: int) -> None:
        """The broker stored a copy that group ``g`` will read: the message is eligible for it."""
        self.stored_for[g][m] = 1
        self.copies[g][m] += 1

    def born(self, g: int, m: int, n: int = 1) -> None:
        """``n`` more copies of ``m`` for group ``g`` (copies on the ``deliver`` link)."""
        self.copies[g][m] += n

    def died(self, g: int, m: int, cause: Cause) -> None:
        """A copy of ``m`` for group ``g`` ended (``cause``: the failure, or NONE when harmless)."""
        self.copies[g][m] -= 1
        if cause:
            self.cause[g][m] = cause

    def dead_lettered(self, g: int, m: int) -> None:
        """The broker moved group ``g``'s stored copy of ``m`` to the group's dead-letter
        queue: the copy ends there, and the message is not lost."""
        self.copies[g][m] -= 1
        state = DEAD_LETTERED_AFTER_APPLY if self.effects[g][m] else DEAD_LETTERED
        queue = self.dead_letter[g]
        queue[m] = max(queue.get(m, 0), state)

    def never_born(self, g: int, m: int, cause: Cause) -> None:
        """A copy for group ``g`` lost on its way out (the copies it came from live on)."""
        if cause:
            self.cause[g][m] = cause

    # --- the processed-id store (semantics with consumer dedup) -----------------------------

    def processed(self, g: int, key: int | tuple[int, int]) -> bool:
        """Whether group ``g``'s processed-id store holds ``key`` (a message id, or (message,
        attempt))."""
        if isinstance(key, int):
            return bool(self.processed_ids[g][key])
        return key in self.processed_keys[g]

    def remember(self, g: int, key: int | tuple[int, int]) -> None:
        """Write ``key`` into group ``g``'s processed-id store."""
        if isinstance(key, int):
            self.processed_ids[g][key] = 1
        else:
            self.processed_keys[g].add(key)

    # --- effects -----------------------------------------------------------------------------

    def apply(
        self, g: int, m: int, now: float, copy: int, again: DupCause, unrecorded: bool = False
    ) -> DupCause:
        """The group's consumer applied the message's effect to its effect store, from stored
        copy number ``copy``; ``again`` is why that copy reached the consumers once more (if
        it did), ``unrecorded`` that a processed-id store had no record of the message.
        Returns the cause of the application if it is a duplicate (NONE for the first)."""
        effects = self.effects[g]
        n = effects[m]
        effects[m] = n + 1
        cause = DUP_NONE
        if n == 0:
            self.first_effect[g][m] = now
            self.first_copy[g][m] = copy
        else:
            self.duplicated_at[g].append(now)
            if copy != self.first_copy[g][m]:
                cause = DupCause(self.store_origin[m])  # a second stored copy: why stored?
            elif unrecorded:
                cause = DupCause.NON_ATOMIC_DEDUP
            else:  # the same stored copy again: redelivered, or duplicated on the way
                cause = again or DupCause.NETWORK_DUPLICATION
            self.dup_causes[g][cause] += 1
        p, s = self.producer[m], self.seq[m]
        highest = self.max_seq[g]
        if s < highest[p]:
            self.reordered[g] += 1
        else:
            highest[p] = s
        return cause

    # --- the end -----------------------------------------------------------------------------

    def group_facts(self, g: int, name: str) -> GroupFacts:
        """What happened to every message in group ``g`` (numpy views of the ledger)."""
        n = len(self)
        created = np.frombuffer(self.created, dtype=np.float64, count=n)
        stored = counts(self.stored, n)
        pre = counts(self.pre, n)
        rule = self.rules[g]
        stored_for = np.frombuffer(self.stored_for[g], dtype=np.uint8, count=n).astype(bool)
        if rule.everything:
            eligible = np.ones(n, dtype=bool)
        else:
            eligible = stored_for | ((stored == 0) & (created >= rule.join_at))
        copies = counts(self.copies[g], n)
        cause = np.where(
            stored_for,
            np.frombuffer(self.cause[g], dtype=np.int8, count=n),
            np.frombuffer(self.pre_cause, dtype=np.int8, count=n),
        )
        facts = GroupFacts(
            name=name,
            eligible=eligible,
            effects=counts(self.effects[g], n),
            first_effect=np.frombuffer(self.first_effect[g], dtype=np.float64, count=n),
            alive=(pre > 0) | (copies > 0),
            dup_causes=self.dup_causes[g],
        )
        if self.dead_letter[g]:
            dead_letter = np.zeros(n, dtype=np.int8)
            queue = self.dead_letter[g]
            dead_letter[list(queue)] = list(queue.values())
            facts.dead_letter = dead_letter
        facts.cause = np.where(facts.lost, cause, 0)
        return facts
