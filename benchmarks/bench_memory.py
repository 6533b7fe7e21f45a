"""Peak memory and time per simulated message, on the core benchmark's pipeline.

Each size runs in a fresh process, which reports its peak resident set size; the peak of a
small run (the interpreter, numpy, SimPy and the model's fixed parts) is subtracted, and the
rest divided by the number of messages.

    python benchmarks/bench_memory.py [--sizes 1000000 10000000]
                                      [--traced-sizes 1000000 10000000] [--json]

Both lists may be given empty (``--sizes`` alone: no untraced run). The whole default plan
takes about 12 minutes and needs about 9 GB (10M messages traced).

Target: at most 200 bytes per message with tracing off. Tracing on (every event of every
message kept for `dsim explain`) is measured the same way, with its time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BASELINE = 10_000


def child(messages: int, trace: bool) -> None:
    """Run one simulation and print its message count, seconds and peak RSS in bytes."""
    sys.path.insert(0, str(HERE))
    from bench_core import reference_scenario

    from sim import Simulation, validate

    simulation = Simulation(validate(reference_scenario(messages)), 1, trace=trace)
    started = time.perf_counter()
    result = simulation.run()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    events = 0 if result.trace is None else len(result.trace)
    print(
        json.dumps(
            {
                "messages": result.rows[0]["produced"],
                "peak_bytes": peak,
                "seconds": seconds,
                "events": events,
            }
        )
    )


def measure(messages: int, trace: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", str(messages)]
    out = subprocess.run(
        [*command, "--trace"] if trace else command, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--traced-sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trace)
        return
    base = measure(BASELINE)
    plan = [*((n, False) for n in args.sizes), *((n, True) for n in args.traced_sizes)]
    rows = []
    for n, trace in plan:
        run = measure(n, trace)
        rows.append(
            {
                "messages": run["messages"],
                "trace": trace,
                "peak_mib": run["peak_bytes"] / 2**20,
                "bytes_per_message": (run["peak_bytes"] - base["peak_bytes"]) / run["messages"],
                "microseconds_per_message": 1e6 * run["seconds"] / run["messages"],
                "events_per_message": run["events"] / run["messages"],
            }
        )
    print(f"baseline ({base['messages']} messages): {base['peak_bytes'] / 2**20:.0f} MiB")
    print(
        f"{'messages':>10} {'trace':>6} {'peak MiB':>9} {'bytes/msg':>10} {'us/msg':>7} "
        f"{'events/msg':>10}"
    )
    for r in rows:
        print(
            f"{r['messages']:>10} {('on' if r['trace'] else 'off'):>6} {r['peak_mib']:>9.0f} "
            f"{r['bytes_per_message']:>10.0f} {r['microseconds_per_message']:>7.1f} "
            f"{r['events_per_message']:>10.1f}"
        )
    if args.json:
        print(json.dumps({"benchmark": "memory", "baseline": base, "results": rows}))


if __name__ == "__main__":
    main()
