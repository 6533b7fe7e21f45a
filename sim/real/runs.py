"""One real run of a scenario on a running server, and the warm-up that measures latency.

:func:`real_run` picks the harness of the broker and pattern, runs the workload with the
faults of one seed and returns the figures (computed by :func:`sim.engine.figures.figures`, as
for a simulated run) with the fault windows it injected. :func:`warmup` runs a short fault-free
workload and returns the latencies it measured.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.figures import RunFacts, figures
from sim.real.harness import Harness
from sim.real.injection import Draws
from sim.real.record import Watch
from sim.real.servers import Server
from sim.registry.semantics import SEMANTICS
from sim.scenario.schema import Scenario


@dataclass
class RealRun:
    """What one real run produced: a row of figures per group and its wall time (seconds; the
    run ends early once nothing is pending)."""

    rows: list[dict[str, Any]]
    wall_time: float
    facts: RunFacts
    """What happened to every message (the figures were computed from it)."""


def harness(server: Server, watch: Watch, draws: Draws) -> Harness:
    """The harness of ``server``'s broker for the scenario's pattern."""
    if server.kind == "nats":
        from sim.real.nats_harness import NatsRun

        return NatsRun(watch, draws, server)
    if watch.scenario.delivery.pattern == "pubsub":
        from sim.real.redis_groups import RedisGroupsRun

        return RedisGroupsRun(watch, draws, server)
    from sim.real.redis_harness import RedisRun

    return RedisRun(watch, draws, server)


def real_run(scenario: Scenario, seed: int, server: Server) -> RealRun:
    """Run ``scenario`` once in real time on ``server`` with the faults of ``seed``."""
    with tempfile.TemporaryDirectory(prefix="dsim-effects-") as folder:
        watch = Watch(scenario, Path(folder))
        draws = Draws(scenario, seed)
        try:
            asyncio.run(harness(server, watch, draws).run())
            wall = watch.now()
            facts = watch.facts(SEMANTICS[scenario.delivery.semantics].producer_retries)
        finally:
            watch.close()
    return RealRun(figures(facts), wall, facts)


class WarmupFailed(RuntimeError):
    """The warm-up could not measure the latency."""


WARMUP_SECONDS = 1.5
"""Seconds of fault-free workload the warm-up runs."""
WARMUP_RATE = 100.0
"""The warm-up's least rate, messages a second: enough samples for a stable fit."""
COLD = 0.25
"""Seconds at the warm-up's start left out of the fit (connections and caches warming)."""


@dataclass(frozen=True)
class Measured:
    """Latency measured on the real broker, as the lognormal distributions the prediction
    uses for the links (seconds)."""

    publish: tuple[float, float]
    """(median, sigma) of one way of the publish round trip (:func:`halves`)."""
    deliver: tuple[float, float]
    """(median, sigma) of the delivery: created to first effect, less one publish way."""
    samples: int

    def links(self) -> dict[str, dict[str, Any]]:
        """The network latencies of the predicted scenario: ``publish``, ``publish_ack`` and
        ``consume_ack`` one way of the round trip, ``deliver`` the delivery."""
        one_way = {"dist": "lognormal", "median": self.publish[0], "sigma": self.publish[1]}
        deliver = {"dist": "lognormal", "median": self.deliver[0], "sigma": self.deliver[1]}
        return {
            "network.publish.latency": one_way,
            "network.publish_ack.latency": one_way,
            "network.deliver.latency": deliver,
            "network.consume_ack.latency": one_way,
        }

    def describe(self) -> str:
        """The values, as the output states them."""
        return (
            f"measured latency ({self.samples} warm-up messages): publish and ack links "
            f"lognormal(median={self.publish[0] * 1000:.3f} ms, sigma={self.publish[1]:.2f}), "
            f"deliver link lognormal(median={self.deliver[0] * 1000:.3f} ms, "
            f"sigma={self.deliver[1]:.2f}); broker service time 0 (inside the round trip)"
        )


SPREAD = tuple(0.5 * (1 + math.erf(z / math.sqrt(2))) for z in (-1.0, 1.0))
"""The quantiles one standard deviation either side of a normal's median (0.159, 0.841): half
the distance between their logs is a lognormal's sigma."""


def fit_lognormal(values: np.ndarray) -> tuple[float, float]:
    """(median, sigma) of the lognormal fitted to positive ``values`` by quantiles: the sample
    median, and half the log distance between the :data:`SPREAD` quantiles.

    Not maximum likelihood: a machine that stalls for part of the warm-up (a neighbour on the
    VM, a pause of the event loop) adds a tail of slow samples, which drags the mean of the logs
    and their standard deviation with it. A tenth of the samples stalled 20 times moves the
    mean of the logs by 0.3 and, at sigma 0.5, doubles their deviation; it moves the median by
    0.07 and the quantile spread by a fifth. A warm-up fitted by likelihood once predicted a
    median three times what the run then measured."""
    x = np.log(np.maximum(values, 1e-6))
    low, median, high = np.quantile(x, [SPREAD[0], 0.5, SPREAD[1]])
    return float(np.exp(median)), float((high - low) / 2)


def halves(round_trip: tuple[float, float]) -> tuple[float, float]:
    """(median, sigma) of each of two independent, equal lognormal ways whose sum has the
    ``round_trip`` lognormal's mean and variance (Fenton-Wilkinson, solved for the ways).

    Halving the median and keeping sigma, the sum of the two ways would be narrower than the
    round trip and its median higher (by 6% at sigma 0.5, 18% at 0.9). With X, Y ~
    LN(mu_h, s_h): CV^2(X + Y) = (e^(s_h^2) - 1) / 2 = e^(s^2) - 1 and
    E(X + Y) = 2 e^(mu_h + s_h^2 / 2) = e^(mu + s^2 / 2). For sigma up to 0.9 the sum's median and
    p99 are then the round trip's within 2%, its spread at most 7% narrower (the sum of two
    lognormals is not quite one)."""
    median, sigma = round_trip
    way_sigma = math.sqrt(math.log(2 * math.exp(sigma**2) - 1))
    return median / 2 * math.exp((sigma**2 - way_sigma**2) / 2), way_sigma


def quiet(scenario: Scenario) -> Scenario:
    """The warm-up's scenario: the workload's rate (at least :data:`WARMUP_RATE`), the same
    consumer groups, a semantics whose producer waits for every ack without dedup (so every
    publish is timed), no faults, no service time, :data:`WARMUP_SECONDS` long."""
    groups = [
        {"name": c.name, "instances": c.instances, "service_time": {"dist": "constant"}}
        for c in scenario.consumers
    ]
    return Scenario.model_validate(
        {
            "name": f"{scenario.name} (warm-up)",
            "duration": WARMUP_SECONDS,
            "drain": 5.0,
            "workload": {"rate": max(scenario.workload.rate, WARMUP_RATE), "producers": 1},
            "delivery": {
                "semantics": next(
                    m.name for m in SEMANTICS if m.producer_retries and not m.idempotent_publish
                ),
                "pattern": scenario.delivery.pattern,
                "ack_timeout": 1.0,
            },
            "broker": {"durability": scenario.broker.durability},
            "consumers": groups,
        }
    )


def warmup(scenario: Scenario, server: Server) -> Measured:
    """Measure the publish round trip and the delivery latency on ``server``."""
    facts = real_run(quiet(scenario), 0, server).facts
    warm = facts.created >= COLD
    assert facts.acked_at is not None  # the warm-up's semantics waits for every ack
    rtt = (facts.acked_at - facts.created)[warm & ~np.isnan(facts.acked_at)]
    first = facts.groups[0]
    e2e = (first.first_effect - facts.created)[warm & first.delivered]
    if len(rtt) < 2 or len(e2e) < 2:
        raise WarmupFailed(
            f"the warm-up on {server.kind} delivered {len(e2e)} message(s) and saw {len(rtt)} "
            "ack(s) after its first 0.25 s: too few to measure the latency (is the workload "
            "rate below 2 messages a second?)"
        )
    way = halves(fit_lognormal(rtt))
    # the delivery is the end-to-end latency less one publish way: its median shifted, its
    # spread the end-to-end one's (subtracting per message would make a tail of near-zero
    # values, and a lognormal fitted to them a spread no broker has)
    e2e_median, e2e_sigma = fit_lognormal(e2e)
    deliver = (max(e2e_median - way[0], e2e_median / 4), e2e_sigma)
    return Measured(way, deliver, len(rtt))
