"""The timeline of one replication: what the system held and did over time.

A sampler looks at the broker every ``step`` simulated seconds (its publish queue, the stored
copies not yet consumed, each group's lag); rates and cumulative counts come afterwards from
the ledger's per-message arrays, bucketed at the same step. Losses are placed at the creation
time of the lost message (when it is known to be lost is only the end of the run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sim.engine.clock import Clock
from sim.engine.figures import RunFacts
from sim.engine.shapes import Pattern

SAMPLES = 200
"""Samples in a run when the scenario leaves ``timeline_step`` at 0."""


class Timeline:
    """Samples of the broker and the groups, taken by a process on the simulation clock."""

    def __init__(
        self,
        clock: Clock,
        horizon: float,
        step: float,
        queue: Callable[[], int],
        pattern: Pattern,
        groups: int,
    ):
        """Sample every ``step`` seconds (0: a 200th of ``horizon``) the broker's publish
        queue (``queue()``: waiting and in service) and what ``pattern`` holds."""
        self.clock = clock
        self.step = step or (horizon / SAMPLES if horizon > 0 else 1.0)
        self._queue = queue
        self._pattern = pattern
        self.samples: dict[str, list[float]] = {"time": [], "broker_queue": [], "backlog": []}
        self.lags: list[list[int]] = [[] for _ in range(groups)]
        if horizon > 0:
            clock.process(self._sample())

    def _sample(self) -> Generator[Any, Any, None]:
        clock, pattern = self.clock, self._pattern
        while True:
            yield clock.timeout(self.step)
            self.samples["time"].append(clock.now)
            self.samples["broker_queue"].append(self._queue())
            self.samples["backlog"].append(pattern.unconsumed)
            for g, lags in enumerate(self.lags):
                lags.append(pattern.lag(g))

    def table(self, run: RunFacts, duplicated_at: list[np.ndarray]) -> dict[str, list[Any]]:
        """Columns: group, time, the samples, and per step rates and cumulative counts;
        ``duplicated_at``: per group, when each duplicate was applied."""
        times = np.asarray(self.samples["time"])
        edges = np.concatenate([[0.0], times])
        columns: dict[str, list[Any]] = {
            k: []
            for k in (
                "group",
                "time",
                "produced_per_s",
                "delivered_per_s",
                "broker_queue",
                "backlog",
                "lag",
                "lost_cumulative",
                "duplicates_cumulative",
            )
        }
        created = run.created
        produced = _count(created, edges) / self.step
        for g, out in enumerate(run.groups):
            delivered = _count(out.first_effect[out.delivered], edges) / self.step
            lost = np.cumsum(_count(created[out.lost], edges))
            duplicates = np.cumsum(_count(duplicated_at[g], edges))
            columns["group"] += [out.name] * len(times)
            columns["time"] += times.tolist()
            columns["produced_per_s"] += produced.tolist()
            columns["delivered_per_s"] += delivered.tolist()
            columns["broker_queue"] += self.samples["broker_queue"]
            columns["backlog"] += self.samples["backlog"]
            columns["lag"] += self.lags[g]
            columns["lost_cumulative"] += lost.astype(int).tolist()
            columns["duplicates_cumulative"] += duplicates.astype(int).tolist()
        return columns


def _count(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    if len(edges) < 2:
        return np.zeros(0)
    return np.histogram(values, bins=edges)[0].astype(float)


CDF_LEVELS = np.concatenate([np.linspace(0.0, 0.99, 100), np.linspace(0.991, 1.0, 10)])
"""Where latency distributions are sampled: every percent, then every permille of the tail."""


def quantile_function(values: np.ndarray) -> list[float]:
    """The latency distribution of one run as its quantiles at :data:`CDF_LEVELS` (NaN when
    there is nothing to describe); averaged over replications it draws a CDF."""
    if len(values) == 0:
        return [math.nan] * len(CDF_LEVELS)
    return np.quantile(values, CDF_LEVELS).tolist()
