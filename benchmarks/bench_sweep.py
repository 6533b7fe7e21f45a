"""Whole `dsim` commands as a user runs them: the parallel speed-up of a sweep end to end
(start-up, simulation, result files and charts), and how fast the light commands start.

    python benchmarks/bench_sweep.py [--repeat 5] [--json]

* The 8-point sweep of issue 16: two semantics x four publish-loss values, 3 replications of
  60 s at 100 messages/s, pub/sub, charts included, run with ``--jobs 1`` and ``--jobs 2`` in
  pairs, back to back (the first of a pair alternates); the two result directories must hold
  the same bytes (runs, summary, latency, timeline, faults, charts).
* The built-in comparison (``dsim run`` with no argument) the same way.
* The machine's own ceiling, beside each pair: a fixed pure-Python loop, twice in one process
  and once in each of two processes at the same time. Nothing a program does on two processes
  scales better than that; on a shared virtual machine it is well under 2x and moves from
  minute to minute, so the sweep's speed-up is reported next to it.
* ``dsim --help``, ``dsim list`` and ``dsim validate`` (the goal: under 0.4 s each).

The speed-up of a study is the median over the pairs of (``--jobs 1`` time / ``--jobs 2``
time): each pair runs within seconds, so it sees one state of the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """
name = "bench-sweep"
replications = 3
duration = 60.0
drain = 20.0

[workload]
rate = 100.0

[delivery]
pattern = "pubsub"

[broker]
prefetch = 10

[[consumers]]
name = "c"
crash_after_process = 0.01
restart_time = { dist = "constant", value = 0.05 }

[sweep]
"delivery.semantics" = ["at-least-once", "exactly-once"]
"network.publish.loss" = [0.0, 0.01, 0.05, 0.1]
"""
TABLES = ("runs.csv", "summary.csv", "latency.csv", "timeline.csv", "faults.csv")
DSIM = [sys.executable, "-m", "sim.cli"]


def seconds(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([*DSIM, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(scenario: list[str], jobs: int, out: Path) -> float:
    return seconds("run", *scenario, "--out", str(out), "--jobs", str(jobs), "--quiet", "--force")


CEILING = """
import time
from multiprocessing import get_context

def spin(n):
    total = 0
    for i in range(n):
        total += i * i
    return total

if __name__ == "__main__":
    n = 3_000_000
    serial = parallel = 0.0
    with get_context("fork").Pool(2) as pool:
        pool.map(spin, [1, 1])  # the workers exist before the clock starts
        for _ in range(3):  # alternated, so that both see the machine's moods alike
            started = time.perf_counter()
            spin(n), spin(n)
            serial += time.perf_counter() - started
            started = time.perf_counter()
            pool.map(spin, [n, n], chunksize=1)
            parallel += time.perf_counter() - started
    print(serial / parallel)
"""
"""The machine's two-process ceiling: the same CPU-bound loop twice in one process, then once
in each of two processes at once (no start-up, no communication, nothing serial)."""


def ceiling() -> float:
    """The machine's two-process speed-up of perfectly parallel pure-Python work, now."""
    child = subprocess.run(
        [sys.executable, "-c", CEILING], check=True, capture_output=True, text=True
    )
    return float(child.stdout)


def compare(name: str, scenario: list[str], repeat: int, work: Path) -> dict:
    serial: list[float] = []
    pool: list[float] = []
    ceilings: list[float] = []
    for k in range(repeat):
        one, two = work / f"{name}-1-{k}", work / f"{name}-2-{k}"
        pair = [(1, one, serial), (2, two, pool)]
        for jobs, out, times in pair if k % 2 == 0 else reversed(pair):
            times.append(run(scenario, jobs, out))
        ceilings.append(ceiling())
        for table in TABLES:
            same = (one / table).read_bytes() == (two / table).read_bytes()
            assert same, f"{table}: --jobs 2 must write the bytes --jobs 1 writes"
        charts = sorted(p.name for p in (one / "charts").iterdir())
        assert charts == sorted(p.name for p in (two / "charts").iterdir()) and charts
        for chart in charts:
            same = (one / "charts" / chart).read_bytes() == (two / "charts" / chart).read_bytes()
            assert same, f"{chart}: the charts drawn in parallel must be the same files"
    speedups = [a / b for a, b in zip(serial, pool, strict=True)]
    return {
        "study": name,
        "jobs1_seconds": statistics.median(serial),
        "jobs2_seconds": statistics.median(pool),
        "speedup": statistics.median(speedups),
        "speedups": speedups,
        "machine_ceiling": statistics.median(ceilings),
        "machine_ceilings": ceilings,
        "jobs1_runs": serial,
        "jobs2_runs": pool,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs per study")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweep = work / "sweep.toml"
        sweep.write_text(SWEEP)
        rows = [
            compare("sweep", [str(sweep)], args.repeat, work),
            compare("default", [], args.repeat, work),
        ]
        starts = {
            " ".join(command): statistics.median(seconds(*command) for _ in range(5))
            for command in (["--help"], ["list"], ["validate", str(sweep)])
        }
    print(
        f"{'study':>8} {'jobs 1 (s)':>11} {'jobs 2 (s)':>11} {'speed-up':>9} "
        f"{'pairs (min-max)':>16} {'machine ceiling':>16}"
    )
    for r in rows:
        spread = f"{min(r['speedups']):.2f}-{max(r['speedups']):.2f}x"
        print(
            f"{r['study']:>8} {r['jobs1_seconds']:>11.2f} {r['jobs2_seconds']:>11.2f} "
            f"{r['speedup']:>8.2f}x {spread:>16} {r['machine_ceiling']:>15.2f}x"
        )
    print("(medians over the pairs; the ceiling: a pure-Python loop on 1 and on 2 processes)")
    for command, value in starts.items():
        name = command.replace(str(work) + "/", "")
        print(f"dsim {name}: {value:.2f} s")
    if args.json:
        starts_named = {k.replace(str(work) + "/", ""): v for k, v in starts.items()}
        print(json.dumps({"benchmark": "sweep", "results": rows, "start_seconds": starts_named}))


if __name__ == "__main__":
    main()
