"""Peak memory per simulated message, on the core benchmark's pipeline.

Each size runs in a fresh process, which reports its peak resident set size; the peak of a
small run (the interpreter, numpy, SimPy and the model's fixed parts) is subtracted, and the
rest divided by the number of messages.

    python benchmarks/bench_memory.py [--sizes 1000000 10000000] [--json]

Target: at most 200 bytes per message. (Tracing, when it exists, is measured the same way.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BASELINE = 10_000


def child(messages: int) -> None:
    """Run one simulation and print its message count and peak RSS in bytes."""
    sys.path.insert(0, str(HERE))
    from bench_core import reference_scenario

    from sim import Simulation, validate

    result = Simulation(validate(reference_scenario(messages)), 1).run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    print(json.dumps({"messages": result.rows[0]["produced"], "peak_bytes": peak}))


def measure(messages: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(messages)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    base = measure(BASELINE)
    rows = []
    for n in args.sizes:
        run = measure(n)
        per = (run["peak_bytes"] - base["peak_bytes"]) / run["messages"]
        rows.append(
            {
                "messages": run["messages"],
                "peak_mib": run["peak_bytes"] / 2**20,
                "bytes_per_message": per,
            }
        )
    print(f"baseline ({base['messages']} messages): {base['peak_bytes'] / 2**20:.0f} MiB")
    print(f"{'messages':>10} {'peak MiB':>9} {'bytes/message':>14}")
    for r in rows:
        print(f"{r['messages']:>10} {r['peak_mib']:>9.0f} {r['bytes_per_message']:>14.0f}")
    if args.json:
        print(json.dumps({"benchmark": "memory", "baseline": base, "results": rows}))


if __name__ == "__main__":
    main()
