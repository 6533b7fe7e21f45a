"""Consumer instances: FIFO stations that apply each message's effect to the group's store.

An instance takes copies from its session with the broker (the delivery pattern), processes
them one at a time, and reports each one processed so the pattern can ack or commit it. The
effect store and the processed-id store belong to the group (one database per downstream
service) and survive crashes; what an instance holds in memory does not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from sim.engine.clock import Clock
from sim.engine.codes import CAUSE_NONE
from sim.engine.faults import Crashable
from sim.engine.ledger import Ledger
from sim.engine.shapes import Copy, Pattern, Recorder
from sim.engine.streams import Sampler
from sim.engine.trace import Event
from sim.registry.causes import Cause
from sim.registry.semantics import Semantics
from sim.scenario.schema import ConsumerGroup


class ConsumerInstance(Crashable):
    """One instance of a consumer group: a station that receives copies, processes them one at
    a time and acknowledges or commits; it can crash, and restarts where its group left off."""

    def __init__(
        self,
        g: int,
        index: int,
        settings: ConsumerGroup,
        clock: Clock,
        semantics: Semantics,
        atomic_dedup: bool,
        new_ids: bool,
        ledger: Ledger,
        service_time: Sampler,
        crash_draw: Sampler,
        restart_time: Sampler,
    ):
        self.trace: Recorder | None = None  # an instance attribute: read fastest
        self.trace_id = 0
        self.g = g
        self.index = index
        self.clock = clock
        self.semantics = semantics
        self.atomic_dedup = atomic_dedup
        self.new_ids = new_ids
        """Message ids are per publish attempt (``retry_new_id``): dedup by (message, attempt)."""
        self.ledger = ledger
        self._service_time = service_time
        self._crash_draw = crash_draw
        self._restart_time = restart_time
        self._p_before = settings.crash_before_process
        self._p_after = settings.crash_after_process
        self._p_fail = settings.process_failure
        self._dedup = semantics.consumer_dedup
        """``semantics.consumer_dedup``, read by every message (a native attribute)."""
        self._dedup_time = settings.dedup_time if semantics.consumer_dedup else 0.0
        self._poisoned = ledger.poisoned
        """Messages whose processing always fails (empty unless ``workload.poison``)."""
        self.pattern: Pattern
        self.session: Any = None
        """This instance's session with the broker, owned by the pattern."""
        self.buffer: deque[Copy] = deque()
        self.current: Copy | None = None
        self.epoch = 0
        """Incremented by every crash, so that work from before a crash is recognised."""
        self.deduplicated = 0
        self.crashed_after: Any = None
        """The token of the copy just applied when the instance crashed, else None."""

    def accept(self, copies: Iterable[Copy]) -> None:
        """Copies arrive from the broker; they wait their turn in FIFO order."""
        self.buffer.extend(copies)
        if self.current is None:
            self._start_next()

    def _start_next(self) -> None:
        if not self.buffer or not self.up:
            return
        self.current = self.buffer.popleft()
        if self._p_before and self._crash_draw() < self._p_before:
            self.fail(self.clock.now + self._restart_time())
            return
        self._serve()

    def _serve(self) -> None:
        """Work on the current copy for one service time (plus the dedup transaction)."""
        self.clock.schedule(self._service_time() + self._dedup_time, self.on_processed, self.epoch)

    def on_processed(self, epoch: int) -> None:
        """Service is over: apply the effect (unless already applied), then ack."""
        if epoch != self.epoch:
            return
        m, token = self.current  # type: ignore[misc]
        if self._poisoned and m in self._poisoned:
            self._give_back(m, token)
            return
        if self._p_fail and self._crash_draw() < self._p_fail:
            # an error, not a crash: the handler tries again
            if self.trace:
                self.trace(Event.FAILED, m, self.g, self.trace_id)
            self._serve()
            return
        g, ledger = self.g, self.ledger
        dedup = self._dedup
        key = (m, self.pattern.publish_attempt(token)) if self.new_ids else m
        fresh = not (dedup and ledger.processed(g, key))
        if fresh:
            copy, again = self.pattern.provenance(self, token)
            cause = ledger.apply(g, m, self.clock.now, copy, again, unrecorded=dedup)
            if self.trace:
                self.trace(Event.APPLIED, m, g, self.trace_id, ledger.effects[g][m], cause)
        else:
            self.deduplicated += 1
            if self.trace:
                self.trace(Event.SKIPPED, m, g, self.trace_id)
        crash = bool(self._p_after) and self._crash_draw() < self._p_after
        if dedup and fresh and (self.atomic_dedup or not crash):
            ledger.remember(g, key)  # non-atomic: a crash strikes between the writes
        if crash:
            self.crashed_after = token  # applied, not acked: why it will come back
            self.fail(self.clock.now + self._restart_time())
            return
        self.current = None
        ledger.died(g, m, CAUSE_NONE)
        self.pattern.processed(self, m, token)
        self._start_next()
        self.pattern.want_more(self)

    def _give_back(self, m: int, token: object) -> None:
        """A poison message: processing failed with an error, nothing was applied. The copy
        goes back to the broker unacked; under at-most-once it was acked on receipt, so the
        message is lost."""
        if self.trace:
            self.trace(Event.NACKED, m, self.g, self.trace_id)
        self.current = None
        if self.semantics.ack_before_process:
            self.ledger.died(self.g, m, Cause.POISON)
        else:
            self.ledger.died(self.g, m, Cause.NONE)
            self.pattern.give_back(self, m, token)
        self._start_next()
        self.pattern.want_more(self)

    def on_crash(self) -> None:
        self.epoch += 1
        held = list(self.buffer)
        if self.current is not None:
            held.append(self.current)
        if self.trace:
            self.trace(Event.CRASH, -1, self.g, self.trace_id)
        for m, _ in held:
            if self.trace:
                self.trace(Event.CRASH, m, self.g, self.trace_id, 0, Cause.CONSUMER_CRASH)
            self.ledger.died(self.g, m, Cause.CONSUMER_CRASH)
        self.buffer.clear()
        self.current = None
        self.pattern.instance_down(self)
        self.crashed_after = None

    def on_restart(self) -> None:
        self.pattern.instance_up(self)
        self._start_next()
