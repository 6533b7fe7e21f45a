"""One replication: build the system of SPEC section 1 from a scenario, run it, count.

:class:`Simulation` owns the clock and every component, wires them together, injects the
fault windows and, at the end, turns the ledger into the figures of SPEC section 2: one row per
consumer group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.broker import Broker
from sim.engine.clock import Clock
from sim.engine.consumer import ConsumerInstance
from sim.engine.faults import (
    Crashable,
    FaultInjector,
    FaultWindow,
    crash_window,
    partition_window,
)
from sim.engine.figures import (
    RunFacts,
    check,
    end_to_end_latencies,
    figures,
    publish_latencies,
)
from sim.engine.ledger import GroupRule, Ledger, counts
from sim.engine.network import Link
from sim.engine.patterns import make_pattern
from sim.engine.producer import Producer
from sim.engine.streams import exponential_unit, generator, sampler, uniform
from sim.engine.timeline import Timeline, quantile_function
from sim.engine.trace import DEAD_LETTERED, DELIVERED, LOST, PENDING, Event, Tracer
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.scenario.limits import event_budget
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunResult:
    """The outcome of one replication: a row of figures per consumer group, the fault windows,
    and per-message arrays for whoever wants to look closer (latency CDFs, timelines)."""

    rows: list[dict[str, Any]]
    windows: list[FaultWindow]
    facts: RunFacts
    """What happened to every message (the figures were computed from it)."""
    latency: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per group, the end-to-end and publish latency quantile functions (at
    :data:`sim.engine.timeline.CDF_LEVELS`)."""
    timeline: dict[str, list[Any]] | None = None
    """Columns of the timeline, when it was recorded."""
    trace: pd.DataFrame | None = None
    """Every event of every message, when the run was traced (see :mod:`sim.engine.trace`)."""


class Simulation:
    """The whole system for one scenario and one replication seed."""

    def __init__(self, scenario: Scenario, seed: int, trace: bool = False):
        self.scenario = scenario
        self.seed = seed
        self.clock = clock = Clock()
        self.tracer: Tracer | None = None
        self.horizon = scenario.duration + scenario.drain
        delivery = scenario.delivery
        self.semantics = semantics = SEMANTICS[delivery.semantics]
        groups = scenario.consumers
        pattern = PATTERNS[delivery.pattern]
        rules = [GroupRule(c.join_at, pattern.owes_everything(c.start)) for c in groups]
        self.ledger = ledger = Ledger(rules, scenario.workload.producers)

        self.publish = self._link("publish", "publish")
        self.publish_ack = self._link("publish_ack", "publish_ack")
        self.deliver = [self._link("deliver", f"deliver:{c.name}") for c in groups]
        self.consume_ack = [self._link("consume_ack", f"consume_ack:{c.name}") for c in groups]

        self.producers = [
            Producer(
                i,
                clock,
                scenario.workload,
                delivery,
                semantics,
                scenario.duration,
                ledger,
                self.publish,
                interarrival=exponential_unit(self._rng(f"producer:{i}:arrivals")),
                jitter=uniform(self._rng(f"producer:{i}:backoff")),
                poison=uniform(self._rng(f"producer:{i}:poison"))
                if scenario.workload.poison
                else None,
            )
            for i in range(scenario.workload.producers)
        ]
        self.broker = Broker(
            clock,
            scenario.broker,
            delivery,
            semantics,
            ledger,
            sampler(scenario.broker.service_time, self._rng("broker:service")),
            self.publish_ack,
            [p.on_publish_ack for p in self.producers],
        )
        self.pattern = make_pattern(
            clock, scenario, semantics, ledger, self.deliver, self.consume_ack
        )
        self.pattern.broker = self.broker
        self.broker.pattern = self.pattern
        for p in self.producers:
            p.broker = self.broker

        self.instances: list[list[ConsumerInstance]] = []
        for g, c in enumerate(groups):
            members = []
            for i in range(c.instances):
                name = f"consumer:{c.name}:{i}"
                inst = ConsumerInstance(
                    g,
                    i,
                    c,
                    clock,
                    semantics,
                    delivery.atomic_dedup,
                    delivery.retry_new_id,
                    ledger,
                    service_time=sampler(c.service_time, self._rng(f"{name}:service")),
                    crash_draw=uniform(self._rng(f"{name}:crash")),
                    restart_time=sampler(c.restart_time, self._rng(f"{name}:restart")),
                )
                inst.pattern = self.pattern
                self.pattern.attach(inst)
                members.append(inst)
            self.instances.append(members)

        self.faults = FaultInjector(clock, self.horizon)
        self._inject_faults()
        if trace:
            self._trace()

    def _trace(self) -> None:
        """Give every component a recorder of the run's trace and a name in it."""
        self.tracer = tracer = Tracer(self.clock, [c.name for c in self.scenario.consumers])
        for p in self.producers:
            p.trace, p.trace_id = tracer.record, tracer.component(f"producer:{p.index}")
        self.broker.trace, self.broker.trace_id = tracer.record, tracer.component("broker")
        self.pattern.trace, self.pattern.trace_id = tracer.record, self.broker.trace_id
        for c, members in zip(self.scenario.consumers, self.instances, strict=True):
            for inst in members:
                inst.trace = tracer.record
                inst.trace_id = tracer.component(f"consumer:{c.name}:{inst.index}")
        self._end_id = tracer.component("end of run")

    def _rng(self, source: str) -> np.random.Generator:
        return generator(self.seed, source)

    def _link(self, name: str, source: str) -> Link:
        settings = self.scenario.network.link(name)
        return Link(
            name,
            self.clock,
            sampler(settings.latency, self._rng(f"link:{source}:latency")),
            settings.loss,
            settings.duplication,
            uniform(self._rng(f"link:{source}:loss")),
        )

    def _apply(self, target: str) -> Callable[[float], None]:
        """What opening a window on ``target`` does, given the window's end time."""
        kind, _, rest = target.partition(":")
        if kind == "link":
            links = {
                "publish": [self.publish],
                "publish_ack": [self.publish_ack],
                "deliver": self.deliver,
                "consume_ack": self.consume_ack,
            }[rest]
            return partition_window(self.clock, links)
        members: list[Crashable]
        if kind == "broker":
            members = [self.broker]
        elif kind == "producer":
            members = list(self.producers) if not rest else [self.producers[int(rest)]]
        else:
            name, _, index = rest.partition(":")
            g = next(i for i, c in enumerate(self.scenario.consumers) if c.name == name)
            members = list(self.instances[g]) if not index else [self.instances[g][int(index)]]
        return crash_window(members)

    def _inject_faults(self) -> None:
        self.faults.inject_scenario(
            self.scenario, self.seed, self._apply, lambda g, i: self.instances[g][i].fail
        )

    def schedule_joins(self) -> None:
        """Every consumer instance joins at its group's ``join_at`` (if within the run)."""
        for c, members in zip(self.scenario.consumers, self.instances, strict=True):
            if c.join_at < self.horizon:
                for inst in members:
                    self.clock.schedule(c.join_at, self.pattern.join, inst)

    def run(self, timeline: bool = False) -> RunResult:
        """Run to ``duration + drain``; ``timeline`` also samples the system over time."""
        clock = self.clock
        recorder = None
        if timeline:
            broker = self.broker
            recorder = Timeline(
                clock,
                self.horizon,
                self.scenario.timeline_step,
                lambda: len(broker.queue) + len(broker.in_service),
                self.pattern,
                len(self.scenario.consumers),
            )
        self.schedule_joins()
        for p in self.producers:
            p.start()
        clock.run(until=self.horizon, max_events=event_budget(self.scenario))
        result = self._tally()
        if self.tracer is not None:
            self._trace_outcomes(result)
            result.trace = self.tracer.frame()
        if recorder is not None:
            duplicated_at = [np.frombuffer(times) for times in self.ledger.duplicated_at]
            result.timeline = recorder.table(result.facts, duplicated_at)
        return result

    # --- SPEC section 2 ----------------------------------------------------------------------

    def _tally(self) -> RunResult:
        ledger = self.ledger
        n = len(ledger)
        groups = []
        for g, c in enumerate(self.scenario.consumers):
            facts = ledger.group_facts(g, c.name)
            facts.counts = {
                "reordered": ledger.reordered[g],
                "redeliveries": self.pattern.redeliveries(g),
                "wire_messages": self.publish.sent
                + self.publish_ack.sent
                + self.deliver[g].sent
                + self.consume_ack[g].sent,
                "consumer_deduplicated": sum(i.deduplicated for i in self.instances[g]),
                "consumer_crashes": sum(i.crashes for i in self.instances[g]),
            }
            groups.append(facts)
        run = RunFacts(
            created=np.frombuffer(ledger.created, dtype=np.float64, count=n),
            stored=counts(ledger.stored, n),
            acked_at=np.frombuffer(ledger.acked_at, dtype=np.float64, count=n)
            if self.semantics.producer_retries
            else None,
            groups=groups,
            counts={
                "refused": sum(p.refused for p in self.producers),
                "attempts": sum(p.attempts for p in self.producers),
                "broker_deduplicated": self.broker.deduplicated,
                "publish_rejected": self.broker.rejected + self.broker.out_of_order,
                "producer_crashes": sum(p.crashes for p in self.producers),
                "broker_crashes": self.broker.crashes,
            },
        )
        rows = figures(run)
        check(rows)
        publish = quantile_function(publish_latencies(run))
        latencies = {
            g.name: {
                "end_to_end": quantile_function(end_to_end_latencies(run, g)),
                "publish": publish,
            }
            for g in groups
        }
        self._record_rebalances()
        return RunResult(rows, self.faults.windows, run, latencies)

    def _record_rebalances(self) -> None:
        """Every reassignment of a group's partitions, as a fault window on the group."""
        names = [c.name for c in self.scenario.consumers]
        for g, start, end in self.pattern.rebalances:
            self.faults.record(f"consumer:{names[g]}", "rebalance", start, end, "rebalance")

    def _trace_outcomes(self, result: RunResult) -> None:
        """One OUTCOME event per eligible message and group: delivered, pending, lost or
        dead-lettered."""
        tracer = self.tracer
        assert tracer is not None
        for g, out in enumerate(result.facts.groups):
            assert out.cause is not None
            for m in np.flatnonzero(out.eligible):
                if out.delivered[m]:
                    verdict = DELIVERED
                elif out.dead_lettered[m]:
                    verdict = DEAD_LETTERED
                else:
                    verdict = PENDING if out.pending[m] else LOST
                tracer.record(Event.OUTCOME, int(m), g, self._end_id, verdict, int(out.cause[m]))


def simulate(
    scenario: Scenario, seed: int, timeline: bool = False, trace: bool = False
) -> RunResult:
    """Run one replication of ``scenario`` with replication seed ``seed``; ``trace`` records
    every event of every message (``RunResult.trace``)."""
    return Simulation(scenario, seed, trace).run(timeline)
