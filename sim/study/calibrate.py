"""Calibration: a scenario on a real broker beside the simulator's prediction of it.

:func:`calibrate` runs the scenario ``runs`` times in real time on a fresh server each time
(:mod:`sim.real`), each run with its own seed derived from the scenario seed (the same seeds the
simulator's replications get, so run ``r`` and replication ``r`` see the same arrivals and the
same fault draws), measures the latency in a fault-free warm-up, then simulates the scenario
with the measured latency in place of the scenario's and compares every figure of
:data:`COMPARED`: 95% t intervals on both sides, and ``agree`` when the difference is within
:data:`AGREEMENT` standard errors of the difference.

:func:`decided_by` says who decides each figure in a scenario: the ``broker`` (the duplicate
window, AckWait redelivery, MaxAckPending stalls, a negative ack's redelivery, MaxDeliver,
what survives a SIGKILL, real latency) or the ``harness`` (what holds by construction against
any broker that stores what it is given).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.engine.streams import replication_seeds
from sim.real.runs import Measured, real_run, warmup
from sim.real.servers import SERVERS
from sim.real.support import refusals
from sim.registry.semantics import SEMANTICS
from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.schema import Scenario
from sim.study.files import SCENARIO_HEAD, TOOL, provenance, version, write_atomic
from sim.study.stats import t_interval

if TYPE_CHECKING:
    import pandas as pd

COMPARED = (
    "produced",
    "eligible",
    "delivered",
    "lost",
    "pending",
    "loss_rate",
    "dead_lettered",
    "dead_letter_rate",
    "dead_lettered_after_apply",
    "duplicates",
    "dup_rate",
    "broker_duplicates",
    "broker_dup_rate",
    "attempts",
    "redeliveries",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "publish_latency_p50",
    "publish_latency_p99",
)
"""The figures a calibration compares, in the order it shows them."""
CALIBRATION_COLUMNS = (
    "figure",
    "group",
    "observed_mean",
    "observed_low",
    "observed_high",
    "predicted_mean",
    "predicted_low",
    "predicted_high",
    "difference",
    "agree",
    "decided_by",
)
"""The columns of ``calibration.csv``, in order."""
AGREEMENT = 4.0
"""Observed and predicted agree when their difference is within this many standard errors
of the difference."""
SERVER_START = 0.5
"""Seconds a server takes to start and a run to set up (for the expected wall time)."""

LATENCY = {f for f in COMPARED if "latency" in f}
DELIVERY = {"delivered", "lost", "pending", "loss_rate"}
DUPLICATION = {"duplicates", "dup_rate"}
STORED = {"broker_duplicates", "broker_dup_rate"}
DEAD_LETTER = {"dead_lettered", "dead_letter_rate", "dead_lettered_after_apply"}
DECIDES = {
    "dedup_window": DUPLICATION | STORED | {"attempts"},
    "redelivery": DUPLICATION | DELIVERY | {"redeliveries"},
    "nak_redelivery": DELIVERY | {"redeliveries"},
    "delivery_limit": DELIVERY | DEAD_LETTER | {"redeliveries"},
    "durability": DELIVERY | DUPLICATION | STORED | {"attempts", "redeliveries"},
}
"""The figures each broker mechanism decides (see :func:`mechanisms`)."""

Progress = Callable[[str], None]
"""Told what the calibration is doing, as it starts each step."""


def mechanisms(scenario: Scenario) -> set[str]:
    """The broker's mechanisms the scenario exercises: ``dedup_window`` (idempotent publish),
    ``redelivery`` (AckWait, MaxAckPending), ``nak_redelivery`` (a poison message's negative
    ack, redelivered at once), ``delivery_limit`` (MaxDeliver counting the deliveries of what
    comes back), ``durability`` (a broker crash). Which messages are poison is the harness's
    (the simulator's seeded draw), and so is the dead-letter record it keeps from the
    broker's MaxDeliver advisories."""
    s = scenario
    semantics = SEMANTICS[s.delivery.semantics]
    found = set()
    if semantics.idempotent_publish:
        found.add("dedup_window")
    consumer_faults = (
        any(
            c.crash_before_process or c.crash_after_process or math.isfinite(c.mtbf)
            for c in s.consumers
        )
        or any(s.network.link(link).loss for link in ("deliver", "consume_ack"))
        or any(
            f.target.startswith(("consumer:", "link:deliver", "link:consume_ack")) for f in s.faults
        )
    )
    redelivering = s.delivery.pattern == "pubsub" and semantics.broker_redelivers
    if redelivering and consumer_faults:
        found.add("redelivery")
    if redelivering and s.workload.poison:
        found.add("nak_redelivery")
    if redelivering and s.delivery.max_deliveries and (consumer_faults or s.workload.poison):
        found.add("delivery_limit")
    if any(f.target == "broker" for f in s.faults):
        found.add("durability")
    return found


def decided_by(figure: str, scenario: Scenario) -> str:
    """``broker`` when a broker mechanism the scenario exercises decides ``figure`` (or it is
    a latency, which is always the real broker's), else ``harness``."""
    if figure in LATENCY:
        return "broker"
    found = mechanisms(scenario)
    if any(figure in DECIDES[mechanism] for mechanism in found):
        return "broker"
    return "harness"


class CalibrationRefused(ScenarioError):
    """The scenario sets what the broker cannot reproduce (key paths and why)."""

    def __init__(self, source: str, problems: list[Problem]):
        super().__init__(source, problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        self.args = (f"{source}: cannot be calibrated\n{lines}",)

    def __str__(self) -> str:
        return str(self.args[0])


def expected_wall(points: list[Point], runs: int) -> float:
    """Seconds the calibration takes at most: per point, the warm-up and ``runs`` runs of
    ``duration + drain`` (each ends early once nothing is pending), and the servers' starts."""
    from sim.real.runs import WARMUP_SECONDS

    total = 0.0
    for _, point in points:
        per_run = point.duration + point.drain + SERVER_START
        total += WARMUP_SECONDS + 1.0 + SERVER_START + runs * per_run
    return total


@dataclass
class Calibration:
    """What a calibration produced."""

    scenario: Scenario
    broker: str
    seeds: list[int]
    real_runs: pd.DataFrame
    """One row per real run and group, the columns of ``runs.csv``."""
    predicted: pd.DataFrame
    """The simulator's runs of the predicted scenario (``runs.csv`` columns)."""
    table: pd.DataFrame
    """One row per figure and group: the :data:`CALIBRATION_COLUMNS`."""
    measured: dict[str, Measured]
    """The latency measured at each point (keyed by its ``column = value, ...``; ``""``
    without a sweep)."""
    wall_time: float = 0.0
    real_wall: list[float] = field(default_factory=list)
    """Wall seconds of each real run."""
    swept: list[str] = field(default_factory=list)
    """The swept columns ahead of the :data:`CALIBRATION_COLUMNS` (none without a sweep)."""

    @property
    def disagreements(self) -> pd.DataFrame:
        """The rows whose figure did not agree."""
        return self.table[~self.table["agree"].astype(bool)]


def prediction_scenario(scenario: Scenario, measured: Measured) -> Scenario:
    """The scenario as the simulator predicts it: the measured latency on every link, no
    broker service time (it is inside the measured round trip)."""
    return scenario.with_values(
        {**measured.links(), "broker.service_time": {"dist": "constant", "value": 0.0}},
        source="calibration",
    )


Point = tuple[dict[str, Any], Scenario]
"""A point of a sweep: its swept columns (empty without a sweep) and its scenario."""


def chosen_points(
    scenario: Scenario, broker: str, at: Mapping[str, str] | None = None
) -> list[Point]:
    """The points to calibrate: every point of the scenario's sweep, or those ``at`` picks
    (column -> value as text). Raises :class:`CalibrationRefused` for an ``at`` that picks
    nothing and for what ``broker`` cannot reproduce at any chosen point."""
    from sim.scenario.points import points_of
    from sim.study.runner import label

    if broker not in SERVERS:
        why = f"expected one of {', '.join(SERVERS)}; got {broker!r}"
        raise CalibrationRefused("--broker", [Problem("--broker", why)])
    _, points = points_of(scenario)
    for column, text in (at or {}).items():
        columns = list(points[0][0])
        if column not in columns:
            known = ", ".join(columns) or "none: the scenario has no sweep"
            why = f"not a swept column; the swept columns: {known}"
            raise CalibrationRefused(scenario.name, [Problem(f"--at {column}", why)])
        taken = [str(label(values[column])) for values, _ in points]
        points = [p for p, t in zip(points, taken, strict=True) if t == text]
        if not points:
            why = f"no point has {text!r}; it takes: {', '.join(dict.fromkeys(taken))}"
            raise CalibrationRefused(scenario.name, [Problem(f"--at {column}", why)])
    found: dict[tuple[str, str], list[str]] = {}
    for values, point in points:
        where = ", ".join(f"{k} = {label(v)}" for k, v in values.items())
        for key in refusals(point, broker):
            found.setdefault(key, []).append(where)
    if found:
        problems = [
            Problem(path, why if len(wheres) == len(points) else f"{why} (at {'; '.join(wheres)})")
            for (path, why), wheres in found.items()
        ]
        raise CalibrationRefused(f"{scenario.name} on {broker}", problems)
    return points


def calibrate(
    scenario: Scenario,
    broker: str,
    runs: int = 3,
    seed: int | None = None,
    progress: Progress | None = None,
    at: Mapping[str, str] | None = None,
) -> Calibration:
    """Run ``scenario`` (each chosen point of its sweep) ``runs`` times on ``broker`` and
    compare with the simulator (see the module docstring). Raises
    :class:`CalibrationRefused` before anything runs when the broker cannot reproduce it."""
    import pandas as pd

    points = chosen_points(scenario, broker, at)
    started = time.monotonic()
    base = scenario.seed if seed is None else seed
    seeds = replication_seeds(base, runs)
    tell = progress or (lambda _: None)
    parts = []
    for k, (values, point) in enumerate(points):
        where = ", ".join(f"{c} = {v}" for c, v in values.items())
        prefix = f"point {k + 1}/{len(points)} ({where}): " if values else ""
        point = point.with_values({"seed": base}, source="calibration")
        parts.append(_point(scenario.name, values, point, broker, seeds, tell, prefix))
    swept = list(points[0][0])
    real = pd.concat([p.real_runs for p in parts], ignore_index=True)
    predicted = pd.concat([p.predicted for p in parts], ignore_index=True)
    table = pd.concat([p.table for p in parts], ignore_index=True)
    return Calibration(
        scenario.with_values({"seed": base}, source="calibration"),
        broker,
        seeds,
        real,
        predicted,
        table,
        {p.label: p.measured for p in parts},
        time.monotonic() - started,
        [w for p in parts for w in p.real_wall],
        swept,
    )


@dataclass
class _PointResult:
    label: str
    real_runs: pd.DataFrame
    predicted: pd.DataFrame
    table: pd.DataFrame
    measured: Measured
    real_wall: list[float]


def _point(
    name: str,
    values: dict[str, Any],
    scenario: Scenario,
    broker: str,
    seeds: list[int],
    tell: Progress,
    prefix: str,
) -> _PointResult:
    import pandas as pd

    from sim.study.runner import identity, label, sweep

    server_kind = SERVERS[broker]
    durable = scenario.broker.durability == "durable"
    tell(f"{prefix}warm-up: measuring latency")
    with server_kind(durable) as server:
        measured = warmup(scenario, server)
    rows = []
    walls = []
    ident = identity(name, values, scenario)
    for r, s in enumerate(seeds):
        tell(f"{prefix}real run {r + 1}/{len(seeds)} on {broker}")
        with server_kind(durable) as server:
            run = real_run(scenario, s, server)
        walls.append(run.wall_time)
        rows += [
            {**ident, "group": row["group"], "replication": r, "seed": s, **row} for row in run.rows
        ]
    real = pd.DataFrame(rows)
    tell(f"{prefix}simulating {scenario.replications} replications")
    predicted = sweep(prediction_scenario(scenario, measured), None, jobs=1, executor="serial")
    runs = predicted.runs
    for column, value in reversed(values.items()):
        runs.insert(3, column, label(value))
    table = compare(real, runs, scenario)
    for column, value in reversed(values.items()):
        table.insert(0, column, label(value))
    where = ", ".join(f"{c} = {label(v)}" for c, v in values.items())
    return _PointResult(where, real, runs, table, measured, walls)


def compare(real: pd.DataFrame, predicted: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The :data:`CALIBRATION_COLUMNS` table: per group and figure, observed and predicted
    mean with 95% intervals, their difference and whether it is within :data:`AGREEMENT`
    standard errors."""
    import pandas as pd

    out = []
    for group in dict.fromkeys(real["group"]):
        mine = real[real["group"] == group]
        theirs = predicted[predicted["group"] == group]
        for figure in COMPARED:
            o = t_interval(mine[figure].to_numpy(dtype=float))
            p = t_interval(theirs[figure].to_numpy(dtype=float))
            difference = o[0] - p[0]
            out.append(
                {
                    "figure": figure,
                    "group": group,
                    "observed_mean": o[0],
                    "observed_low": o[2],
                    "observed_high": o[3],
                    "predicted_mean": p[0],
                    "predicted_low": p[2],
                    "predicted_high": p[3],
                    "difference": difference,
                    "agree": agree(difference, o, p),
                    "decided_by": decided_by(figure, scenario),
                }
            )
    return pd.DataFrame(out, columns=list(CALIBRATION_COLUMNS))


def agree(difference: float, observed: tuple[float, ...], predicted: tuple[float, ...]) -> bool:
    """Whether ``difference`` is within :data:`AGREEMENT` standard errors of the difference
    of two means, from each side's (mean, sd, low, high, n). A side with one value contributes
    no variance; with no variance at all only an equal mean agrees; an undefined figure agrees
    with an undefined one."""
    if math.isnan(observed[0]) or math.isnan(predicted[0]):
        return math.isnan(observed[0]) and math.isnan(predicted[0])
    variance = sum((side[1] ** 2) / side[4] for side in (observed, predicted) if side[4] > 1)
    se = math.sqrt(variance)
    if se == 0:
        return bool(abs(difference) <= 1e-9 * max(1.0, abs(predicted[0])))
    return bool(abs(difference) <= AGREEMENT * se)


def write_calibration(
    result: Calibration, out: Path, command: list[str] | None = None
) -> list[Path]:
    """``calibration.csv``, ``real_runs.csv``, ``runs.csv`` (the prediction's), the resolved
    ``scenario.toml`` and ``meta.json`` (with the broker and the measured latency) in ``out``."""
    meta: dict[str, Any] = {
        "tool": TOOL,
        "version": version(),
        "kind": "calibration",
        "broker": result.broker,
        "scenario": result.scenario.name,
        "seed": result.scenario.seed,
        "real_runs": len(result.seeds),
        "real_run_seeds": result.seeds,
        "real_run_wall_seconds": [round(w, 3) for w in result.real_wall],
        "replications": result.scenario.replications,
        "measured_latency": {k: m.describe() for k, m in result.measured.items()},
        "sweep": result.swept,
        "agreement_standard_errors": AGREEMENT,
        "wall_time_seconds": round(result.wall_time, 3),
        **provenance(command),
    }
    files = {
        "calibration.csv": result.table.to_csv(index=False),
        "real_runs.csv": result.real_runs.to_csv(index=False),
        "predicted_runs.csv": result.predicted.to_csv(index=False),
        "scenario.toml": SCENARIO_HEAD + result.scenario.to_toml(),
        "meta.json": json.dumps(meta, indent=2) + "\n",
    }
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths
