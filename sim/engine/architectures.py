"""Chain, orchestration or events: how a change (a new subscription) reaches N services.

SPEC section 3. A user request must reach every service of ``[architecture]``:

* **chain**: the request visits the services one after another; the user waits for all; one
  failure fails the request, and the services already visited keep their change unless
  ``compensate`` undoes them (one more call each, in reverse order).
* **orchestration**: an orchestrator calls every service at once; the user waits for the
  slowest answer. A failure denies the request (``require = "all"``), or only a critical one
  does (``require = "critical"``) and the orchestrator retries the others in the background
  every ``repair_interval`` until they apply the change.
* **event-driven**: the first service applies the change, answers the user at once and
  publishes one event through the broker model of SPEC section 1 (the scenario's semantics,
  pattern, network and faults); every other service is a consumer group of it.

A call to a service takes a draw of its latency; it fails with its ``failure`` probability
(an error answer, nothing changed). A caller gives up after ``call_timeout``: the service may
still apply the change (the caller thinks it failed). A service in an outage does not answer:
the caller waits the whole timeout. Each approach runs on its own clock from the same seed,
so they see the same requests, the same service draws and the same outage windows.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np

from sim.engine.clock import Clock
from sim.engine.faults import Crashable, FaultInjector, crash_window
from sim.engine.figures import describe
from sim.engine.producer import arrival_times
from sim.engine.simulation import Simulation
from sim.engine.streams import exponential_unit, generator, sampler, uniform
from sim.engine.timeline import quantile_function
from sim.registry.approaches import APPROACHES
from sim.registry.base import load
from sim.registry.figures import ARCHITECTURE_FIGURES as APPROACH_FIGURES
from sim.scenario.limits import event_budget
from sim.scenario.schema import (
    Constant,
    ConsumerGroup,
    Scenario,
    Service,
    Workload,
    mean_of,
)

ARCHITECTURE_FIGURES = list(APPROACH_FIGURES.names)
"""Per approach and replication (``runs.csv`` columns of an architecture comparison)."""


class Endpoint(Crashable):
    """A service as a caller sees it: it answers a call, or fails, or does not answer."""

    def __init__(self, clock: Clock, settings: Service, seed: int, timeout: float):
        self.clock = clock
        self.name = settings.name
        self.critical = settings.critical
        self._latency = sampler(settings.latency, generator(seed, f"service:{self.name}:latency"))
        self._draw = uniform(generator(seed, f"service:{self.name}:failure"))
        self._failure = settings.failure
        self.timeout = timeout

    def call(self) -> tuple[bool, float, bool]:
        """(answered success, seconds the caller waits, the change applied)."""
        if not self.up:
            return False, self.timeout, False
        took = self._latency()
        if self._failure and self._draw() < self._failure:
            return False, min(took, self.timeout), False
        if took > self.timeout:
            return False, self.timeout, True  # applied, but too late for the caller
        return True, took, True

    def undo(self) -> float:
        """Seconds a compensating call takes (it always succeeds)."""
        return self._latency()

    def on_crash(self) -> None:
        pass

    def on_restart(self) -> None:
        pass


class _Requests:
    """What happened to every user request of one approach."""

    def __init__(self, services: int):
        self.start: list[float] = []
        self.answered: list[float] = []
        self.ok: list[bool] = []
        self.applied: list[list[bool]] = []
        self.agreed: list[float] = []
        self.duplicates = 0
        self.services = services

    def new(self, now: float) -> int:
        self.start.append(now)
        self.answered.append(math.nan)
        self.ok.append(False)
        self.applied.append([False] * self.services)
        self.agreed.append(math.nan)
        return len(self.start) - 1


class Comparison:
    """One replication of one approach."""

    def __init__(self, scenario: Scenario, seed: int, approach: str):
        assert scenario.architecture is not None
        self.scenario = scenario
        self.arch = scenario.architecture
        self.seed = seed
        self.approach = approach
        self.horizon = scenario.duration + scenario.drain
        self.delivery: Simulation | None = None
        self._handle = load(APPROACHES[approach].implementation)
        if APPROACHES[approach].through_broker:
            self.delivery = Simulation(event_scenario(scenario), seed)
            self.clock = self.delivery.clock
        else:
            self.clock = Clock()
        timeout = self.arch.call_timeout
        self.services = [Endpoint(self.clock, s, seed, timeout) for s in self.arch.services]
        self.requests = _Requests(len(self.services))
        self.faults = FaultInjector(self.clock, self.horizon)
        self._outages()
        self.messages: dict[int, int] = {}

    def _outages(self) -> None:
        """Service outages, from the same streams in every approach; downstream of the event
        they take the service's consumer instances down."""
        for k, fault in enumerate(self.scenario.faults):
            kind, _, name = fault.target.partition(":")
            if kind != "service":
                continue  # broker, producer and link faults belong to the broker model
            index = next(i for i, s in enumerate(self.services) if s.name == name)
            if self.delivery is not None and index > 0:
                members: list[Any] = self.delivery.instances[index - 1]
            else:
                members = [self.services[index]]

            self.faults.inject(k, fault, self.seed, crash_window(members))

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the approach to ``duration + drain``: its figures, user and agreement latencies and
        fault windows."""
        workload: Workload = self.scenario.workload
        draws = exponential_unit(generator(self.seed, "architecture:requests"))
        for t in arrival_times(workload, self.scenario.duration, draws):
            self.clock.schedule(t, self._arrive)
        if self.delivery is not None:
            self.delivery.schedule_joins()
        self.clock.run(self.horizon, max_events=event_budget(self.scenario))
        return self._figures()

    def _arrive(self, _: object) -> None:
        request = self.requests.new(self.clock.now)
        self.clock.process(self._handle(self, request))

    # --- figures -----------------------------------------------------------------------------

    def _figures(self) -> dict[str, Any]:
        req = self.requests
        n = len(req.start)
        start = np.asarray(req.start, dtype=float)
        answered = np.asarray(req.answered, dtype=float)
        ok = np.asarray(req.ok, dtype=bool)
        applied = np.asarray(req.applied, dtype=bool).reshape(n, len(self.services))
        agreed = np.asarray(req.agreed, dtype=float)
        unsettled = np.isnan(answered)
        duplicates = req.duplicates
        if self.delivery is not None:
            agreed, unsettled, applied, duplicates = self._downstream(
                start, agreed, unsettled, applied
            )
        some = applied.any(axis=1)
        every = applied.all(axis=1)
        inconsistent = some & ~every & ~unsettled
        user = (answered - start)[~np.isnan(answered)]
        agree = (agreed - start)[~np.isnan(agreed)]
        figures = {
            "requests": n,
            "succeeded": int(ok.sum()),
            "success_rate": float(ok.mean()) if n else 0.0,
            **describe("user_latency", user, ("p50", "p90", "p99")),
            "inconsistent": int(inconsistent.sum()),
            "inconsistent_rate": float(inconsistent.mean()) if n else 0.0,
            "unsettled": int(unsettled.sum()),
            **describe("agree_time", agree, ("p50", "p99")),
            "duplicates": int(duplicates),
        }
        windows = list(self.faults.windows)
        if self.delivery is not None:
            windows += self.delivery.faults.windows
        return {"figures": figures, "user": user, "agree": agree, "windows": windows}

    def _downstream(
        self, start: np.ndarray, agreed: np.ndarray, unsettled: np.ndarray, applied: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Event-driven: read each request's fate from the broker model's ledger."""
        assert self.delivery is not None
        ledger = self.delivery.ledger
        outcomes = [
            ledger.group_facts(g, c.name) for g, c in enumerate(self.delivery.scenario.consumers)
        ]
        duplicates = 0
        for r, m in self.messages.items():
            pending = False
            last = start[r]
            for g, out in enumerate(outcomes, start=1):
                if out.delivered[m]:
                    applied[r, g] = True
                    last = max(last, out.first_effect[m])
                    duplicates += int(out.effects[m]) - 1
                elif out.pending[m]:
                    pending = True
            if applied[r].all():
                agreed[r] = last
            unsettled[r] = unsettled[r] or pending
        return agreed, unsettled, applied, duplicates


def event_scenario(scenario: Scenario) -> Scenario:
    """The broker model of the event-driven approach: the first service publishes (when the
    comparison says so, not by its own arrivals), every other service is a consumer group."""
    assert scenario.architecture is not None
    peak = scenario.workload.peak_rate
    groups = [
        ConsumerGroup(
            name=s.name,
            instances=s.instances or max(1, math.ceil(2 * peak * mean_of(s.latency))),
            service_time=s.latency,
            process_failure=s.failure,
            restart_time=Constant(value=0.0),
        )
        for s in scenario.architecture.services[1:]
    ]
    faults = [f for f in scenario.faults if not f.target.startswith("service:")]
    quiet = scenario.workload.model_copy(update={"rate": 0.0, "spikes": [], "producers": 1})
    return scenario.model_copy(
        update={
            "consumers": groups,
            "faults": faults,
            "workload": quiet,
            "architecture": None,
            "sweep": {},
        }
    )


def compare(scenario: Scenario, seed: int) -> dict[str, Any]:
    """One replication of every approach: rows of figures, fault windows, latencies."""
    assert scenario.architecture is not None
    rows, windows, latency = [], [], {}
    for approach in scenario.architecture.approaches:
        result = Comparison(scenario, seed, approach).run()
        rows.append({"group": approach, **result["figures"]})
        windows += [[w.target, w.kind, w.start, w.end, w.origin] for w in result["windows"]]
        latency[approach] = {
            "user": quantile_function(result["user"]),
            "agree": quantile_function(result["agree"]),
        }
    return {"rows": rows, "windows": windows, "latency": latency}


def chain(c: Comparison, r: int) -> Generator[Any, Any, None]:
    """The services are called one after another; one failure fails the request."""
    req, clock = c.requests, c.clock
    changed: list[int] = []
    for i, service in enumerate(c.services):
        ok, wait, applied = service.call()
        yield clock.timeout(wait)
        if applied:
            changed.append(i)
            req.applied[r][i] = True
        if not ok:
            if c.arch.compensate:
                for j in reversed(changed):
                    yield clock.timeout(c.services[j].undo())
                    req.applied[r][j] = False
            req.answered[r] = clock.now
            return
    req.answered[r] = req.agreed[r] = clock.now
    req.ok[r] = True


def orchestration(c: Comparison, r: int) -> Generator[Any, Any, None]:
    """An orchestrator calls every service at once; the user waits for the slowest answer."""
    req, clock = c.requests, c.clock
    answers = [service.call() for service in c.services]
    yield clock.timeout(max(wait for _, wait, _ in answers))
    failed = []
    for i, (ok, _, applied) in enumerate(answers):
        req.applied[r][i] = applied
        if not ok:
            failed.append(i)
    denied = [i for i in failed if c.arch.require == "all" or c.services[i].critical]
    if denied:
        if c.arch.compensate:
            undone = [i for i, done in enumerate(req.applied[r]) if done]
            if undone:
                yield clock.timeout(max(c.services[i].undo() for i in undone))
                for i in undone:
                    req.applied[r][i] = False
        req.answered[r] = clock.now
        return
    req.answered[r] = clock.now
    req.ok[r] = True
    while failed:  # repair the non-critical failures in the background
        yield clock.timeout(c.arch.repair_interval)
        still = []
        for i in failed:
            ok, _, applied = c.services[i].call()
            if applied:
                req.duplicates += req.applied[r][i]  # it had applied a call that timed out
                req.applied[r][i] = True
            if not ok:
                still.append(i)
        failed = still
    req.agreed[r] = clock.now


def event_driven(c: Comparison, r: int) -> Generator[Any, Any, None]:
    """The first service applies the change, answers the user and publishes one event."""
    req, clock = c.requests, c.clock
    ok, wait, applied = c.services[0].call()
    yield clock.timeout(wait)
    req.answered[r] = clock.now
    req.ok[r] = ok
    if applied:
        req.applied[r][0] = True
        assert c.delivery is not None
        m = c.delivery.producers[0].emit()
        if m is not None:
            c.messages[r] = m
