"""The simulation clock: SimPy's environment, and the one helper components use to act later.

Components are event handlers (``Broker.on_publish_arrives``, ``Producer.on_ack_timeout``)
rather than a process per message: measured on this machine, that is about twice as fast as
generator processes and reads as well when each handler is named after what happens in the
model. :meth:`Clock.schedule` is the only place that knows how a handler reaches SimPy, so the
technique can change here without touching any component.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from heapq import heappop, heappush
from typing import Any, Final

import simpy
from simpy.events import NORMAL

from sim.engine.runaway import Runaway

_NORMAL: Final = NORMAL
"""SimPy's priority of an ordinary event, held as a module constant (read on every schedule)."""
_PUSH: Final = heappush
"""``heappush``, held as a module constant: the compiled module reads a constant natively,
an imported name from the module's namespace."""


class Clock:
    """One SimPy environment per run: simulated seconds, starting at 0."""

    def __init__(self) -> None:
        self.env = simpy.Environment()
        # What Environment.schedule does, without its call: this is the hot path of every
        # model event, and the one place that relies on SimPy's queue layout. A model event
        # is an entry ``(time, NORMAL, id, handler, payload)`` on SimPy's own heap: ordered
        # with SimPy's events by the same (time, priority, id) and, being one item longer
        # than theirs, told apart without an event object per call.
        self._queue: list[Any] = self.env._queue
        self._next_id: Callable[[], Any] = self.env._eid.__next__
        """SimPy's event counter, called as a method: the compiled ``next()`` looks the
        builtin up by name on every call, and would unbox and box the id again."""
        self._now = 0.0
        """The simulated time, kept here and given to SimPy only when SimPy needs it (a
        timeout or a process created, a SimPy event processed, the end of a run): reading and
        writing the environment's attribute on every model event cost more than the event's
        own bookkeeping."""
        self.processed = 0
        """Events processed by :meth:`run` so far."""

    @property
    def now(self) -> float:
        """The simulated time, in seconds."""
        return self._now

    def schedule(self, delay: float, handler: Callable[[Any], None], payload: Any = None) -> None:
        """Call ``handler(payload)`` after ``delay`` simulated seconds."""
        _PUSH(self._queue, (self._now + delay, _NORMAL, self._next_id(), handler, payload))

    def process(self, generator: Generator[simpy.Event, Any, Any]) -> simpy.Process:
        """Run a generator process (for slow-paced loops such as a fault injector)."""
        self.env._now = self._now
        return self.env.process(generator)

    def timeout(self, delay: float) -> simpy.Timeout:
        """A SimPy timeout for a generator process to wait on."""
        self.env._now = self._now
        return self.env.timeout(delay)

    def run(self, until: float, stuck_after: int = 1_000_000, max_events: int = 0) -> None:
        """Process every event before ``until``; a zero-length run processes none.

        Raises :class:`Runaway` if ``stuck_after`` events in a row happen at one simulated
        instant (a loop of zero delays: zero latency, zero backoff, zero restart time would
        otherwise never end), or once more than ``max_events`` (0: no limit) were processed (a
        run whose work grows without end, such as a storm of retries, would take hours).
        """
        env = self.env
        queue: list[Any] = self._queue  # SimPy's events and model events (typed: compiled)
        step, pop = env.step, heappop
        still = 0  # events processed without the clock moving
        done = 0  # events processed, counted by chunks
        while queue and queue[0][0] < until:
            now = self._now
            n = 0  # events this chunk: checked per chunk, as fast as env.run
            for n in range(1, 4097):
                if not queue:
                    n -= 1
                    break
                item: tuple[Any, ...] = queue[0]
                t: float = item[0]
                if t >= until:
                    n -= 1
                    break
                self._now = t
                if len(item) == 5:  # a model event: what step() would do, inline
                    pop(queue)
                    item[3](item[4])
                else:  # a SimPy event (a process waiting on a timeout)
                    step()
            still = still + n if self._now == now else 0
            done += n
            if still >= stuck_after:
                raise Runaway(
                    f"the run cannot end: simulated time is stuck at {now:.6g} s after {still:,} "
                    "events: a loop with no delay in it (zero latency, zero backoff or zero "
                    "restart time around a refusal, a crash or a retry). Give one of them a "
                    "positive value."
                )
            if max_events and done >= max_events and queue and queue[0][0] < until:
                raise Runaway(
                    f"the run was stopped at {self._now:.6g} s of {until:.6g}: it had taken "
                    f"{done:,} simulated events, the limit max_events = {max_events:,}, far "
                    "more than its messages explain (a storm of retries or redeliveries?). If "
                    "it is meant to be this long, raise the limit: --set max_events=N (in the "
                    "scenario: max_events = N)."
                )
        self.processed += done
        env._now = self._now
        if until > self._now:
            env.run(until=until)  # advance the clock to ``until`` exactly
            self._now = env._now
