"""One real run of a scenario on a running server, and the warm-up that measures latency.

:func:`real_run` picks the harness of the broker and pattern, runs the workload with the
faults of one seed and returns the figures (computed by :func:`sim.engine.figures.figures`, as
for a simulated run) with the fault windows it injected. :func:`warmup` runs a short fault-free
workload and returns the latencies it measured.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.faults import FaultWindow
from sim.engine.figures import figures
from sim.real.injection import Draws
from sim.real.record import Watch
from sim.real.servers import Server
from sim.registry.semantics import SEMANTICS
from sim.scenario.schema import Scenario


@dataclass
class RealRun:
    """What one real run produced: a row of figures per group, the windows it injected, and
    its wall time (seconds; the run ends early once nothing is pending)."""

    rows: list[dict[str, Any]]
    windows: list[FaultWindow]
    wall_time: float
    publish_latencies: np.ndarray
    end_to_end: np.ndarray
    """Seconds from creation to first effect of every delivered message (first group)."""


def harness(server: Server, watch: Watch, draws: Draws) -> Any:
    """The harness of ``server``'s broker for the scenario's pattern."""
    if server.kind == "nats":
        from sim.real.nats_harness import NatsRun

        return NatsRun(watch, draws, server)
    from sim.real.redis_harness import RedisRun

    return RedisRun(watch, draws, server)


def real_run(scenario: Scenario, seed: int, server: Server) -> RealRun:
    """Run ``scenario`` once in real time on ``server`` with the faults of ``seed``."""
    from sim.engine.figures import end_to_end_latencies, publish_latencies

    with tempfile.TemporaryDirectory(prefix="dsim-effects-") as folder:
        watch = Watch(scenario, Path(folder))
        draws = Draws(scenario, seed)
        try:
            asyncio.run(harness(server, watch, draws).run())
            wall = watch.now()
            facts = watch.facts(SEMANTICS[scenario.delivery.semantics].producer_retries)
        finally:
            watch.close()
    return RealRun(
        figures(facts),
        draws.windows,
        wall,
        publish_latencies(facts),
        end_to_end_latencies(facts, facts.groups[0]),
    )
