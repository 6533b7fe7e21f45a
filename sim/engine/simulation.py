"""One replication: build the system of SPEC section 1 from a scenario, run it, count.

:class:`Simulation` owns the clock and every component, wires them together, injects the
fault windows and, at the end, turns the ledger into the figures of SPEC section 2: one row per
consumer group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.broker import Broker
from sim.engine.clock import Clock
from sim.engine.consumer import ConsumerInstance
from sim.engine.faults import FaultInjector, FaultWindow, partition_window
from sim.engine.ledger import GroupRule, Ledger
from sim.engine.network import Link
from sim.engine.patterns import make_pattern
from sim.engine.producer import Producer
from sim.engine.semantics import SEMANTICS
from sim.engine.streams import exponential_unit, generator, sampler, uniform
from sim.engine.timeline import Timeline, quantile_function
from sim.engine.trace import DELIVERED, LOST, PENDING, Event, Tracer
from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.scenario.limits import event_budget
from sim.scenario.schema import Exponential, Scenario

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}

FIGURES = [
    "produced",
    "refused",
    "eligible",
    "delivered",
    "pending",
    "lost",
    "duplicates",
    "broker_duplicates",
    "loss_rate",
    "dup_rate",
    "reordered",
    "latency_mean",
    *(f"latency_{q}" for q in QUANTILES),
    "publish_latency_mean",
    *(f"publish_latency_{q}" for q in QUANTILES),
    "attempts",
    "redeliveries",
    "wire_messages",
    "broker_deduplicated",
    "consumer_deduplicated",
    "publish_rejected",
    "producer_crashes",
    "broker_crashes",
    "consumer_crashes",
    *(c.column for c in LOSS_CAUSES),
    *(c.column for c in DUP_CAUSES),
]
"""Every per-group figure of a run, in ``runs.csv`` column order (SPEC section 2 and extras)."""


@dataclass
class RunResult:
    """The outcome of one replication: a row of figures per consumer group, the fault windows,
    and per-message arrays for whoever wants to look closer (latency CDFs, timelines)."""

    rows: list[dict[str, Any]]
    windows: list[FaultWindow]
    messages: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    latency: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per group, the end-to-end and publish latency quantile functions (timeline.QUANTILES)."""
    timeline: dict[str, list[Any]] | None = None
    """Columns of the timeline, when it was recorded."""
    trace: pd.DataFrame | None = None
    """Every event of every message, when the run was traced (see :mod:`sim.trace`)."""


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
        rules = [
            GroupRule(c.join_at, delivery.pattern == "streaming" and c.start == "earliest")
            for c in groups
        ]
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
            self.producers,
        )
        self.pattern = make_pattern(
            delivery.pattern, clock, scenario, semantics, ledger, self.deliver, self.consume_ack
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
        if kind == "broker":
            members: list[Any] = [self.broker]
        elif kind == "producer":
            members = self.producers if not rest else [self.producers[int(rest)]]
        else:
            name, _, index = rest.partition(":")
            g = next(i for i, c in enumerate(self.scenario.consumers) if c.name == name)
            members = self.instances[g] if not index else [self.instances[g][int(index)]]

        def fail(until: float) -> None:
            for member in members:
                member.fail(until)

        return fail

    def _inject_faults(self) -> None:
        for k, f in enumerate(self.scenario.faults):
            apply = self._apply(f.target)
            if f.scheduled:
                self.faults.scheduled(f.target, f.kind, f.at, f.duration, apply)  # type: ignore[arg-type]
            else:
                rng = self._rng(f"fault:{k}:{f.target}")
                self.faults.random(
                    f.target,
                    f.kind,
                    sampler(Exponential(mean=f.mtbf), rng),
                    sampler(Exponential(mean=f.mttr), rng),
                    apply,
                )
        for c, members in zip(self.scenario.consumers, self.instances, strict=True):
            if c.mtbf == float("inf"):
                continue
            for inst in members:
                name = f"consumer:{c.name}:{inst.index}"
                rng = self._rng(f"{name}:failures")
                self.faults.random(
                    name,
                    "crash",
                    sampler(Exponential(mean=c.mtbf), rng),
                    sampler(Exponential(mean=c.mttr), rng),
                    inst.fail,
                )

    def run(self, timeline: bool = False) -> RunResult:
        """Run to ``duration + drain``; ``timeline`` also samples the system over time."""
        clock = self.clock
        recorder = Timeline(self) if timeline else None
        for c, members in zip(self.scenario.consumers, self.instances, strict=True):
            if c.join_at < self.horizon:
                for inst in members:
                    clock.schedule(c.join_at, self.pattern.join, inst)
        for p in self.producers:
            p.start()
        clock.run(until=self.horizon, max_events=event_budget(self.scenario))
        result = self._tally()
        if self.tracer is not None:
            self._trace_outcomes(result)
            result.trace = self.tracer.frame()
        if recorder is not None:
            result.timeline = recorder.table(
                [result.messages[c.name] for c in self.scenario.consumers]
            )
        return result

    # --- SPEC section 2 ----------------------------------------------------------------------

    def _tally(self) -> RunResult:
        ledger = self.ledger
        n = len(ledger)
        created = np.frombuffer(ledger.created, dtype=np.float64, count=n)
        stored = np.frombuffer(ledger.stored, dtype=np.int32, count=n)
        if self.semantics.producer_retries:
            acked_at = np.frombuffer(ledger.acked_at, dtype=np.float64, count=n)
            publish_latency = (acked_at - created)[~np.isnan(acked_at)]
        else:
            publish_latency = np.zeros(n)  # the application is told "success" at once
        shared = {
            "produced": n,
            "refused": sum(p.refused for p in self.producers),
            "broker_duplicates": int(np.maximum(stored - 1, 0).sum()),
            "attempts": sum(p.attempts for p in self.producers),
            "broker_deduplicated": self.broker.deduplicated,
            "publish_rejected": self.broker.rejected + self.broker.out_of_order,
            "producer_crashes": sum(p.crashes for p in self.producers),
            "broker_crashes": self.broker.crashes,
            **_describe("publish_latency", publish_latency),
        }
        rows, messages, latencies = [], {}, {}
        publish_quantiles = quantile_function(publish_latency)
        for g, c in enumerate(self.scenario.consumers):
            out = ledger.outcome(g)
            eligible = int(out["eligible"].sum())
            lost = int(out["lost"].sum())
            delivered = int(out["delivered"].sum())
            effects = out["effects"]
            duplicates = int(np.maximum(effects[out["eligible"]] - 1, 0).sum())
            latency = (out["first_effect"] - out["created"])[out["delivered"]]
            causes = np.bincount(out["cause"][out["lost"]], minlength=len(LOSS_CAUSES) + 1)
            if causes[0]:
                raise AssertionError(f"{causes[0]} losses in group {c.name!r} have no cause")
            wire = (
                self.publish.sent
                + self.publish_ack.sent
                + self.deliver[g].sent
                + self.consume_ack[g].sent
            )
            row = {
                **shared,
                "eligible": eligible,
                "delivered": delivered,
                "pending": int(out["pending"].sum()),
                "lost": lost,
                "duplicates": duplicates,
                "loss_rate": lost / eligible if eligible else 0.0,
                "dup_rate": duplicates / eligible if eligible else 0.0,
                "reordered": ledger.reordered[g],
                **_describe("latency", latency),
                "redeliveries": self.pattern.redeliveries(g),
                "wire_messages": wire,
                "consumer_deduplicated": sum(i.deduplicated for i in self.instances[g]),
                "consumer_crashes": sum(i.crashes for i in self.instances[g]),
                **{cause.column: int(causes[cause]) for cause in LOSS_CAUSES},
                **{cause.column: ledger.dup_causes[g][cause] for cause in DUP_CAUSES},
            }
            if sum(ledger.dup_causes[g]) != duplicates:
                raise AssertionError(f"duplicates without a cause in group {c.name!r}")
            if row["eligible"] != row["delivered"] + row["lost"] + row["pending"]:
                raise AssertionError(f"eligible != delivered + lost + pending in {c.name!r}")
            rows.append({"group": c.name, **{k: row[k] for k in FIGURES}})
            messages[c.name] = out
            latencies[c.name] = {
                "end_to_end": quantile_function(latency),
                "publish": publish_quantiles,
            }
        return RunResult(rows, list(self.faults.windows), messages, latencies)

    def _trace_outcomes(self, result: RunResult) -> None:
        """One OUTCOME event per eligible message and group: delivered, pending or lost."""
        tracer = self.tracer
        assert tracer is not None
        for g, c in enumerate(self.scenario.consumers):
            out = result.messages[c.name]
            for m in np.flatnonzero(out["eligible"]):
                verdict = (
                    DELIVERED if out["delivered"][m] else (PENDING if out["pending"][m] else LOST)
                )
                tracer.record(Event.OUTCOME, int(m), g, self._end_id, verdict, int(out["cause"][m]))


def _describe(prefix: str, values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {
            f"{prefix}_mean": float("nan"),
            **{f"{prefix}_{q}": float("nan") for q in QUANTILES},
        }
    qs = np.quantile(values, list(QUANTILES.values()))
    return {
        f"{prefix}_mean": float(values.mean()),
        **{f"{prefix}_{q}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
    }


def simulate(
    scenario: Scenario, seed: int, timeline: bool = False, trace: bool = False
) -> RunResult:
    """Run one replication of ``scenario`` with replication seed ``seed``; ``trace`` records
    every event of every message (``RunResult.trace``)."""
    return Simulation(scenario, seed, trace).run(timeline)
