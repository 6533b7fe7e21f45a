"""Sweep throughput: an 8-point sweep run serially and on a local process pool.

    python benchmarks/bench_sweep.py [--replications 4] [--repeat 2] [--json]

The sweep crosses two semantics x two patterns x two publish-ack
loss levels (8 points) of a 60 s, 100 messages/s scenario. Serial (jobs 1) and pool (jobs 2)
runs alternate, so the speed-up holds on a noisy machine; the median of each is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import sim

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


def timed(jobs: int, replications: int) -> tuple[float, str]:
    started = time.perf_counter()
    results = sim.sweep(scenario(), SWEEP, replications=replications, jobs=jobs)
    return time.perf_counter() - started, results.runs.to_csv(index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    serial, pool = [], []
    for _ in range(args.repeat):
        s, serial_csv = timed(1, args.replications)
        p, pool_csv = timed(2, args.replications)
        assert serial_csv == pool_csv, "the pool must give the serial tables, byte for byte"
        serial.append(s)
        pool.append(p)
    runs = 8 * args.replications
    summary = {
        "benchmark": "sweep",
        "points": 8,
        "replications": args.replications,
        "runs": runs,
        "jobs1_seconds": statistics.median(serial),
        "jobs2_seconds": statistics.median(pool),
        "speedup": statistics.median(serial) / statistics.median(pool),
    }
    print(f"{'jobs':>4} {'seconds':>8} {'runs/s':>7}")
    print(f"{1:>4} {summary['jobs1_seconds']:>8.2f} {runs / summary['jobs1_seconds']:>7.1f}")
    print(f"{2:>4} {summary['jobs2_seconds']:>8.2f} {runs / summary['jobs2_seconds']:>7.1f}")
    print(f"speed-up with 2 jobs: {summary['speedup']:.2f}x")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
