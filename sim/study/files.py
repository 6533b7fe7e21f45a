"""Results on disk: ``runs.csv``, ``summary.csv``, ``faults.csv``, ``latency.csv``,
``timeline.csv``, ``scenario.toml``, ``meta.json`` and, for a traced study, ``trace.parquet``.

``runs.csv`` carries no wall-clock figure, so the same scenario and seed write the same bytes
on every run; wall time and versions go to ``meta.json``. Every file is written to a temporary
name and renamed, so a result directory never holds a half-written file. A directory is
recognised as one of ours by its ``meta.json`` (``"tool": "delivery-sim"``) or, for a study
interrupted before writing it, by its journal; :func:`read_tables` reads one back and says
which file is damaged when one is.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.engine import build

if TYPE_CHECKING:
    import pandas as pd

    from sim.study.results import Results

KEYS = ["scenario", "semantics", "pattern"]
"""Columns that say which system a row of a result table describes (sweep keys follow)."""
REPORT = "report.html"
"""The report's file name in a result directory."""
TRACE = "trace.parquet"
"""The trace of a study run with ``--trace``: every event of replication 0 of every point."""
TOOL = "delivery-sim"
"""``meta.json``'s ``tool``: what marks a directory as a delivery-sim result directory."""


def row_key(table: pd.DataFrame) -> str:
    """What a row of a result table describes besides its point: a consumer ``group``, or an
    ``approach`` of an architecture comparison."""
    return "approach" if "approach" in table.columns else "group"


def version(package: str = "delivery-sim", missing: str = "unknown") -> str:
    """The installed version of ``package`` (of delivery-sim, ``unknown`` when run from an
    uninstalled tree)."""
    from importlib import metadata  # not at import: it costs the command line's start

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return missing


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed to ``path`` when the block ends
    without an error, removed when it does not.

    The temporary file is created with mode 0666 under the process's umask, as ``open()``
    would make ``path`` itself (``mkstemp`` would make it 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


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
    trace = out / TRACE
    if results.trace.empty:
        trace.unlink(missing_ok=True)  # an earlier traced run's, which would not match
    else:
        with atomic_path(trace) as tmp:
            results.trace.to_parquet(tmp, index=False)
        paths.append(trace)
    return paths


def _scenario_text(results: Results) -> str:
    scenario = results.scenario.model_copy(update={"sweep": results.sweep})
    return SCENARIO_HEAD + scenario.to_toml()


SCENARIO_HEAD = "# The resolved scenario: every default filled in. Runs as it is.\n"
"""The first line of every ``scenario.toml`` a command writes."""


def _meta(results: Results, command: list[str] | None) -> dict[str, Any]:
    return {
        "tool": TOOL,
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
        **provenance(command),
    }


PACKAGES = ("simpy", "numpy", "pandas", "scipy", "matplotlib", "pydantic")
"""The libraries whose versions a result depends on (``meta.json``'s ``packages``)."""


def packages() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES`."""
    return {name: version(name, "not installed") for name in PACKAGES}


def provenance(command: list[str] | None) -> dict[str, Any]:
    """The end of every ``meta.json``: when, by which command, on which Python, engine build
    and libraries."""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command if command is not None else sys.argv,
        "python": platform.python_version(),
        "engine": build(),
        "packages": packages(),
    }


# ---------------------------------------------------------------------------------------------
# Result directories: recognising one, and reading one back


def is_result_directory(directory: Path) -> bool:
    """Whether ``directory`` holds results of ``dsim run``: a ``meta.json`` it wrote, or the
    journal (``parts/STUDY``) of a study interrupted before it wrote one."""
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and meta.get("tool") == TOOL:
        return True
    try:
        return (directory / "parts" / "STUDY").is_file()
    except OSError:
        return False


def out_directory_problem(directory: Path, force: bool = False) -> str | None:
    """Why results must not be written to ``directory`` (None if they may be): it is a file,
    or it holds something other than results of ``dsim run`` (unless ``force``). A result
    directory is overwritten: that is running again."""
    try:
        if not directory.exists():
            return None
        if not directory.is_dir():
            return f"{directory} is a file, not a directory; choose another --out"
        if force or is_result_directory(directory) or not any(directory.iterdir()):
            return None
    except OSError as exc:
        return f"cannot use {directory} for results: {exc.strerror or exc}"
    return (
        f"{directory} exists and is not a delivery-sim result directory (it has no meta.json "
        f'with "tool": "{TOOL}"); choose another --out, or add --force to write the results '
        "into it anyway"
    )


class DamagedResults(ValueError):
    """A result file that is ``missing``, truncated or garbled: ``path`` names it."""

    def __init__(self, path: Path, reason: str, missing: bool = False):
        self.path = path
        self.reason = reason
        self.missing = missing
        super().__init__(f"{path}: {reason}")


TABLES = ("summary", "runs", "latency", "timeline", "faults")
"""The tables the charts are drawn from, one ``<name>.csv`` each."""
_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "summary": (("figure",), ("n", "mean", "sd", "ci_low", "ci_high")),
    "runs": ((), ("replication", "seed")),
    "latency": (("kind",), ("quantile", "seconds")),
    "timeline": (("group",), ("replication", "time")),
    "faults": (("target", "kind", "origin"), ("replication", "start", "end")),
}
"""Per table: the text columns and the numeric columns its rows need besides the system
columns (:data:`~sim.study.results.KEYS`) and the row key (``group`` or ``approach``)."""


def read_tables(directory: Path, names: tuple[str, ...] = TABLES) -> dict[str, pd.DataFrame]:
    """The tables the charts need (or the ``names`` of some), read back from a result
    directory.

    Raises :class:`DamagedResults` naming the file when one is missing, empty, cut short
    (a header alone where rows are needed, a last line without its end), garbled (binary,
    rows with the wrong number of fields, text where numbers belong) or lacks a column.
    """
    import pandas as pd

    if not directory.is_dir():
        raise DamagedResults(directory, "no such directory")
    tables: dict[str, pd.DataFrame] = {}
    for name in names:
        tables[name] = read_csv(directory / f"{name}.csv")
    summary = tables.get("summary")
    key = row_key(summary) if summary is not None else "group"
    for name, table in tables.items():
        if table.empty and len(table.columns) == 0:
            if name == "timeline" and key == "approach":
                continue  # an architecture comparison has no timeline
            raise DamagedResults(directory / f"{name}.csv", "no header line")
        text_columns, numbers = _COLUMNS[name]
        needed = [*KEYS, *text_columns, *numbers]
        if name in ("summary", "runs", "latency"):
            needed.insert(3, key)
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise DamagedResults(
                directory / f"{name}.csv", f"missing column(s): {', '.join(missing)}"
            )
        for column in numbers:
            values = pd.to_numeric(table[column], errors="coerce")
            bad = values.isna() & table[column].notna()
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0]) + 2
                raise DamagedResults(
                    directory / f"{name}.csv",
                    f"row {row}: {column} is {table[column][bad].iloc[0]!r}, not a number",
                )
            table[column] = values
        if table.empty and name in ("summary", "runs"):
            raise DamagedResults(directory / f"{name}.csv", "a header line and no rows")
    return tables


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV file of a result directory, read back: :class:`DamagedResults` naming it when it
    is missing, empty, not text, cut short or has rows of the wrong length."""
    import pandas as pd

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DamagedResults(path, "missing", missing=True) from None
    except OSError as exc:
        raise DamagedResults(path, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise DamagedResults(path, "empty (truncated?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedResults(path, f"not text (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise DamagedResults(path, "not text (it holds NUL bytes)")
    if not text.endswith("\n"):
        raise DamagedResults(path, "the last line is cut short (truncated?)")
    if text == "\n":
        return pd.DataFrame()  # a table without columns (written by an empty DataFrame)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DamagedResults(path, f"not CSV: {exc}") from None
    header = rows[0]
    if len(set(header)) != len(header) or "" in header:
        raise DamagedResults(path, "the first row is not a header of distinct column names")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DamagedResults(
                path, f"row {number} has {len(row)} fields, the header {len(header)}"
            )
    try:
        return pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise DamagedResults(path, f"not CSV: {exc}") from None


def read_trace(directory: Path) -> pd.DataFrame:
    """The trace a study run with ``--trace`` left in ``directory``; :class:`DamagedResults`
    when there is none or it cannot be read."""
    import pandas as pd

    path = directory / TRACE
    if not directory.is_dir():
        raise DamagedResults(directory, "no such directory")
    if not path.exists():
        reason = "missing: the study was not traced; run it again with --trace"
        raise DamagedResults(path, reason, missing=True)
    try:
        trace = pd.read_parquet(path)
    except OSError as exc:
        raise DamagedResults(path, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # pyarrow's ArrowInvalid: not Parquet, or cut short
        raise DamagedResults(path, f"not a readable Parquet file ({exc})") from None
    needed = ["replication", "time", "event", "message", "group", "component", "detail", "cause"]
    missing = [c for c in needed if c not in trace.columns]
    if missing:
        raise DamagedResults(path, f"missing column(s): {', '.join(missing)}")
    return trace
