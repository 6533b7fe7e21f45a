"""The ``dsim`` command: a thin layer over the Python API.

Bad input (a malformed scenario, a bad ``--set``) is reported with the file, the key path and
what was expected, and exits with code 2; never with a traceback.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim.clock import Runaway
from sim.results import write_results
from sim.runner import Results, run
from sim.scenario import Scenario, ScenarioError, load_scenario

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="delivery-sim: message delivery semantics under failure, simulated.",
)
out_console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)

ScenarioArg = Annotated[Path, typer.Argument(help="A scenario TOML file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a key: --set network.publish_ack.loss=0.1 (repeatable).",
        metavar="KEY=VALUE",
    ),
]


def _load(path: Path, overrides: list[str] | None) -> Scenario:
    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as exc:
        err_console.print(f"[bold red]error:[/] {exc.source}: invalid scenario", highlight=False)
        for problem in exc.problems:
            err_console.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    loaded = _load(scenario, set_)
    out_console.print(
        f"{scenario}: valid scenario {loaded.name!r} "
        f"({loaded.delivery.semantics}, {loaded.delivery.pattern}, "
        f"{len(loaded.consumers)} consumer group(s), {len(loaded.faults)} fault(s)"
        f"{_sweep_note(loaded)})",
        highlight=False,
    )


def _sweep_note(scenario: Scenario) -> str:
    if not scenario.sweep:
        return ""
    return f", a sweep of {math.prod(len(v) for v in scenario.sweep.values())} points"


@app.command(name="run")
def run_command(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None, typer.Option(help="Result directory [default: results/<name>]")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Scenario seed (overrides the file's).", min=0)
    ] = None,
    replications: Annotated[
        int | None, typer.Option(help="Replications (overrides the file's).", min=1)
    ] = None,
    set_: SetOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress and no table.")] = False,
) -> None:
    """Run a scenario's replications, print a summary and write the result files."""
    loaded = _load(scenario, set_)
    directory = out if out is not None else Path("results") / loaded.name
    try:
        results = _run_with_progress(loaded, replications, seed, quiet)
    except ScenarioError as exc:  # a sweep value that does not validate
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except Runaway as exc:
        err_console.print(
            f"[bold red]error:[/] {scenario}: the run cannot end: {exc}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1) from None
    paths = write_results(results, directory, command=["dsim", *sys.argv[1:]])
    if not quiet:
        out_console.print(summary_table(results))
        out_console.print(
            f"wrote {', '.join(p.name for p in paths)} to {directory}/ ({results.wall_time:.1f} s)",
            highlight=False,
        )


def _run_with_progress(
    scenario: Scenario, replications: int | None, seed: int | None, quiet: bool
) -> Results:
    if quiet:
        return run(scenario, replications=replications, seed=seed)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(scenario.name, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run(scenario, replications=replications, seed=seed, progress=advance)


def _cell(summary: pd.DataFrame, figure: str, percent: bool = False) -> str:
    row = summary[summary["figure"] == figure]
    if row.empty or math.isnan(row["mean"].iloc[0]):
        return "–"
    mean, low, high = (float(row[c].iloc[0]) for c in ("mean", "ci_low", "ci_high"))
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = _number(mean * scale) + unit
    if not math.isnan(low) and high > low:
        text += f" ±{_number((high - low) / 2 * scale, 2)}"
    return text


def _number(x: float, digits: int = 3) -> str:
    return f"{x:.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"


SUMMARY_COLUMNS = [
    ("eligible", "eligible", False),
    ("loss_rate", "lost", True),
    ("dup_rate", "duplicated", True),
    ("pending", "pending", False),
    ("latency_p50", "p50 (s)", False),
    ("latency_p99", "p99 (s)", False),
    ("publish_latency_p99", "publish p99 (s)", False),
]
"""(figure, column title, shown in percent) of the summary table."""


def summary_table(results: Results) -> Table:
    """Mean (± half-width of the 95% interval) of the figures people ask about first.

    Key columns with one value across the study move to the title.
    """
    summary = results.summary
    redundant = {"delivery.semantics", "delivery.pattern"}  # the semantics/pattern columns
    varying = [
        k for k in results.by if k == "group" or (k not in redundant and summary[k].nunique() > 1)
    ]
    fixed = [str(summary[k].iloc[0]) for k in results.by if k not in varying]
    n = len(results.seeds)
    table = Table(
        title=f"{', '.join(fixed)}: mean ±95% CI over {n} replication(s)", title_justify="left"
    )
    for k in varying:
        table.add_column(k)
    for _, title, _ in SUMMARY_COLUMNS:
        table.add_column(title, justify="right")
    for ident, part in summary.groupby(results.by, sort=False):
        values = dict(zip(results.by, ident, strict=True))
        table.add_row(
            *(str(values[k]) for k in varying),
            *(_cell(part, f, pct) for f, _, pct in SUMMARY_COLUMNS),
        )
    return table


def main() -> None:
    app()


if __name__ == "__main__":
    main()
