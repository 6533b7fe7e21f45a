"""The broker: a FIFO queueing station for publishes, deduplication, capacity and durability.

What the broker does with a stored copy (a log record or subscription copies) belongs to the
delivery pattern (:mod:`sim.patterns`); the broker decides only whether a publish is stored.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from sim.clock import Clock
from sim.faults import Crashable
from sim.ledger import Cause, Ledger
from sim.network import Link
from sim.scenario import Broker as BrokerSettings
from sim.scenario import Delivery
from sim.semantics import Semantics
from sim.streams import Sampler

if TYPE_CHECKING:
    from sim.patterns import Pattern
    from sim.producer import Producer

Attempt = tuple[int, int, int]
"""A publish attempt on the wire: (producer index, message, attempt number)."""


class Broker(Crashable):
    """One logical broker with ``servers`` servers in front of its storage."""

    def __init__(
        self,
        clock: Clock,
        settings: BrokerSettings,
        delivery: Delivery,
        semantics: Semantics,
        ledger: Ledger,
        service_time: Sampler,
        ack_link: Link,
        producers: list[Producer],
    ):
        self.clock = clock
        self.settings = settings
        self.delivery = delivery
        self.semantics = semantics
        self.ledger = ledger
        self._service_time = service_time
        self.ack_link = ack_link
        self._ack_handlers = [p.on_publish_ack for p in producers]
        self.pattern: Pattern
        self.queue: deque[Attempt] = deque()
        self.in_service: list[Attempt] = []
        self._epoch = 0
        self.deduplicated = 0
        self.rejected = 0
        self.out_of_order = 0
        self._forgotten: list[tuple[float, float]] = []
        """Intervals of store times whose idempotency ids a crash erased."""
        self._last_seq: list[int | None] = [-1] * len(producers)
        self._recent_seq: list[deque[tuple[float, int | None]]] = [deque() for _ in producers]
        """Per producer, (store time, sequence before it) within the last flush interval."""

    # --- the queueing station ----------------------------------------------------------------

    def on_publish_arrives(self, attempt: Attempt) -> None:
        if not self.up:
            self.ledger.pre_died(attempt[1], Cause.BROKER_CRASH)
            return
        if len(self.in_service) < self.settings.servers:
            self._serve(attempt)
        else:
            self.queue.append(attempt)

    def _serve(self, attempt: Attempt) -> None:
        self.in_service.append(attempt)
        self.clock.schedule(self._service_time(), self.on_service_done, (self._epoch, attempt))

    def on_service_done(self, payload: tuple[int, Attempt]) -> None:
        epoch, attempt = payload
        if epoch != self._epoch:
            return
        self.in_service.remove(attempt)
        self._admit(*attempt)
        if self.queue and self.up:
            self._serve(self.queue.popleft())

    # --- what happens to a served publish ----------------------------------------------------

    def _admit(self, producer: int, m: int, attempt: int) -> None:
        now = self.clock.now
        if self.semantics.idempotent_publish:
            verdict = self._seen(producer, m, now)
            if verdict == "duplicate":
                self.deduplicated += 1
                self._answer(producer, m, attempt, True)
                self.ledger.pre_died(m, Cause.NONE)
                return
            if verdict == "out-of-order":
                self.out_of_order += 1
                self._answer(producer, m, attempt, False)
                self.ledger.pre_died(m, Cause.REJECTED)
                return
        if self.pattern.unconsumed >= self.settings.capacity:
            self.rejected += 1
            self._answer(producer, m, attempt, False)
            self.ledger.pre_died(m, Cause.REJECTED)
            return
        self.ledger.stored_copy(m, now)
        self.pattern.append(m, now)
        if self.semantics.idempotent_publish and self.delivery.dedup == "sequence":
            self._remember_seq(producer, self.ledger.seq[m], now)
        self._answer(producer, m, attempt, True)
        self.ledger.pre_died(m, Cause.NONE)

    def _answer(self, producer: int, m: int, attempt: int, ok: bool) -> None:
        """Publish ack (or negative ack); at-most-once producers ask for none."""
        if self.semantics.producer_retries:
            self.ack_link.send(self._ack_handlers[producer], (m, attempt, ok))

    def _seen(self, producer: int, m: int, now: float) -> str:
        """Exactly-once: ``new``, ``duplicate`` or (sequence dedup) ``out-of-order``."""
        if self.delivery.dedup == "sequence":
            last = self._last_seq[producer]
            seq = self.ledger.seq[m]
            if last is None or seq == last + 1:
                return "new"
            return "duplicate" if seq <= last else "out-of-order"
        stored_at = self.ledger.last_stored[m]
        if stored_at != stored_at or now - stored_at > self.delivery.dedup_window:
            return "new"
        if any(lo < stored_at <= hi for lo, hi in self._forgotten):
            return "new"
        return "duplicate"

    def _remember_seq(self, producer: int, seq: int, now: float) -> None:
        flush = self.settings.flush_interval
        if self.settings.durability == "durable" and flush > 0:
            recent = self._recent_seq[producer]
            recent.append((now, self._last_seq[producer]))
            while recent[0][0] < now - flush:
                recent.popleft()
        self._last_seq[producer] = seq

    # --- crashes -----------------------------------------------------------------------------

    def on_crash(self) -> None:
        self._epoch += 1
        for _, m, _ in (*self.in_service, *self.queue):
            self.ledger.pre_died(m, Cause.BROKER_CRASH)
        self.in_service.clear()
        self.queue.clear()
        now = self.clock.now
        if self.settings.durability == "memory":
            since = -math.inf
        elif self.settings.flush_interval > 0:
            since = now - self.settings.flush_interval
        else:
            since = math.inf
        if since < now:
            self.pattern.wipe(since)
            self._forgotten.append((since, now))
            for p, recent in enumerate(self._recent_seq):
                lost = [before for t, before in recent if t > since]
                if since == -math.inf:
                    self._last_seq[p] = None
                elif lost:
                    self._last_seq[p] = lost[0]
                recent.clear()
        self.pattern.broker_down()

    def on_restart(self) -> None:
        self.pattern.broker_up()
