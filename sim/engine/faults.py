"""Faults in time: components that go down and come back, and the injector of fault windows.

Per-message faults (a lost copy, a crash before processing) are drawn where they happen; this
module handles the windows of SPEC section 1 "Faults": scheduled (``at``, ``duration``) or
random (``mtbf``, ``mttr``, exponential), for every component and link. Every window is
recorded so charts can shade it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.clock import Clock
from sim.engine.streams import Sampler, generator, sampler
from sim.scenario.schema import Exponential, Fault, Scenario


class Crashable:
    """A component that can be down for a while: a producer, the broker, a consumer instance.

    Overlapping crashes merge: the component comes back when the last one ends.
    """

    clock: Clock
    up: bool = True
    crashes: int = 0
    _down_until: float = 0.0

    def fail(self, until: float) -> None:
        """Crash now (if up) and stay down until ``until`` (simulated seconds)."""
        if self.up:
            self.up = False
            self.crashes += 1
            self._down_until = until
            self.on_crash()
        elif until > self._down_until:
            self._down_until = until
        else:
            return
        self.clock.schedule(until - self.clock.now, self._restart, until)

    def _restart(self, until: float) -> None:
        if not self.up and until >= self._down_until:
            self.up = True
            self.on_restart()

    def on_crash(self) -> None:
        """What crashing loses: called once when the component goes down."""
        raise NotImplementedError

    def on_restart(self) -> None:
        """What restarting resumes: called once when the component is up again."""
        raise NotImplementedError


@dataclass(frozen=True)
class FaultWindow:
    """One recorded window: what was down or partitioned, and when (simulated seconds)."""

    target: str
    kind: str
    start: float
    end: float
    origin: str
    """``scheduled`` or ``random``."""


class FaultInjector:
    """Opens and closes fault windows on their targets, and records them."""

    def __init__(self, clock: Clock, horizon: float):
        self.clock = clock
        self.horizon = horizon
        self.windows: list[FaultWindow] = []

    def _open(
        self,
        target: str,
        kind: str,
        start: float,
        length: float,
        origin: str,
        apply: Callable[[float], None],
    ) -> None:
        end = start + length
        self.record(target, kind, start, end, origin)
        apply(end)

    def record(self, target: str, kind: str, start: float, end: float, origin: str) -> None:
        """Record a window (ending no later than the run), whoever opened it: this injector,
        or the model itself (a consumer group's rebalance)."""
        self.windows.append(FaultWindow(target, kind, start, min(end, self.horizon), origin))

    def scheduled(
        self, target: str, kind: str, at: float, duration: float, apply: Callable[[float], None]
    ) -> None:
        """One window from ``at`` for ``duration``; ``apply(end)`` starts it."""
        if at >= self.horizon:
            return
        self.clock.schedule(
            at, lambda _: self._open(target, kind, at, duration, "scheduled", apply)
        )

    def random(
        self,
        target: str,
        kind: str,
        mtbf: float,
        mttr: float,
        rng: np.random.Generator,
        apply: Callable[[float], None],
    ) -> None:
        """Windows that keep coming: up for an exponential time of mean ``mtbf``, then down for
        one of mean ``mttr`` (both drawn from ``rng``)."""
        ttf = sampler(Exponential(mean=mtbf), rng)
        ttr = sampler(Exponential(mean=mttr), rng)
        self.clock.process(self._random(target, kind, ttf, ttr, apply))

    def inject(self, k: int, fault: Fault, seed: int, apply: Callable[[float], None]) -> None:
        """The windows of the scenario's ``k``-th fault on its target (``apply(end)`` opens
        one): at its scheduled time, or at random times from the fault's own stream."""
        if fault.at is not None and fault.duration is not None:
            self.scheduled(fault.target, fault.kind, fault.at, fault.duration, apply)
        elif fault.mtbf is not None and fault.mttr is not None:
            rng = generator(seed, f"fault:{k}:{fault.target}")
            self.random(fault.target, fault.kind, fault.mtbf, fault.mttr, rng, apply)

    def inject_scenario(
        self,
        scenario: Scenario,
        seed: int,
        on_target: Callable[[str], Callable[[float], None]],
        on_instance: Callable[[int, int], Callable[[float], None]],
    ) -> None:
        """Every window of replication ``seed`` of ``scenario``: its faults (opened by
        ``on_target(target)``) and the random crashes of each consumer instance with a finite
        ``mtbf`` (opened by ``on_instance(group, index)``), each from its own stream. The
        simulation and the real harness both call this, so a real run and the replication of
        its seed see the same windows."""
        for k, fault in enumerate(scenario.faults):
            self.inject(k, fault, seed, on_target(fault.target))
        for g, c in enumerate(scenario.consumers):
            if c.mtbf == float("inf"):
                continue
            for i in range(c.instances):
                name = f"consumer:{c.name}:{i}"
                rng = generator(seed, f"{name}:failures")
                self.random(name, "crash", c.mtbf, c.mttr, rng, on_instance(g, i))

    def _random(
        self, target: str, kind: str, ttf: Sampler, ttr: Sampler, apply: Callable[[float], None]
    ) -> Generator[Any, Any, None]:
        while True:
            yield self.clock.timeout(ttf())
            length = ttr()
            self._open(target, kind, self.clock.now, length, "random", apply)
            yield self.clock.timeout(length)


def partition_window(clock: Clock, links: list[Any]) -> Callable[[float], None]:
    """``apply(end)`` for a partition: every link in ``links`` drops everything until ``end``."""

    def apply(end: float) -> None:
        for link in links:
            link.partition(True)

        def close(_: object) -> None:
            for link in links:
                link.partition(False)

        clock.schedule(end - clock.now, close)

    return apply


def crash_window(members: Sequence[Crashable]) -> Callable[[float], None]:
    """``apply(end)`` for a crash: every one of ``members`` is down until ``end``."""

    def apply(end: float) -> None:
        for member in members:
            member.fail(end)

    return apply
