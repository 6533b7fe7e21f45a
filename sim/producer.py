"""The producer: creates messages by the workload's arrival process and publishes them.

Under at-most-once it sends one attempt and tells the application "success" at once. Under
at-least-once and exactly-once it keeps each message in its outbox until the broker acks it,
resending after ``ack_timeout`` with backoff until ``max_attempts`` is spent.

Ack timeouts are kept in one deadline queue per producer instead of one timer per attempt:
``ack_timeout`` is a constant, so deadlines arrive in the order attempts were sent, and a single
pending timer at the earliest live deadline is enough. Retries still happen at exactly
``sent + ack_timeout``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from sim.clock import Clock
from sim.faults import Crashable
from sim.ledger import Cause, Ledger
from sim.network import Link
from sim.scenario import Delivery, Workload
from sim.semantics import Semantics
from sim.streams import Sampler

if TYPE_CHECKING:
    from sim.broker import Broker


def rate_segments(workload: Workload, duration: float) -> list[tuple[float, float, float]]:
    """The arrival rate as ``(start, end, rate)`` pieces covering ``[0, duration)``.

    A spike replaces the base rate while it lasts; where spikes overlap the highest rate holds.
    """
    cuts = {0.0, duration}
    for s in workload.spikes:
        cuts.update(t for t in (s.at, s.at + s.duration) if 0.0 < t < duration)
    points = sorted(cuts)
    segments = []
    for start, end in zip(points, points[1:], strict=False):
        rates = [s.rate for s in workload.spikes if s.at <= start < s.at + s.duration]
        segments.append((start, end, max(rates) if rates else workload.rate))
    return segments


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
    ):
        self.index = index
        self.clock = clock
        self.delivery = delivery
        self.semantics = semantics
        self.ledger = ledger
        self.link = link
        self.broker: Broker
        self._interarrival = interarrival
        self._jitter = jitter
        self._poisson = workload.arrival == "poisson"
        self._phase = index / workload.producers
        self._segments = rate_segments(workload, duration)
        self.seq = 0
        self.produced = 0
        self.refused = 0
        self.attempts = 0
        self.gave_up = 0
        self.outbox: dict[int, int] = {}
        """Unacked message -> attempts sent; negated while a resend waits out its backoff."""
        self._deadlines: deque[tuple[float, int, int]] = deque()
        self._timer_armed = False
        self._epoch = 0

    # --- arrivals ----------------------------------------------------------------------------

    def start(self) -> None:
        self._schedule_arrival(0, None)

    def _schedule_arrival(self, segment: int, last: float | None) -> None:
        """Schedule the arrival after ``last`` (``None``: the first one of ``segment``)."""
        while segment < len(self._segments):
            start, end, rate = self._segments[segment]
            if rate > 0:
                if self._poisson:
                    t = (start if last is None else last) + self._interarrival() / rate
                elif last is None:
                    t = start + self._phase / rate
                else:
                    t = last + 1.0 / rate
                if t < end:
                    self.clock.schedule(t - self.clock.now, self.on_arrival, segment)
                    return
            segment += 1
            last = None

    def on_arrival(self, segment: int) -> None:
        now = self.clock.now
        self._schedule_arrival(segment, now)
        if not self.up:
            self.refused += 1
            return
        m = self.ledger.new_message(self.index, self.seq, now)
        self.seq += 1
        self.produced += 1
        if self.semantics.producer_retries:
            self.outbox[m] = 0
            self.ledger.pre_born(m)
        self._send(m)

    # --- publishing --------------------------------------------------------------------------

    def _send(self, m: int) -> None:
        attempt = abs(self.outbox.get(m, 0)) + 1
        self.attempts += 1
        arrived = self.link.send(self.broker.on_publish_arrives, (self.index, m, attempt))
        if arrived:
            self.ledger.pre_born(m, arrived)
        else:
            self.ledger.pre_never_born(m, Cause.PUBLISH_LOST)
        if self.semantics.producer_retries:
            self.outbox[m] = attempt
            self._deadlines.append((self.clock.now + self.delivery.ack_timeout, m, attempt))
            if not self._timer_armed:
                self._timer_armed = True
                self.clock.schedule(self.delivery.ack_timeout, self.on_ack_timeout, self._epoch)

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
                self._retry(m, attempt)
            deadlines.popleft()
        self._timer_armed = False

    def _retry(self, m: int, attempt: int) -> None:
        """Attempt number ``attempt`` failed (timed out or refused): back off and resend."""
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
        del self.outbox[m]
        self.gave_up += 1
        self.ledger.pre_died(m, Cause.PRODUCER_GAVE_UP)
        return True

    def _resend(self, payload: tuple[int, int, int]) -> None:
        epoch, m, attempt = payload
        if epoch == self._epoch and self.outbox.get(m) == -attempt:
            self._send(m)

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        b = self.delivery.backoff
        delay = b.base if b.kind == "constant" else min(b.cap, b.base * 2.0 ** (attempt - 1))
        return self._jitter() * delay if b.jitter else delay

    def on_publish_ack(self, payload: tuple[int, int, bool]) -> None:
        """The broker's answer to one attempt: stored (or already stored), or refused."""
        if not self.up:
            return
        m, attempt, ok = payload
        state = self.outbox.get(m)
        if state is None:
            return
        if ok:
            del self.outbox[m]
            self.ledger.acked(m, self.clock.now)
            self.ledger.pre_died(m, Cause.NONE)
        elif state == attempt:
            self._retry(m, attempt)

    # --- crashes -----------------------------------------------------------------------------

    def on_crash(self) -> None:
        self._epoch += 1
        self._deadlines.clear()
        self._timer_armed = False
        if self.delivery.outbox == "memory":
            for m in self.outbox:
                self.ledger.pre_died(m, Cause.PRODUCER_CRASH)
            self.outbox.clear()

    def on_restart(self) -> None:
        """A durable outbox is resent in full: the producer cannot know what was acked."""
        for m, state in list(self.outbox.items()):
            if not self._spent(m, abs(state)):
                self._send(m)
