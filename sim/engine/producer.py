"""The producer: creates messages by the workload's arrival process and publishes them.

A semantics without producer retries sends one attempt and tells the application "success" at
once. One with retries keeps each message in its outbox until the broker acks it, resending
after ``ack_timeout`` with backoff until ``max_attempts`` is spent.

Ack timeouts are kept in one deadline queue per producer instead of one timer per attempt:
``ack_timeout`` is a constant, so deadlines arrive in the order attempts were sent, and a single
pending timer at the earliest live deadline is enough. Retries still happen at exactly
``sent + ack_timeout``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from sim.engine.clock import Clock
from sim.engine.codes import ANSWER_DUPLICATE, CAUSE_NONE
from sim.engine.faults import Crashable
from sim.engine.ledger import RESENT, RESTARTED, Ledger
from sim.engine.network import Link
from sim.engine.shapes import Answer, BrokerSide, PublishAck, Recorder, RetryReason
from sim.engine.streams import Sampler
from sim.engine.trace import Event, Wire
from sim.registry.causes import Cause
from sim.registry.semantics import Semantics
from sim.scenario.schema import Backoff, Delivery, Workload


def arrival_times(
    workload: Workload, duration: float, interarrival: Sampler, phase: float = 0.0
) -> Iterator[float]:
    """Arrival times in ``[0, duration)``: Poisson (``interarrival`` draws Exp(1)), or
    constant, offset by ``phase`` of an interval (producers spread their arrivals).

    Constant arrivals are computed from their index, not accumulated, so that rate 10 over
    one second gives exactly 10 messages. Poisson arrivals restart at each rate change (the
    process is memoryless).
    """
    for start, end, rate in workload.rate_segments(duration):
        if rate <= 0:
            continue
        k, t = 0, start
        while True:
            if workload.arrival == "poisson":
                t += interarrival() / rate
            else:
                t = start + (phase + k) / rate
                k += 1
            if t >= end:
                break
            yield t


def backoff_delay(b: Backoff, attempt: int, jitter: Sampler) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry), with a draw of
    ``jitter`` when the backoff has jitter (the real harness waits the same)."""
    delay = b.base
    if b.kind != "constant":
        try:
            delay = min(b.cap, b.base * b.multiplier ** (attempt - 1))
        except OverflowError:  # after about a thousand retries: the cap was passed long ago
            delay = b.cap if b.base > 0 else 0.0
    return jitter() * delay if b.jitter else delay


class Producer(Crashable):
    """One producer: an arrival process, an outbox and a retry loop."""

    def __init__(
        self,
        index: int,
        clock: Clock,
        workload: Workload,
        delivery: Delivery,
        semantics: Semantics,
        duration: float,
        ledger: Ledger,
        link: Link,
        interarrival: Sampler,
        jitter: Sampler,
        poison: Sampler | None = None,
    ):
        self.trace: Recorder | None = None  # an instance attribute: read fastest
        self.trace_id = 0
        self.index = index
        self.clock = clock
        self.delivery = delivery
        self.semantics = semantics
        self.ledger = ledger
        self.link = link
        self.broker: BrokerSide
        self._jitter = jitter
        self._poison = poison
        """Draws whether a message is poison (None: ``workload.poison`` is 0)."""
        self._poison_share = workload.poison
        self._next_time = arrival_times(
            workload, duration, interarrival, phase=index / workload.producers
        ).__next__
        """The next arrival time (a method, not ``next()``: the compiled builtin is looked up
        by name on every call)."""
        self.seq = 0
        self.produced = 0
        self.refused = 0
        self.attempts = 0
        self.outbox: dict[int, int] = {}
        """Unacked message -> attempts sent (0: not sent yet); negated while a resend waits
        (out its backoff, or for its predecessor under sequence dedup)."""
        self._retries = semantics.producer_retries
        """``semantics.producer_retries``, read by every message (a native attribute)."""
        self._ack_timeout = delivery.ack_timeout
        self._window = delivery.max_in_flight if self._retries else 0
        self._unsent: deque[int] = deque()
        """Messages waiting for room in the ``max_in_flight`` window."""
        self._in_flight = 0
        self._deadlines: deque[tuple[float, int, int]] = deque()
        self._timer_armed = False
        self._epoch = 0
        self._sequenced = semantics.sequenced(delivery.dedup)
        self._by_seq: dict[int, int] = {}
        """Sequence number -> unacked message (sequence dedup only)."""
        self._gap: set[int] = set()
        """Messages refused as out of order although their predecessor was acked."""
        self.session = 0
        self._session_first = 0
        """The current session's first sequence number (every attempt tells the broker)."""

    # --- arrivals ----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the first arrival (the others follow one by one)."""
        self._next_arrival()

    def _next_arrival(self) -> None:
        try:
            t = self._next_time()
        except StopIteration:  # the last arrival of the run
            return
        self.clock.schedule(t - self.clock.now, self.on_arrival)

    def on_arrival(self, _: object) -> None:
        """The application hands over the next message; the one after it is scheduled."""
        self._next_arrival()
        self.emit()

    def emit(self) -> int | None:
        """The application hands over a message now; its id, or None if it was refused."""
        now = self.clock.now
        if not self.up:
            self.refused += 1
            return None
        m = self.ledger.new_message(self.index, self.seq, now)
        if self._poison is not None and self._poison() < self._poison_share:
            self.ledger.poisoned.add(m)
        if self.trace:
            self.trace(Event.CREATED, m, -1, self.trace_id, self.seq)
        self.seq += 1
        self.produced += 1
        if self._retries:
            self.outbox[m] = 0
            self.ledger.pre_born(m)
            if self._sequenced:
                self._by_seq[self.seq - 1] = m
            if self._window and self._in_flight >= self._window:
                self._unsent.append(m)
                return m
        self._send(m)
        return m

    # --- publishing --------------------------------------------------------------------------

    def _send(self, m: int, why: int = RESENT) -> None:
        """Send the next attempt of ``m`` (``why``: the reason, if it is not the first)."""
        attempt = abs(self.outbox.get(m, 0)) + 1
        if attempt > 1:
            self.ledger.resent[m] = why
        if attempt == 1 and self._window:
            self._in_flight += 1
        self.attempts += 1
        arrived = self.link.send(
            self.broker.on_publish_arrives,
            (self.index, m, attempt, self.session, self._session_first),
        )
        if arrived:
            self.ledger.pre_born(m, arrived)
        else:
            self.ledger.pre_never_born(m, Cause.PUBLISH_LOST)
        if self.trace:
            self.trace(Event.SENT, m, -1, self.trace_id, attempt)
            if arrived != 1:
                self.trace(
                    Event.DUPLICATED if arrived else Event.LOST,
                    m,
                    -1,
                    self.trace_id,
                    attempt,
                    Wire.PUBLISH,
                )
        if self._retries:
            self.outbox[m] = attempt
            self._deadlines.append((self.clock.now + self._ack_timeout, m, attempt))
            if not self._timer_armed:
                self._timer_armed = True
                self.clock.schedule(self._ack_timeout, self.on_ack_timeout, self._epoch)

    def on_ack_timeout(self, epoch: int) -> None:
        """The earliest deadline passed: resend what is still unacked, then sleep again."""
        if epoch != self._epoch:
            return
        now = self.clock.now
        deadlines, outbox = self._deadlines, self.outbox
        while deadlines:
            deadline, m, attempt = deadlines[0]
            if outbox.get(m) == attempt:
                if deadline > now:
                    self.clock.schedule(deadline - now, self.on_ack_timeout, epoch)
                    return
                self._retry(m, attempt, RetryReason.TIMEOUT)
            deadlines.popleft()
        self._timer_armed = False

    def _retry(self, m: int, attempt: int, why: RetryReason) -> None:
        """Attempt number ``attempt`` failed (``why``: it timed out or was refused): back off
        and resend."""
        if self.trace:
            self.trace(Event.RETRY, m, -1, self.trace_id, attempt, why)
        if self._spent(m, attempt):
            return
        self.outbox[m] = -attempt
        delay = self._backoff(attempt)
        if delay > 0:
            self.clock.schedule(delay, self._resend, (self._epoch, m, attempt))
        else:
            self._send(m)

    def _spent(self, m: int, attempt: int) -> bool:
        """Give the message up if ``attempt`` was its last allowed one."""
        limit = self.delivery.max_attempts
        if not limit or attempt < limit:
            return False
        self._forget(m)
        if self.trace:
            self.trace(Event.GAVE_UP, m, -1, self.trace_id, attempt)
        self.ledger.pre_died(m, Cause.PRODUCER_GAVE_UP)
        self._unblock_after(m)
        return True

    def _forget(self, m: int) -> None:
        """``m`` leaves the outbox (acked or given up): room for a waiting message."""
        del self.outbox[m]
        if self._sequenced:
            del self._by_seq[self.ledger.seq[m]]
            self._gap.discard(m)
        if self._window:
            self._in_flight -= 1
            while self._unsent and self._in_flight < self._window:
                self._send(self._unsent.popleft())

    def _resend(self, payload: tuple[int, int, int]) -> None:
        epoch, m, attempt = payload
        if epoch == self._epoch and self.outbox.get(m) == -attempt:
            self._send(m)

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        return backoff_delay(self.delivery.backoff, attempt, self._jitter)

    def on_publish_ack(self, payload: PublishAck) -> None:
        """The broker's answer to one attempt."""
        m, attempt, session, answer = payload
        if not self.up:
            self.ledger.ack_lost[m] = 1  # nobody there to hear it
            if self.trace:
                self.trace(Event.DROPPED, m, -1, self.trace_id, attempt, Cause.PRODUCER_CRASH)
            return
        state = self.outbox.get(m)
        if state is None:
            return
        if answer <= ANSWER_DUPLICATE:
            self._forget(m)
            if self.trace:
                self.trace(Event.ACKED, m, -1, self.trace_id, attempt)
            self.ledger.acked(m, self.clock.now)
            self.ledger.pre_died(m, CAUSE_NONE)
            self._unblock_after(m)
        elif state != attempt:
            return  # about an attempt already superseded
        elif answer == Answer.FULL:
            self._retry(m, attempt, RetryReason.REFUSED)
        elif answer == Answer.OUT_OF_ORDER:
            self._wait_for_predecessor(m, attempt)
        elif session == self.session:  # FENCED: the broker no longer knows this session
            self._new_session()

    # --- sequence numbers (idempotent publish with dedup = "sequence") -----------------------
    #
    # The broker accepts only the next sequence number of a producer session. An attempt that
    # arrives out of order waits until its predecessor is acked and is then resent, so a lost
    # attempt costs one retry of each message behind it instead of a livelock of independent
    # backoffs. When the broker has lost a session's state (or the producer lost its outbox),
    # the producer opens a new session, whose first sequence number it registers, and resends
    # its outbox in order.

    def _wait_for_predecessor(self, m: int, attempt: int) -> None:
        if self._spent(m, attempt):
            return
        if self.ledger.seq[m] - 1 in self._by_seq:
            self.outbox[m] = -attempt  # resent by _unblock_after
        elif m not in self._gap:
            self._gap.add(m)  # the predecessor was acked: its store may just have overtaken
            self._send(m)
        else:  # refused again: the broker lost the predecessor (a crash), a gap for good
            self._new_session()

    def _unblock_after(self, m: int) -> None:
        """Go-back-N: resend, in order, every waiting message right behind ``m``."""
        if not self._sequenced:
            return
        seq = self.ledger.seq[m] + 1
        while (follower := self._by_seq.get(seq)) is not None and self.outbox[follower] < 0:
            self._send(follower)
            seq += 1

    def _new_session(self, why: int = RESENT) -> None:
        self._gap.clear()
        self.session += 1
        pending = sorted(self._by_seq)
        self._session_first = pending[0] if pending else self.seq
        for seq in pending:
            m = self._by_seq.get(seq)
            if m is not None and self.outbox[m] and not self._spent(m, abs(self.outbox[m])):
                self._send(m, why)

    # --- crashes -----------------------------------------------------------------------------

    def on_crash(self) -> None:
        self._epoch += 1
        self._deadlines.clear()
        self._timer_armed = False
        if self.trace:
            self.trace(Event.CRASH, -1, -1, self.trace_id)
        if self.delivery.outbox == "memory":
            for m in self.outbox:
                if self.trace:
                    self.trace(Event.CRASH, m, -1, self.trace_id, 0, Cause.PRODUCER_CRASH)
                self.ledger.pre_died(m, Cause.PRODUCER_CRASH)
            self.outbox.clear()
            self._by_seq.clear()
            self._unsent.clear()
            self._in_flight = 0

    def on_restart(self) -> None:
        """Resend the whole outbox (a durable one survived): the producer cannot know what
        was acked while it was down."""
        if self._sequenced:
            self._new_session(RESTARTED)
            return
        for m, state in list(self.outbox.items()):
            if state and not self._spent(m, abs(state)):
                self._send(m, RESTARTED)
