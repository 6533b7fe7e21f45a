"""Core throughput: messages simulated per second on the reference at-least-once pipeline.

The scenario (fixed, so figures compare across commits): one Poisson producer at 100
messages/s for 1,000 simulated seconds (about 100k messages), at-least-once over a streaming
log, 10% of publish acks lost, 1% of deliveries crash the consumer after processing.

    python benchmarks/bench_core.py [--messages 100000] [--repeat 3] [--json]

Prints a table and, with --json, one JSON object. Wall-clock figures are noisy on shared
machines (±30% minute to minute here): the median of several repeats is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sim import simulate, validate


def reference_scenario(messages: int) -> dict:
    rate = 100.0
    return {
        "name": "bench-core",
        "duration": messages / rate,
        "drain": 30.0,
        "workload": {"rate": rate},
        "delivery": {"semantics": "at-least-once", "pattern": "streaming"},
        "network": {"publish_ack": {"loss": 0.1}},
        "consumers": [
            {
                "name": "c",
                "crash_after_process": 0.01,
                "restart_time": {"dist": "constant", "value": 0.05},
            }
        ],
    }


def measure(messages: int, seed: int) -> dict:
    scenario = validate(reference_scenario(messages))
    started = time.perf_counter()
    result = simulate(scenario, seed)
    seconds = time.perf_counter() - started
    row = result.rows[0]
    return {
        "seconds": seconds,
        "produced": row["produced"],
        "messages_per_second": row["produced"] / seconds,
        "dup_rate": row["dup_rate"],
        "lost": row["lost"],
        "pending": row["pending"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [measure(args.messages, seed) for seed in range(1, args.repeat + 1)]
    rates = [r["messages_per_second"] for r in runs]
    summary = {
        "benchmark": "core",
        "messages": args.messages,
        "repeats": args.repeat,
        "messages_per_second_median": statistics.median(rates),
        "messages_per_second_min": min(rates),
        "messages_per_second_max": max(rates),
        "runs": runs,
    }
    print(f"{'run':>4} {'messages':>10} {'seconds':>8} {'msg/s':>9} {'dup_rate':>9}")
    for i, r in enumerate(runs, 1):
        print(
            f"{i:>4} {r['produced']:>10} {r['seconds']:>8.2f} {r['messages_per_second']:>9.0f}"
            f" {r['dup_rate']:>9.4f}"
        )
    print(f"median: {summary['messages_per_second_median']:.0f} messages/s")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
