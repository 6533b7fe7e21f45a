"""Results on disk: ``runs.csv``, ``summary.csv``, ``faults.csv``, ``scenario.toml``,
``meta.json``.

``runs.csv`` carries no wall-clock figure, so the same scenario and seed write the same bytes
on every run; wall time and versions go to ``meta.json``. Every file is written to a temporary
name and renamed, so a result directory never holds a half-written file.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.runner import Results


def version() -> str:
    try:
        return metadata.version("delivery-sim")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: Results, out: Path, command: list[str] | None = None) -> list[Path]:
    """Write every result file under ``out``; return their paths."""
    files = {
        "runs.csv": results.runs.to_csv(index=False),
        "summary.csv": results.summary.to_csv(index=False),
        "faults.csv": results.faults.to_csv(index=False),
        "latency.csv": results.latency.to_csv(index=False),
        "timeline.csv": results.timeline.to_csv(index=False),
        "scenario.toml": _scenario_text(results),
        "meta.json": json.dumps(_meta(results, command), indent=2) + "\n",
    }
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths


def _scenario_text(results: Results) -> str:
    scenario = results.scenario.model_copy(update={"sweep": results.sweep})
    head = "# The resolved scenario: every default filled in. Runs as it is.\n"
    return head + scenario.to_toml()


def _meta(results: Results, command: list[str] | None) -> dict[str, Any]:
    return {
        "tool": "delivery-sim",
        "version": version(),
        "scenario": results.scenario.name,
        "seed": results.scenario.seed,
        "replications": len(results.seeds),
        "replication_seeds": results.seeds,
        "sweep": results.sweep,
        "points": max(
            1, len(results.runs) // max(1, len(results.seeds) * len(results.scenario.consumers))
        ),
        "executor": results.executor,
        "reused_runs": results.reused,
        "precision_reached": results.precise,
        "wall_time_seconds": round(results.wall_time, 3),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command if command is not None else sys.argv,
        "python": platform.python_version(),
    }
