"""Studies: the replications of every point of a sweep, on any executor, gathered into tidy
tables.

Replication ``r`` of every point uses the same seed, derived from the scenario seed: points of
a sweep differ only by the swept values (common random numbers). The number of replications is
given, or chosen by the sequential procedure of Hoad, Robinson & Davies (2010): add
replications until the 95% interval of every target figure is within ``precision`` of its mean
(relative half-width), then confirm that it stays there for a few more ("look-ahead").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.engine.architectures import ARCHITECTURE_FIGURES, compare
from sim.engine.figures import FIGURES
from sim.engine.simulation import simulate
from sim.engine.streams import replication_seeds
from sim.engine.timeline import CDF_LEVELS
from sim.scenario.points import SweepTable, points_of
from sim.scenario.schema import Scenario
from sim.study.executors import StudyOptionError, make_executor
from sim.study.files import KEYS
from sim.study.journal import Journal, Part, fingerprint
from sim.study.results import Results
from sim.study.stats import summarize, t_interval

if TYPE_CHECKING:
    import pandas as pd

FAULT_COLUMNS = ["target", "kind", "start", "end", "origin"]
AUTO_TARGETS = ("loss_rate", "dup_rate", "latency_mean")
"""Figures whose precision ``replications = "auto"`` controls."""
ARCHITECTURE_TARGETS = ("success_rate", "user_latency_mean", "inconsistent_rate")
AUTO_START = 5


Progress = Callable[[int, int], None]
"""Called with (runs done, runs planned) as runs finish; the plan grows under "auto"."""


def label(value: Any) -> Any:
    """A swept value as a table cell: scalars as they are, a distribution as
    ``exponential(mean=0.002)``, anything else as compact JSON."""
    if isinstance(value, dict) and "dist" in value:
        args = ", ".join(f"{k}={v}" for k, v in value.items() if k != "dist")
        return f"{value['dist']}({args})"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def kind_of(scenario: Scenario) -> tuple[str, list[str], tuple[str, ...]]:
    """(the column a row is keyed by, the figures, the figures ``auto`` makes precise)."""
    if scenario.architecture is not None:
        return "approach", ARCHITECTURE_FIGURES, ARCHITECTURE_TARGETS
    return "group", FIGURES, AUTO_TARGETS


def replicate(scenario: Scenario, seed: int, timeline: bool = False, trace: bool = False) -> Part:
    """One replication, reduced to what the tables need (cheap to send between processes)."""
    if scenario.architecture is not None:
        return compare(scenario, seed)
    result = simulate(scenario, seed, timeline, trace)
    part: Part = {
        "rows": [{k: row[k] for k in ("group", *FIGURES)} for row in result.rows],
        "windows": [[getattr(w, c) for c in FAULT_COLUMNS] for w in result.windows],
        "latency": result.latency,
    }
    if result.timeline is not None:
        part["timeline"] = result.timeline
    if result.trace is not None:
        part["trace"] = result.trace
    return part


def sweep(
    scenario: Scenario,
    sweep: SweepTable | None = None,
    *,
    replications: int | Literal["auto"] | None = None,
    seed: int | None = None,
    jobs: int | None = 1,
    executor: str | None = None,
    scheduler: str | None = None,
    precision: float = 0.05,
    max_replications: int = 200,
    out: Path | str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    trace: bool = False,
) -> Results:
    """Run every replication of every point of ``sweep`` (default: the scenario's table).

    ``jobs``: processes on this machine (``None``: all cores); ``executor``: ``serial``,
    ``processes`` or ``dask``; ``scheduler``: the address of a Dask cluster. With ``out``,
    every finished run is journaled there as it completes, and ``resume`` reuses the runs an
    earlier study of the same scenario left. ``trace`` records every event of replication 0
    of every point (``Results.trace``; see :mod:`sim.trace`).
    """
    started = time.perf_counter()
    table, points = points_of(scenario, sweep)
    base_seed = scenario.seed if seed is None else seed
    auto = replications == "auto"
    if auto:
        if not 0 < precision < 1:
            raise StudyOptionError(f"precision ({precision}) must be between 0 and 1")
        target = min(AUTO_START, max_replications)
        cap = max_replications
    else:
        target = scenario.replications if replications is None else int(replications)
        cap = target
    if target < 1:
        raise StudyOptionError(f"replications ({target}) must be at least 1")
    seeds = replication_seeds(base_seed, cap)
    keys = [fingerprint(point) for _, point in points]

    journal = Journal(Path(out), fingerprint(scenario), resume) if out is not None else None
    done: dict[tuple[int, int], Part] = {}
    traces: dict[int, pd.DataFrame] = {}
    reused = 0
    if journal is not None:
        saved = journal.load()
        for p, key in enumerate(keys):
            for r, s in enumerate(seeds):
                if (key, r, s) not in saved:
                    continue
                if r == 0 and trace and not journal.has_trace(key, s):
                    continue  # run it again, traced this time
                done[(p, r)] = saved[(key, r, s)]
                reused += 1

    runner = make_executor(jobs, executor, scheduler)
    try:

        def complete(n: int) -> None:
            """Make sure replications 0..n-1 of every point are done."""
            missing = [(p, r) for r in range(n) for p in range(len(points)) if (p, r) not in done]
            total = len(points) * n
            finished = total - len(missing)
            if progress is not None:
                progress(finished, total)
            work = (
                ((p, r), (points[p][1], seeds[r], r == 0, trace and r == 0)) for p, r in missing
            )
            for (p, r), part in runner.run(replicate, work):
                events = part.pop("trace", None)
                done[(p, r)] = part
                if events is not None:
                    traces[p] = events
                if journal is not None:
                    journal.record(keys[p], r, seeds[r], part)
                    if events is not None:
                        journal.record_trace(keys[p], seeds[r], events)
                finished += 1
                if progress is not None:
                    progress(finished, total)

        complete(target)
        precise = None
        if auto:
            targets = kind_of(scenario)[2]
            target = _sequential(
                complete, done, len(points), target, cap, precision, max(1, runner.workers), targets
            )
            precise = _precise(done, len(points), target, precision, targets)
    finally:
        runner.close()

    if trace and journal is not None:
        for p, key in enumerate(keys):
            if p not in traces and journal.has_trace(key, seeds[0]):
                traces[p] = journal.load_trace(key, seeds[0])
    results = _assemble(
        scenario.with_values({"seed": base_seed, "replications": target}, source="study"),
        table,
        points,
        done,
        seeds[:target],
        time.perf_counter() - started,
        runner.name,
        reused,
        precise,
    )
    if traces:
        import pandas as pd

        results.trace = pd.concat(
            [_identified(frame, scenario.name, *points[p]) for p, frame in sorted(traces.items())],
            ignore_index=True,
        )
    return results


def _identified(
    frame: pd.DataFrame, name: str, values: dict[str, Any], point: Scenario
) -> pd.DataFrame:
    """A point's table with the columns that say which point it is, first."""
    import pandas as pd

    ident = {**identity(name, values, point), "replication": 0}
    return pd.concat([pd.DataFrame(ident, index=frame.index), frame], axis=1)


def identity(name: str, values: dict[str, Any], point: Scenario) -> dict[str, Any]:
    """The columns that say which system and sweep point a row describes (:data:`KEYS`,
    then the swept columns)."""
    return {
        "scenario": name,
        "semantics": point.delivery.semantics,
        "pattern": point.delivery.pattern,
        **{k: label(v) for k, v in values.items()},
    }


def _sequential(
    complete: Callable[[int], None],
    done: dict[tuple[int, int], Part],
    points: int,
    n: int,
    cap: int,
    precision: float,
    step: int,
    targets: tuple[str, ...],
) -> int:
    """Hoad, Robinson & Davies (2010): the replication count with a look-ahead."""
    while n < cap:
        if _precise(done, points, n, precision, targets):
            look = 5 if n < 100 else math.ceil(0.05 * n)
            ahead = min(cap, n + look)
            complete(ahead)
            if all(_precise(done, points, m, precision, targets) for m in range(n + 1, ahead + 1)):
                return ahead
            n = ahead
        else:
            n = min(cap, n + step)
            complete(n)
    return n


def _precise(
    done: dict[tuple[int, int], Part],
    points: int,
    n: int,
    precision: float,
    targets: tuple[str, ...] = AUTO_TARGETS,
) -> bool:
    """Is every target figure of every point and group within ``precision`` after ``n``?"""
    for p in range(points):
        parts = [done[(p, r)]["rows"] for r in range(n)]
        for g in range(len(parts[0])):
            for figure in targets:
                mean, _, low, high, count = t_interval([rows[g][figure] for rows in parts])
                if count == 0:
                    continue  # undefined everywhere (nothing delivered): nothing to estimate
                if count < 2 or math.isnan(low):
                    return False
                half = (high - low) / 2
                if half > precision * abs(mean):
                    return False
    return True


def _assemble(
    scenario: Scenario,
    table: dict[str, list[Any]],
    points: list[tuple[dict[str, Any], Scenario]],
    done: dict[tuple[int, int], Part],
    seeds: list[int],
    wall: float,
    executor: str,
    reused: int,
    precise: bool | None,
) -> Results:
    import pandas as pd

    key, figures, _ = kind_of(scenario)
    rows: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    latency, timeline = [], []
    for p, (values, point) in enumerate(points):
        ident = identity(scenario.name, values, point)
        for r, s in enumerate(seeds):
            part = done[(p, r)]
            rows += [
                {
                    **ident,
                    key: row["group"],
                    "replication": r,
                    "seed": s,
                    **{k: row[k] for k in figures},
                }
                for row in part["rows"]
            ]
            windows += [
                {**ident, "replication": r, **dict(zip(FAULT_COLUMNS, w, strict=True))}
                for w in part["windows"]
            ]
        parts = [done[(p, r)]["latency"] for r in range(len(seeds))]
        latency.append(_latency_table({**ident}, key, parts))
        recorded = done[(p, 0)].get("timeline")
        if recorded:
            timeline.append(pd.DataFrame({**ident, "replication": 0, **recorded}))
    runs = pd.DataFrame(rows)
    summary = summarize(runs, [*KEYS, *table, key], figures)
    faults = pd.DataFrame(windows, columns=[*KEYS, *table, "replication", *FAULT_COLUMNS])
    return Results(
        scenario=scenario,
        runs=runs,
        summary=summary,
        faults=faults,
        seeds=seeds,
        sweep=table,
        wall_time=wall,
        executor=executor,
        reused=reused,
        precise=precise,
        latency=pd.concat(latency, ignore_index=True),
        timeline=pd.concat(timeline, ignore_index=True) if timeline else pd.DataFrame(),
        key=key,
    )


def _latency_table(
    ident: dict[str, Any], key: str, runs: list[dict[str, dict[str, list[float]]]]
) -> pd.DataFrame:
    """Latency distributions of one point: the quantile functions averaged over replications
    (Vincent averaging), one row per group (or approach), kind and quantile."""
    import pandas as pd

    frames = []
    for group, kinds in runs[0].items():
        for kind in kinds:
            stack = np.array([run[group][kind] for run in runs], dtype=float)
            defined = ~np.isnan(stack)
            counts = defined.sum(axis=0)
            mean = np.where(
                counts > 0,
                np.where(defined, stack, 0.0).sum(axis=0) / np.maximum(counts, 1),
                np.nan,
            )
            frames.append(
                pd.DataFrame(
                    {**ident, key: group, "kind": kind, "quantile": CDF_LEVELS, "seconds": mean}
                )
            )
    return pd.concat(frames, ignore_index=True)


def run(
    scenario: Scenario,
    replications: int | Literal["auto"] | None = None,
    seed: int | None = None,
    **options: Any,
) -> Results:
    """Run a scenario (and the sweep its file declares): see :func:`sweep` for ``options``."""
    return sweep(scenario, None, replications=replications, seed=seed, **options)
