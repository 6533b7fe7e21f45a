"""What every delivery pattern shares: stored copies in store order, retention, crash wipes
and the count of copies some group still has to consume."""

from __future__ import annotations

import math
from array import array

from sim.engine.clock import Clock
from sim.engine.ledger import Ledger
from sim.engine.network import Link
from sim.engine.shapes import BrokerSide, Pattern, Recorder
from sim.engine.trace import Event
from sim.registry.causes import Cause
from sim.registry.semantics import Semantics
from sim.scenario.schema import ConsumerGroup, Scenario


class Log:
    """Stored copies in store order: message ids (-1 once lost), store times, and how many
    groups still have to consume each one. ``base`` is the first copy retention kept.

    Ids and times are typed arrays; the small counts are lists, which the compiled engine
    appends to and indexes natively (as the ledger's counts)."""

    __slots__ = ("attempts", "base", "copies", "index", "msgs", "remaining", "times")

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.msgs = array("q")
        self.times = array("d")
        self.remaining: list[int] = []
        self.attempts: list[int] = []
        """The publish attempt each copy was stored from (its id under ``retry_new_id``)."""
        self.copies: list[int] = []
        """Which stored copy of its message each one is (1, 2, ...)."""
        self.base = 0


class Storage(Pattern):
    """What both patterns share: retention, crash wipes and the unconsumed count."""

    deletes_consumed = False
    """Whether a copy every reader is done with is deleted (pub/sub) or kept (a log)."""

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        semantics: Semantics,
        ledger: Ledger,
        deliver: list[Link],
        commit: list[Link],
    ):
        self.trace: Recorder | None = None  # an instance attribute: read fastest
        self.trace_id = 0
        self.clock = clock
        self.semantics = semantics
        self._ack_first = semantics.ack_before_process
        """``semantics.ack_before_process``, read by every copy (a native attribute)."""
        self._redelivers = semantics.broker_redelivers
        self.ledger = ledger
        self.deliver = deliver
        self.commit = commit
        self.groups: list[ConsumerGroup] = list(scenario.consumers)
        self.prefetch = scenario.broker.prefetch
        self.retention = scenario.broker.retention
        self.ack_timeout = scenario.delivery.ack_timeout
        self.ack_deadline = scenario.delivery.redelivery_after
        self.max_deliveries = scenario.delivery.max_deliveries
        """Deliveries of a copy to a group before it is not delivered again (0: no limit)."""
        self.dead_letter = scenario.delivery.dead_letter
        self.rebalances: list[tuple[int, float, float]] = []
        self.broker: BrokerSide
        self.unconsumed = 0
        self._redeliveries = [0] * len(self.groups)
        self._retention_armed: set[int] = set()
        self._setup(scenario)

    def _setup(self, scenario: Scenario) -> None:
        """The pattern's own state."""
        raise NotImplementedError

    def redeliveries(self, g: int) -> int:
        """Copies group ``g`` was sent again so far."""
        return self._redeliveries[g]

    def _logs(self) -> list[Log]:
        raise NotImplementedError

    def _drop(self, log: Log, o: int, cause: Cause) -> None:
        """Group-side effects of losing stored copy ``o`` of ``log``."""
        raise NotImplementedError

    def _limit_reached(self, g: int, m: int, deliveries: int) -> None:
        """Group ``g``'s copy of ``m`` was delivered ``deliveries`` (the limit) times without
        an ack: it moves to the group's dead-letter queue, or is dropped (a loss)."""
        if self.dead_letter:
            self.ledger.dead_lettered(g, m)
            if self.trace:
                self.trace(Event.DEAD_LETTERED, m, g, self.trace_id, deliveries)
        else:
            self.ledger.died(g, m, Cause.DELIVERY_LIMIT)
            if self.trace:
                self.trace(Event.DISCARDED, m, g, self.trace_id, deliveries, Cause.DELIVERY_LIMIT)

    def _consumed(self, log: Log, o: int) -> None:
        left = log.remaining[o] - 1
        log.remaining[o] = left
        if left == 0:
            self.unconsumed -= 1
            if self.trace and self.deletes_consumed:
                self.trace(Event.DELETED, log.msgs[o], -1, self.trace_id, log.copies[o])

    def _lose(self, log: Log, o: int, cause: Cause) -> None:
        if log.msgs[o] >= 0:
            if self.trace:
                event = Event.EXPIRED if cause == Cause.RETENTION else Event.WIPED
                self.trace(event, log.msgs[o], -1, self.trace_id, log.copies[o], cause)
            self._drop(log, o, cause)
            if log.remaining[o] > 0:
                log.remaining[o] = 0
                self.unconsumed -= 1
            log.msgs[o] = -1

    # retention: copies expire in store order, so one timer per log at its oldest copy

    def _arm_retention(self, index: int) -> None:
        if self.retention == math.inf or index in self._retention_armed:
            return
        log = self._logs()[index]
        if log.base < len(log.msgs):
            self._retention_armed.add(index)
            expiry = log.times[log.base] + self.retention
            self.clock.schedule(max(0.0, expiry - self.clock.now), self._on_retention, index)

    def _on_retention(self, index: int) -> None:
        self._retention_armed.discard(index)
        log = self._logs()[index]
        now, retention = self.clock.now, self.retention
        end = len(log.msgs)
        while log.base < end and log.times[log.base] + retention <= now:
            self._lose(log, log.base, Cause.RETENTION)
            log.base += 1
        self._arm_retention(index)

    def wipe(self, since: float) -> None:
        """A broker crash loses every copy stored after ``since`` (``-inf``: all of them)."""
        for log in self._logs():
            o = len(log.msgs) - 1
            while o >= log.base and log.times[o] > since:
                self._lose(log, o, Cause.BROKER_CRASH)
                o -= 1
