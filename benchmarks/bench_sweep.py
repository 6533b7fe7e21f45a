"""Studies on a local process pool: an 8-point sweep and the built-in default comparison,
each with --jobs 1 and --jobs 2, and the whole `dsim run` (charts included).

    python benchmarks/bench_sweep.py [--replications 4] [--repeat 2] [--json]

The 8-point sweep crosses two semantics x two patterns x two publish-ack loss levels of a
60 s, 100 messages/s scenario. Serial and pool runs alternate, so the speed-up holds on a
noisy machine; the median of each is reported. Both must give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import sim
from sim.scenario.catalog import default_scenario

SWEEP = {
    "delivery.semantics": ["at-least-once", "exactly-once"],
    "delivery.pattern": ["streaming", "pubsub"],
    "network.publish_ack.loss": [0.0, 0.1],
}


def scenario() -> sim.Scenario:
    return sim.validate(
        {
            "name": "bench-sweep",
            "duration": 60.0,
            "drain": 20.0,
            "broker": {"prefetch": 10},
            "consumers": [
                {
                    "name": "c",
                    "crash_after_process": 0.01,
                    "restart_time": {"dist": "constant", "value": 0.05},
                }
            ],
        }
    )


def timed(jobs: int, replications: int | None, study: str = "sweep") -> tuple[float, str]:
    started = time.perf_counter()
    if study == "sweep":
        results = sim.sweep(scenario(), SWEEP, replications=replications, jobs=jobs)
    else:  # the built-in comparison that `dsim run` runs
        results = sim.run(sim.load_scenario(default_scenario()), jobs=jobs)
    return time.perf_counter() - started, results.runs.to_csv(index=False)


def cli_seconds() -> float:
    """`dsim run` with no argument, end to end (start-up, simulation, files, charts)."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sim.cli", "run", "--out", out, "--quiet"], check=True
        )
        return time.perf_counter() - started


def compare(study: str, replications: int | None, repeat: int) -> dict:
    serial, pool = [], []
    for _ in range(repeat):
        s, serial_csv = timed(1, replications, study)
        p, pool_csv = timed(2, replications, study)
        assert serial_csv == pool_csv, "the pool must give the serial tables, byte for byte"
        serial.append(s)
        pool.append(p)
    return {
        "study": study,
        "jobs1_seconds": statistics.median(serial),
        "jobs2_seconds": statistics.median(pool),
        "speedup": statistics.median(serial) / statistics.median(pool),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [compare("sweep", args.replications, args.repeat), compare("default", None, args.repeat)]
    cli = statistics.median(cli_seconds() for _ in range(args.repeat))
    print(f"{'study':>8} {'jobs 1 (s)':>11} {'jobs 2 (s)':>11} {'speed-up':>9}")
    for r in rows:
        print(
            f"{r['study']:>8} {r['jobs1_seconds']:>11.2f} {r['jobs2_seconds']:>11.2f} "
            f"{r['speedup']:>8.2f}x"
        )
    print(f"dsim run (the default comparison, charts included, all cores): {cli:.1f} s")
    if args.json:
        print(json.dumps({"benchmark": "sweep", "results": rows, "dsim_run_seconds": cli}))


if __name__ == "__main__":
    main()
