"""Replications (and the points of a sweep) of a scenario, gathered into tidy tables.

Replication ``r`` of every point uses the same seed, derived from the scenario seed: points of
a sweep differ only by the swept values (common random numbers).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sim.model import FIGURES, simulate
from sim.scenario import Scenario, ScenarioError
from sim.stats import summarize
from sim.streams import replication_seeds

KEYS = ["scenario", "semantics", "pattern"]
"""Columns that say which system a row describes (sweep keys follow them)."""


@dataclass
class Results:
    """What a study produced: ``runs`` (one row per point, replication and consumer group),
    ``summary`` (mean and 95% interval per figure) and the recorded fault windows."""

    scenario: Scenario
    runs: pd.DataFrame
    summary: pd.DataFrame
    faults: pd.DataFrame
    seeds: list[int]
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def by(self) -> list[str]:
        """The columns a summary row is keyed by."""
        return [*KEYS, *self.sweep, "group"]


Progress = Callable[[int, int], None]
"""Called with (runs done, runs in all) after every replication."""


def sweep_points(sweep: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of a sweep table, in the order its keys were written."""
    keys = list(sweep)
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(sweep[k] for k in keys))
    ]


def points_of(
    scenario: Scenario, sweep: Mapping[str, Sequence[Any]] | None = None
) -> tuple[dict[str, list[Any]], list[tuple[dict[str, Any], Scenario]]]:
    """Validate every point of a sweep up front, so a bad value fails before anything runs."""
    table = {k: list(v) for k, v in (sweep if sweep is not None else scenario.sweep).items()}
    base = scenario.model_copy(update={"sweep": {}})
    points = []
    for values in sweep_points(table) or [{}]:
        try:
            points.append((values, base.with_values(values, source="sweep") if values else base))
        except ScenarioError as exc:
            detail = [f'sweep."{k}" = {v!r}' for k, v in values.items()]
            raise ScenarioError(f"{scenario.name} ({', '.join(detail)})", exc.problems) from None
    return table, points


def run(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    progress: Progress | None = None,
) -> Results:
    """Run every replication of every sweep point; return tidy results."""
    started = time.perf_counter()
    n = replications if replications is not None else scenario.replications
    base_seed = scenario.seed if seed is None else seed
    if (n, base_seed) != (scenario.replications, scenario.seed):
        scenario = scenario.with_values(
            {"seed": base_seed, "replications": n}, source="run() arguments"
        )
    seeds = replication_seeds(base_seed, n)
    table, points = points_of(scenario, sweep)
    rows: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    total, done = len(points) * n, 0
    for values, point in points:
        ident = {
            "scenario": scenario.name,
            "semantics": point.delivery.semantics,
            "pattern": point.delivery.pattern,
            **values,
        }
        for r, s in enumerate(seeds):
            result = simulate(point, s)
            for row in result.rows:
                rows.append(
                    {
                        **ident,
                        "group": row["group"],
                        "replication": r,
                        "seed": s,
                        **{k: row[k] for k in FIGURES},
                    }
                )
            windows += [
                {
                    **ident,
                    "replication": r,
                    "target": w.target,
                    "kind": w.kind,
                    "start": w.start,
                    "end": w.end,
                    "origin": w.origin,
                }
                for w in result.windows
            ]
            done += 1
            if progress is not None:
                progress(done, total)
    runs = pd.DataFrame(rows)
    by = [*KEYS, *table, "group"]
    summary = summarize(runs, by, FIGURES)
    fault_columns = [*KEYS, *table, "replication", "target", "kind", "start", "end", "origin"]
    return Results(
        scenario=scenario,
        runs=runs,
        summary=summary,
        faults=pd.DataFrame(windows, columns=fault_columns),
        seeds=seeds,
        sweep=table,
        wall_time=time.perf_counter() - started,
    )
