"""The clock keeps simulated time itself and gives it to SimPy only when SimPy needs it
(sim/engine/clock.py): model events and SimPy processes must still see one time, in order."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.engine.clock import Clock


def test_model_events_and_simpy_processes_see_one_time_in_order() -> None:
    clock = Clock()
    seen: list[tuple[str, float, float]] = []

    def handler(name: str) -> None:
        seen.append((name, clock.now, clock.now))

    def process() -> Generator[Any, Any, None]:
        for _ in range(3):
            yield clock.timeout(0.25)
            seen.append(("process", clock.now, clock.env.now))

    clock.process(process())
    for t in (0.1, 0.3, 0.6, 0.9):
        clock.schedule(t, handler, f"event {t}")
    clock.run(until=2.0)
    assert [name for name, _, _ in seen] == [
        "event 0.1",
        "process",
        "event 0.3",
        "process",
        "event 0.6",
        "process",
        "event 0.9",
    ]
    assert [now for _, now, _ in seen] == [0.1, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9]
    assert all(now == env_now for _, now, env_now in seen)  # the process reads SimPy's time
    assert clock.now == clock.env.now == 2.0


def test_a_simpy_timeout_made_by_a_model_event_starts_at_that_event() -> None:
    """A handler that starts a process (an orchestrator's request) must not start it at the
    time SimPy last saw: the clock hands SimPy its time first."""
    clock = Clock()
    woke: list[float] = []

    def waiter() -> Generator[Any, Any, None]:
        yield clock.timeout(0.5)
        woke.append(clock.now)

    def handler(_: object) -> None:
        clock.process(waiter())

    clock.schedule(1.0, handler)
    clock.schedule(1.25, lambda _: None)  # a model event SimPy never sees
    clock.run(until=3.0)
    assert woke == [1.5]


def test_consecutive_runs_continue_from_where_the_last_one_ended() -> None:
    clock = Clock()
    times: list[float] = []
    clock.schedule(0.5, lambda _: clock.schedule(1.0, lambda _: times.append(clock.now)))
    clock.run(until=1.0)
    assert clock.now == clock.env.now == 1.0
    clock.run(until=2.0)
    assert times == [1.5]
    assert clock.now == clock.env.now == 2.0
