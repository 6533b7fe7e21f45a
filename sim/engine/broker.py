"""The broker: a FIFO queueing station for publishes, deduplication, capacity and durability.

What the broker does with a stored copy (a log record or subscription copies) belongs to the
delivery pattern (:mod:`sim.engine.patterns`); the broker decides only whether a publish is stored.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from sim.engine.clock import Clock
from sim.engine.codes import ANSWER_DUPLICATE, ANSWER_STORED, CAUSE_NONE, DUP_NONE
from sim.engine.faults import Crashable
from sim.engine.ledger import RESTARTED, Ledger
from sim.engine.network import Link
from sim.engine.shapes import Answer, Attempt, Pattern, PublishAck, Recorder
from sim.engine.streams import Sampler
from sim.engine.trace import Event, Wire
from sim.registry.causes import Cause, DupCause
from sim.registry.semantics import Semantics
from sim.scenario.schema import BrokerSettings, Delivery


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
        ack_handlers: list[Callable[[PublishAck], None]],
    ):
        self.trace: Recorder | None = None  # an instance attribute: read fastest
        self.trace_id = 0
        self.clock = clock
        self.settings = settings
        self.delivery = delivery
        self.semantics = semantics
        self.ledger = ledger
        self._service_time = service_time
        # the settings every publish reads, as native attributes (docs/performance.md)
        self._servers = settings.servers
        self._capacity = settings.capacity
        self._idempotent = semantics.idempotent_publish
        self._acks = semantics.producer_retries
        self._new_ids = delivery.retry_new_id
        self._sequence_dedup = semantics.sequenced(delivery.dedup)
        self.ack_link = ack_link
        self._ack_handlers = ack_handlers
        """Per producer, where its publish acks arrive."""
        producers = len(ack_handlers)
        self.pattern: Pattern
        self.queue: deque[Attempt] = deque()
        self.in_service: list[Attempt] = []
        self._epoch = 0
        self.deduplicated = 0
        self.rejected = 0
        self.out_of_order = 0
        self._forgotten: list[tuple[float, float]] = []
        """Intervals of store times whose idempotency ids a crash erased."""
        self._stored_ids: dict[tuple[int, int], float] = {}
        """Under ``retry_new_id``: when each (message, attempt) id was stored."""
        self._session = [0] * producers
        """Per producer, the session whose sequence numbers the broker follows."""
        self._last_seq = [-1] * producers
        self._known = [True] * producers
        """False once a crash erased what the broker knew of the producer's session."""
        self._recent_seq: list[deque[tuple[float, int]]] = [deque() for _ in range(producers)]
        """Per producer, (store time, sequence before it) within the last flush interval."""

    # --- the queueing station ----------------------------------------------------------------

    def on_publish_arrives(self, attempt: Attempt) -> None:
        """A publish attempt arrives: dropped while the broker is down, served at once by an idle
        server, or queued (FIFO)."""
        if not self.up:
            if self.trace:
                self.trace(
                    Event.DROPPED, attempt[1], -1, self.trace_id, attempt[2], Cause.BROKER_CRASH
                )
            self.ledger.pre_died(attempt[1], Cause.BROKER_CRASH)
            return
        if len(self.in_service) < self._servers:
            self._serve(attempt)
        else:
            self.queue.append(attempt)

    def _serve(self, attempt: Attempt) -> None:
        self.in_service.append(attempt)
        self.clock.schedule(self._service_time(), self.on_service_done, (self._epoch, attempt))

    def on_service_done(self, payload: tuple[int, Attempt]) -> None:
        """A server finished with an attempt: decide whether it is stored, then serve the next one
        waiting."""
        epoch, attempt = payload
        if epoch != self._epoch:
            return
        self.in_service.remove(attempt)
        self._admit(attempt)
        if self.queue and self.up:
            self._serve(self.queue.popleft())

    # --- what happens to a served publish ----------------------------------------------------

    def _admit(self, served: Attempt) -> None:
        producer, m, attempt, session, first = served
        now = self.clock.now
        if self._idempotent:
            verdict = self._check(producer, m, attempt, session, first, now)
            if self.trace and verdict != Answer.STORED:
                event = Event.DEDUPLICATED if verdict == Answer.DUPLICATE else Event.REJECTED
                self.trace(event, m, -1, self.trace_id, attempt, verdict)
            if verdict == Answer.DUPLICATE:
                self.deduplicated += 1
                self._answer(producer, m, attempt, session, verdict)
                self.ledger.pre_died(m, Cause.NONE)
                return
            if verdict != Answer.STORED:
                self.out_of_order += 1
                self._answer(producer, m, attempt, session, verdict)
                # a fenced attempt belongs to a session its producer lost in a crash
                cause = (
                    Cause.PRODUCER_CRASH if session < self._session[producer] else Cause.REJECTED
                )
                self.ledger.pre_died(m, cause)
                return
        if self.pattern.unconsumed >= self._capacity:
            if self.trace:
                self.trace(Event.REJECTED, m, -1, self.trace_id, attempt, Answer.FULL)
            self.rejected += 1
            self._answer(producer, m, attempt, session, Answer.FULL)
            self.ledger.pre_died(m, Cause.REJECTED)
            return
        ledger = self.ledger
        origin = self._store_origin(m, attempt, now) if ledger.stored[m] else DUP_NONE
        copy = ledger.stored_copy(m, now, attempt, origin)
        if self.trace:
            self.trace(Event.STORED, m, -1, self.trace_id, copy, origin)
        self.pattern.append(m, now, attempt, copy)
        if self._new_ids:
            self._stored_ids[(m, attempt)] = now
        if self._sequence_dedup:
            self._remember_seq(producer, self.ledger.seq[m], now)
        self._answer(producer, m, attempt, session, ANSWER_STORED)
        self.ledger.pre_died(m, CAUSE_NONE)

    def _store_origin(self, m: int, attempt: int, now: float) -> DupCause:
        """Why the broker is storing a message it has stored before."""
        ledger = self.ledger
        if attempt == ledger.last_stored_attempt[m]:
            return DupCause.NETWORK_DUPLICATION  # the same attempt arrived twice
        if self.semantics.idempotent_publish and not self.delivery.retry_new_id:
            stored_at = ledger.last_stored[m]
            if any(lo < stored_at <= hi for lo, hi in self._forgotten):
                return DupCause.BROKER_CRASH
            if self.delivery.dedup == "id":
                return DupCause.DEDUP_WINDOW_EXPIRED
        if ledger.resent[m] == RESTARTED:
            return DupCause.PRODUCER_RESTART
        if ledger.ack_lost[m]:
            return DupCause.PUBLISH_ACK_LOST
        return DupCause.PREMATURE_RETRY

    def _answer(self, producer: int, m: int, attempt: int, session: int, answer: Answer) -> None:
        """Publish ack (or negative ack); at-most-once producers ask for none."""
        if self._acks:
            arrived = self.ack_link.send(
                self._ack_handlers[producer], (m, attempt, session, answer)
            )
            if not arrived and answer <= ANSWER_DUPLICATE:
                self.ledger.ack_lost[m] = 1
                if self.trace:
                    self.trace(Event.LOST, m, -1, self.trace_id, attempt, Wire.PUBLISH_ACK)

    def _check(
        self, producer: int, m: int, attempt: int, session: int, first: int, now: float
    ) -> Answer:
        """Idempotent publish: is this attempt new, a duplicate, or not acceptable now?"""
        if self._sequence_dedup:
            return self._check_sequence(producer, self.ledger.seq[m], session, first)
        if self.delivery.retry_new_id:  # each attempt is its own message id
            stored_at = self._stored_ids.get((m, attempt), math.nan)
        else:
            stored_at = self.ledger.last_stored[m]
        if stored_at != stored_at or now - stored_at > self.delivery.dedup_window:
            return Answer.STORED
        if any(lo < stored_at <= hi for lo, hi in self._forgotten):
            return Answer.STORED
        return Answer.DUPLICATE

    def _check_sequence(self, producer: int, seq: int, session: int, first: int) -> Answer:
        """Sequence dedup: ``first`` is the first sequence number of the attempt's session."""
        known = self._session[producer]
        if session > known:  # the producer opened a new session: follow it from its start
            self._session[producer] = session
            self._last_seq[producer] = first - 1
            self._known[producer] = True
            self._recent_seq[producer].clear()
        elif session < known or not self._known[producer]:
            return Answer.FENCED
        last = self._last_seq[producer]
        if seq == last + 1:
            return Answer.STORED
        return Answer.DUPLICATE if seq <= last else Answer.OUT_OF_ORDER

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
        if self.trace:
            self.trace(Event.CRASH, -1, -1, self.trace_id)
        for _, m, attempt, _, _ in (*self.in_service, *self.queue):
            if self.trace:
                self.trace(Event.DROPPED, m, -1, self.trace_id, attempt, Cause.BROKER_CRASH)
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
                    self._known[p] = False  # the producer must open a new session
                elif lost:
                    self._last_seq[p] = lost[0]
                recent.clear()
        self.pattern.broker_down()

    def on_restart(self) -> None:
        self.pattern.broker_up()
