"""The ``dsim`` command: a thin layer over the Python API.

Bad input (a malformed scenario, a bad ``--set``) is reported with the file, the key path and
what was expected, and exits with code 2; never with a traceback.
"""

from __future__ import annotations

import atexit
import gc
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from sim.scenario import catalog
from sim.scenario.catalog import default_scenario, shipped_folder, shipped_scenarios
from sim.scenario.errors import ScenarioError, printable
from sim.study.executors import ExecutorUnavailable, StudyOptionError, cores
from sim.study.files import (
    REPORT,
    DamagedResults,
    out_directory_problem,
    read_tables,
    read_trace,
    row_key,
    write_results,
)

if TYPE_CHECKING:  # the commands import what they need, so that the CLI starts fast
    import pandas as pd
    from rich.table import Table

    from sim.scenario.schema import Scenario

ARGV = "dsim.argv"
"""Where the command line as given is kept (``ctx.meta``), for ``meta.json``."""


class _Group(TyperGroup):
    """The ``dsim`` group; it keeps the arguments it was given, so that ``meta.json``
    records the exact command however the app was called (a shell, ``python -m``, a test)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta.setdefault(ARGV, list(args))
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # help texts say "[default: ...]": not markup
    help="delivery-sim: message delivery semantics under failure, simulated.",
)
out_console = Console(
    soft_wrap=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
)
"""Standard output: the terminal's width, or ``COLUMNS`` when set; 160 into a pipe or file."""
err_console = Console(stderr=True, soft_wrap=True)

ScenarioArg = Annotated[
    Path,
    typer.Argument(
        help="A scenario TOML file, or the name of a shipped scenario (see dsim list).",
        show_default=False,
    ),
]
OptionalScenario = Annotated[
    Path | None,
    typer.Argument(
        help="A scenario TOML file, or the name of a shipped scenario (see dsim list) "
        "[default: the built-in comparison of every semantics and pattern under failure].",
        show_default=False,
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Chart format: png or svg.")]
GroupOpt = Annotated[
    str | None,
    typer.Option("--group", help="The consumer group the charts show [default: the first]."),
]


def resolve_scenario(given: Path) -> Path:
    """A scenario argument as a file (see :func:`sim.scenario.catalog.find`); an unknown name
    exits with code 2."""
    try:
        return catalog.find(given)
    except catalog.UnknownScenario as exc:
        raise _error(str(exc), 2) from None


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a key: --set network.publish_ack.loss=0.1 (repeatable).",
        metavar="KEY=VALUE",
    ),
]


SeedOpt = Annotated[int | None, typer.Option(help="Scenario seed (overrides the file's).", min=0)]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Write into --out even if it holds something other than dsim results."
    ),
]


def _load(path: Path, overrides: list[str] | None) -> Scenario:
    """Load a scenario given as a path or a shipped name; refusals exit with code 2."""
    from sim.scenario.loading import load_scenario

    path = resolve_scenario(path)
    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as exc:
        raise _error(str(exc), 2) from None


@app.command(name="list")
def list_command() -> None:
    """List the shipped scenarios: name, file and the question each answers. Run one with
    dsim run NAME."""
    from rich.table import Table

    shipped = shipped_scenarios()
    table = Table(
        title=f"{len(shipped)} shipped scenarios in {shipped_folder()}/ (dsim run NAME)",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("file", no_wrap=True)
    table.add_column("description", overflow="fold", ratio=1)
    for scenario in shipped:
        table.add_row(scenario.name, scenario.path.name, scenario.description or "–")
    out_console.print(table)


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    loaded = _load(scenario, set_)
    if loaded.sweep:
        try:
            from sim.scenario.points import points_of

            points_of(loaded)  # every point of the product, as dsim run builds them
        except ScenarioError as exc:
            raise _error(str(exc), 2) from None
    out_console.print(
        f"{resolve_scenario(scenario)}: valid scenario {loaded.name!r} "
        f"({loaded.delivery.semantics}, {loaded.delivery.pattern}, "
        f"{len(loaded.consumers)} consumer group(s), {len(loaded.faults)} fault(s)"
        f"{_sweep_note(loaded)})",
        highlight=False,
        markup=False,
        soft_wrap=True,  # one line, however long the path
    )


def _sweep_note(scenario: Scenario) -> str:
    if not scenario.sweep:
        return ""
    points = math.prod(len(options) for _, options in scenario.sweep_dimensions())
    return f", a sweep of {points} points"


def _error(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` to stderr (no markup: key paths look like tags; characters
    that cannot be shown, such as terminal escapes in a key, escaped) and exit."""
    text = "\n".join(printable(line) for line in message.split("\n"))
    err_console.print(Text("error: ", style="bold red") + Text(text), highlight=False)
    return typer.Exit(code)


def _parse_replications(text: str | None) -> int | Literal["auto"] | None:
    if text is None or text == "auto":
        return text  # type: ignore[return-value]
    try:
        n = int(text)
    except ValueError:
        raise typer.BadParameter(f"expected a number or 'auto'; got {text!r}") from None
    if n < 1:
        raise typer.BadParameter(f"expected at least 1; got {n}")
    return n


@app.command(name="run")
def run_command(
    ctx: typer.Context,
    scenario: OptionalScenario = None,
    out: Annotated[
        Path | None, typer.Option(help="Result directory [default: results/<name>]")
    ] = None,
    seed: SeedOpt = None,
    replications: Annotated[
        str | None,
        typer.Option(
            help="Replications per point, or 'auto' to add them until the 95% "
            "intervals are precise enough (overrides the file's)."
        ),
    ] = None,
    precision: Annotated[
        float,
        typer.Option(
            help="With --replications auto: the relative half-width to reach.", min=0.001, max=0.999
        ),
    ] = 0.05,
    max_replications: Annotated[
        int, typer.Option(help="With --replications auto: the most to run.", min=2)
    ] = 200,
    set_: SetOpt = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            metavar="KEY=V1,V2,...",
            help="Sweep a key over values (repeatable: the cartesian product runs).",
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Processes to run on [default: all cores].", min=1)
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="serial, processes or dask [default: processes]")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a Dask scheduler (tcp://HOST:PORT).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse the runs an interrupted study left in --out.")
    ] = False,
    force: ForceOpt = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Record every event of every message of replication 0 of each point in "
            "DIR/trace.parquet, for dsim explain.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress and no table.")] = False,
    charts: Annotated[bool, typer.Option(help="Draw the charts.")] = True,
    fmt: FormatOpt = "png",
    group: GroupOpt = None,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Also write DIR/report.html, the self-contained report (dsim report)."
        ),
    ] = False,
) -> None:
    """Run a scenario's replications (and its sweep), print a summary, write the results and
    draw the charts. With no scenario: the built-in comparison of every semantics and pattern
    as failures get worse."""
    fmt = _check_format(fmt)
    scenario = resolve_scenario(scenario) if scenario is not None else default_scenario()
    loaded = _load(scenario, set_)
    directory = out if out is not None else Path("results") / directory_name(loaded.name)
    count = _parse_replications(replications)
    refusal = out_directory_problem(directory, force)
    if refusal is not None:
        raise _error(refusal, 2)
    if trace and loaded.architecture is not None:
        raise _error(
            f"{scenario}: --trace follows messages through one broker; an architecture "
            "comparison is not traced (trace its event-driven design as a scenario of its own)",
            2,
        )
    if charts and group is not None and loaded.architecture is None:
        names = [c.name for c in loaded.consumers]
        if group not in names:
            raise _error(
                f"no consumer group {group!r} in {scenario} (groups: {', '.join(names)})", 2
            )
    from sim.engine.runaway import Runaway
    from sim.scenario.paths import parse_sweep
    from sim.study.journal import StudyMismatch
    from sim.study.runner import sweep as run_study

    try:
        extra = parse_sweep(sweep or [])
        parallel = executor != "serial" and (bool(scheduler) or (jobs or cores()) > 1)
        warming = Warmup(charts and parallel)
        with reporter(loaded.name, quiet, warming) as progress:
            results = run_study(
                loaded,
                {**loaded.sweep, **extra} if extra else None,
                replications=count,
                seed=seed,
                jobs=jobs,
                executor=executor,
                scheduler=scheduler,
                precision=precision,
                max_replications=max_replications,
                out=directory,
                resume=resume,
                progress=progress,
                trace=trace,
            )
    except ScenarioError as exc:  # a sweep value that does not validate
        raise _error(str(exc), 2) from None
    except (StudyMismatch, ExecutorUnavailable, StudyOptionError) as exc:
        raise _error(str(exc), 2) from None
    except Runaway as exc:
        raise _error(f"{scenario}: {exc}", 1) from None
    except KeyboardInterrupt:
        raise _error(
            f"interrupted; every finished run is kept in {directory}/parts. Run the "
            "same command with --resume to finish.",
            130,
        ) from None
    except OSError as exc:  # most likely the journal in DIR/parts could not be written
        raise _error(f"cannot run the study into {directory}: {_reason(exc)}", 2) from None
    command = ["dsim", *ctx.meta.get(ARGV, sys.argv[1:])]
    paths: list[Path] = []

    def write() -> None:
        paths.extend(write_results(results, directory, command=command))

    try:
        if charts:
            warming.join()  # nothing half-imported when the chart workers fork
            drawn = _draw(results.tables(), directory, fmt, group, jobs, meanwhile=write)
        else:
            write()
            drawn = []
        if report:
            from sim.report.html import write_report

            drawn.append(write_report(directory, group))
    except OSError as exc:
        raise _error(f"cannot write results to {directory}: {_reason(exc)}", 2) from None
    if results.precise is False:
        err_console.print(
            f"warning: after {len(results.seeds)} replications (--max-replications) some "
            f"intervals are still wider than ±{precision:.0%} of their mean; see summary.csv",
            highlight=False,
            markup=False,
        )
    if not quiet:
        from sim.report.terminal import summary_table

        out_console.print(summary_table(results.summary, len(results.seeds), out_console.width))
        reused = f", {results.reused} runs reused" if results.reused else ""
        _report(
            f"{results.simulations} runs in {results.wall_time:.1f} s on {results.executor}"
            f"{reused}; results in {directory}/ ({', '.join(p.name for p in paths)})",
            drawn,
        )


@app.command(name="calibrate")
def calibrate_command(
    ctx: typer.Context,
    scenario: ScenarioArg,
    broker: Annotated[
        str, typer.Option(help="The real broker: nats (pub/sub) or redis (streaming).")
    ],
    runs: Annotated[int, typer.Option(help="Real runs, each with its own seed.", min=1)] = 3,
    out: Annotated[
        Path | None, typer.Option(help="Result directory [default: results/<name>-<broker>]")
    ] = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="KEY=VALUE",
            help="Calibrate only the points of the sweep with this value (repeatable).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when any figure disagrees.")
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Run a scenario on a real broker started here (NATS JetStream or Redis, on 127.0.0.1),
    in real time with the scenario's faults, and set what it did beside what the simulator
    predicts: DIR/calibration.csv, DIR/real_runs.csv, DIR/charts/calibration.png."""
    loaded = _load(scenario, set_)
    from sim.study import calibrate as calibration

    chosen = _assignments(at or [])
    try:
        points = calibration.chosen_points(loaded, broker, chosen)
    except ScenarioError as exc:
        raise _error(str(exc), 2) from None
    directory = (
        out if out is not None else Path("results") / directory_name(f"{loaded.name}-{broker}")
    )
    refusal = out_directory_problem(directory, force)
    if refusal is not None:
        raise _error(refusal, 2)
    from sim.real.harness import RunFailed
    from sim.real.runs import WarmupFailed
    from sim.real.servers import ServerUnavailable

    expected = calibration.expected_wall(points, runs)
    sweep_note = f" at each of {len(points)} points" if points[0][0] else ""
    err_console.print(
        f"{loaded.name} on {broker}: {runs} real run(s){sweep_note} of at most "
        f"{loaded.duration + loaded.drain:g} s each, then {loaded.replications} simulated "
        f"replications; expected wall time at most {expected:.0f} s",
        highlight=False,
        markup=False,
    )
    started = time.monotonic()

    def progress(step: str) -> None:
        err_console.print(
            f"  {time.monotonic() - started:5.1f} s  {step}", highlight=False, markup=False
        )

    try:
        result = calibration.calibrate(loaded, broker, runs, seed, progress, chosen)
    except ServerUnavailable as exc:
        raise _error(str(exc), 2) from None
    except (WarmupFailed, RunFailed) as exc:
        raise _error(str(exc), 1) from None
    except KeyboardInterrupt:
        raise _error("interrupted; the broker server was stopped", 130) from None
    command = ["dsim", *ctx.meta.get(ARGV, sys.argv[1:])]
    try:
        paths = calibration.write_calibration(result, directory, command)
        from sim.report.calibration_chart import draw_calibration

        paths.append(draw_calibration(result.table, directory / "charts"))
    except OSError as exc:
        raise _error(f"cannot write results to {directory}: {_reason(exc)}", 2) from None
    out_console.print(_calibration_table(result.table, result.swept))
    for where, measured in result.measured.items():
        text = f"{where}: {measured.describe()}" if where else measured.describe()
        out_console.print(text, highlight=False, markup=False, soft_wrap=True)
    disagree = result.disagreements
    verdict = (
        "every figure agrees"
        if disagree.empty
        else f"{len(disagree)} figure(s) disagree: " + ", ".join(disagree["figure"])
    )
    out_console.print(
        f"{verdict}; {result.wall_time:.1f} s; results in {directory}/ "
        f"({', '.join(str(p.relative_to(directory)) for p in paths)})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if strict and not disagree.empty:
        raise typer.Exit(1)


def _calibration_table(table: pd.DataFrame, swept: list[str]) -> Table:
    """The calibration as a terminal table, a verdict per figure (and point of a sweep)."""
    from rich.table import Table

    from sim.report.numbers import plain

    shown = Table(title="observed on the real broker beside predicted", title_justify="left")
    left = (*swept, "figure", "group")
    for name in (*left, "observed (95%)", "predicted (95%)", "verdict", "decided by"):
        shown.add_column(name, justify="left" if name in left else "right")
    for row in table.to_dict("records"):
        cells = [
            f"{plain(float(row[f'{side}_mean']))} [{plain(float(row[f'{side}_low']))}, "
            f"{plain(float(row[f'{side}_high']))}]"
            for side in ("observed", "predicted")
        ]
        verdict = "agrees" if row["agree"] else "DISAGREES"
        shown.add_row(*(str(row[c]) for c in left), *cells, verdict, str(row["decided_by"]))
    return shown


def directory_name(name: str) -> str:
    """A scenario name as the name of its default result directory: one path component,
    without separators, control characters or characters Windows refuses, not hidden."""
    safe = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", name).strip().lstrip(".")
    safe = safe.encode("utf-8")[:120].decode("utf-8", errors="ignore").strip()  # name limits
    return safe or "_"


def _reason(exc: OSError) -> str:
    """An OSError as people read it: what went wrong, and with which file."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror}{where}" if exc.strerror else str(exc)


def _check_format(fmt: str) -> str:
    if fmt not in ("png", "svg"):
        raise typer.BadParameter(f"expected png or svg; got {fmt!r}", param_hint="--format")
    return fmt


def _draw(
    tables: dict[str, pd.DataFrame],
    directory: Path,
    fmt: str,
    group: str | None,
    jobs: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[Path]:
    """Every chart into ``DIR/charts``, on ``jobs`` processes (all cores by default), with
    ``meanwhile()`` done as they are drawn."""
    key = row_key(tables["summary"])
    groups = list(dict.fromkeys(tables["summary"][key]))
    if group is not None and key == "group" and group not in groups:
        raise _error(
            f"no consumer group {group!r} in these results (groups: {', '.join(groups)})", 2
        )
    from sim.report.charts import draw_all

    return draw_all(
        tables, directory / "charts", fmt, group, jobs=jobs or cores(), meanwhile=meanwhile
    )


def _report(line: str, charts: list[Path]) -> None:
    out_console.print(line, highlight=False, markup=False, soft_wrap=True)
    for path in charts:
        what = "report" if path.name == REPORT else "chart"
        out_console.print(f"  {what}: {path}", highlight=False, markup=False, soft_wrap=True)


@app.command(name="report")
def report_command(
    directory: Annotated[
        Path, typer.Argument(help="A result directory of dsim run (or dsim calibrate).")
    ],
    group: GroupOpt = None,
) -> None:
    """Write DIR/report.html: the question, the answer in plain words, the summary table,
    every chart (inline), losses and duplicates by cause, the fault windows, the resolved
    scenario and the command that reproduces it, in one file with no external references."""
    from sim.report.html import write_report

    try:
        path = write_report(directory, group)
    except DamagedResults as exc:
        raise _damaged(directory, exc) from None
    except ValueError as exc:  # a --group the results do not have
        raise _error(str(exc), 2) from None
    except OSError as exc:
        raise _error(f"cannot write {directory}/{REPORT}: {_reason(exc)}", 2) from None
    out_console.print(f"report: {path}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def plot(
    directory: Annotated[Path, typer.Argument(help="A result directory of dsim run.")],
    fmt: FormatOpt = "png",
    group: GroupOpt = None,
) -> None:
    """Redraw every chart from saved results, without simulating again."""
    fmt = _check_format(fmt)
    try:
        tables = read_tables(directory)
    except DamagedResults as exc:
        raise _damaged(directory, exc) from None
    try:
        drawn = _draw(tables, directory, fmt, group)
    except OSError as exc:
        raise _error(f"cannot write charts to {directory}/charts: {_reason(exc)}", 2) from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        # the files read, but their contents do not fit together (edited by hand?)
        raise _error(
            f"{directory}: the result files do not fit together, cannot draw: "
            f"{type(exc).__name__}: {exc}",
            2,
        ) from None
    _report(f"charts from {directory}/", drawn)


def _damaged(directory: Path, exc: DamagedResults) -> typer.Exit:
    if exc.path == directory:
        return _error(f"{directory}: not a readable dsim result directory: {exc.reason}", 2)
    return _error(
        f"{directory}: not a readable dsim result directory: {exc.path.name} is "
        f"{'' if exc.missing else 'damaged: '}{exc.reason}",
        2,
    )


@app.command()
def explain(
    directory: Annotated[Path, typer.Argument(help="A result directory of dsim run --trace.")],
    message: Annotated[
        int | None, typer.Option("--message", help="Tell this message's story.", min=0)
    ] = None,
    lost: Annotated[
        bool, typer.Option("--lost", help="Each cause of loss: its count and a typical story.")
    ] = False,
    duplicated: Annotated[
        bool,
        typer.Option("--duplicated", help="Each cause of duplicates: its count and a story."),
    ] = False,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="KEY=VALUE",
            help="The point of a sweep to explain (repeatable), e.g. --at semantics=at-least-once.",
        ),
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Only this consumer group [default: all].")
    ] = None,
    diagram: Annotated[
        bool,
        typer.Option(
            "--diagram",
            help="Draw a sequence diagram of the message, or of --start..--end, in DIR/diagrams.",
        ),
    ] = False,
    start: Annotated[
        float | None, typer.Option(help="A diagram's first simulated second.", min=0)
    ] = None,
    end: Annotated[float | None, typer.Option(help="A diagram's last simulated second.")] = None,
    fmt: FormatOpt = "png",
) -> None:
    """Explain what happened to messages of a traced run: one message's story (--message),
    the typical story of each cause of loss (--lost) or duplication (--duplicated), and
    sequence diagrams (--diagram)."""

    from sim.report import explain as words
    from sim.report.charts import draw_sequence

    fmt = _check_format(fmt)
    slice_ = start is not None or end is not None
    if slice_ and not diagram:
        raise _error("--start and --end choose the time slice of a --diagram; add --diagram", 2)
    if message is None and not (lost or duplicated or (diagram and slice_)):
        raise _error(
            "say what to explain: --message ID, --lost, --duplicated, or --diagram with "
            "--start and --end",
            2,
        )
    if diagram and message is None and (start is None or end is None or end <= start):
        raise _error("a diagram of a time slice needs --start S --end E with E > S", 2)
    try:
        trace = read_trace(directory)
    except DamagedResults as exc:
        raise _damaged(directory, exc) from None
    chosen = _assignments(at or [])
    try:
        trace = words.select(trace, chosen)
    except ValueError as exc:
        raise _error(f"--at: {exc}", 2) from None
    if group is not None:
        groups = [str(g) for g in trace["group"].dropna().unique()]
        if group not in groups:
            raise _error(
                f"no consumer group {group!r} in this trace (groups: {', '.join(groups)})", 2
            )
        trace = trace[trace["group"].isna() | (trace["group"] == group)]
    if message is not None:
        point, rows = _one_point(trace[trace["message"] == message], f"message {message}")
        if point:
            out_console.print(words.point_label(point), highlight=False, markup=False)
        out_console.print(words.story(rows, message), highlight=False, markup=False, soft_wrap=True)
    elif diagram:
        point, _ = _one_point(trace, f"{start:g}..{end:g} s")
    for kind, wanted in (("lost", lost), ("duplicated", duplicated)):
        if wanted:
            _representatives(trace, kind, directory)
    if diagram:
        try:
            path = draw_sequence(directory, trace, point, chosen, message, start, end, fmt)
        except OSError as exc:
            raise _error(
                f"cannot write the diagram into {directory}/diagrams: {_reason(exc)}", 2
            ) from None
        out_console.print(f"  diagram: {path}", highlight=False, markup=False, soft_wrap=True)


def _assignments(texts: list[str]) -> dict[str, str]:
    pairs = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise _error(f"--at: expected KEY=VALUE; got {text!r}", 2)
        pairs[key.strip()] = value.strip()
    return pairs


def _one_point(rows: pd.DataFrame, what: str) -> tuple[dict[str, Any], pd.DataFrame]:
    from sim.report import explain as words

    """The one point of the study ``rows`` come from; an error naming the points to choose
    from when there are several, or saying so when there is none."""

    if rows.empty:
        raise _error(f"{what} is not in this trace at the chosen point(s)", 2)
    points = list(words.by_point(rows))
    if len(points) > 1:
        choices = "\n".join(f"  {words.point_label(p)}" for p, _ in points)
        raise _error(f"{what} is in {len(points)} points of this study; choose one:\n{choices}", 2)
    return points[0]


def _representatives(trace: pd.DataFrame, kind: str, directory: Path) -> None:
    import pandas as pd

    from sim.report import explain as words

    """Per point and cause: the count and one message to read (its story too, when the
    trace holds one point)."""

    points = list(words.by_point(trace))
    found = []
    for point, rows in points:
        table = words.representatives(rows, kind)
        for column, value in reversed(point.items()):
            table.insert(0, column, value)
        found.append(table)
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    noun = "lost messages" if kind == "lost" else "duplicate applications"
    if table.empty:
        out_console.print(f"no {noun} in this trace", highlight=False, markup=False)
        return
    from rich.table import Table

    shown = Table(title=f"{noun} by cause (replication 0 of each point)", title_justify="left")
    for column in table.columns:
        shown.add_column(column, justify="right" if column in ("count", "example") else "left")
    for row in table.itertuples(index=False):
        shown.add_row(*(str(v) for v in row))
    out_console.print(shown)
    if len(points) == 1:
        rows = points[0][1]
        for cause, example in zip(table["cause"], table["example"], strict=True):
            out_console.print(f"\n{cause}, for example:", highlight=False, markup=False)
            out_console.print(
                words.story(rows, int(example)), highlight=False, markup=False, soft_wrap=True
            )
    else:
        out_console.print(
            f"read one: dsim explain {directory} --message ID --at KEY=VALUE ...",
            highlight=False,
            markup=False,
        )


class Warmup:
    """Imports the end of a parallel run needs (pandas and scipy for the tables, matplotlib
    for the charts) in a thread of this process while the workers simulate, when it would
    otherwise sit waiting: started by the first finished run (the workers have forked by
    then), joined before anything forks again."""

    def __init__(self, wanted: bool):
        self.wanted = wanted
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin the imports (once; a no-op when they are not wanted)."""
        if self.wanted and self._thread is None:
            self._thread = threading.Thread(target=self._imports, daemon=True)
            self._thread.start()

    def join(self) -> None:
        """Wait until the imports are done."""
        if self._thread is not None:
            self._thread.join()

    @staticmethod
    def _imports() -> None:
        import pandas  # noqa: F401
        import scipy.special  # noqa: F401

        import sim.report.charts  # noqa: F401


@contextmanager
def reporter(
    name: str, quiet: bool, warming: Warmup | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """Progress: a rich bar on a terminal, a plain line every few seconds otherwise, nothing
    when ``quiet``; and, once a run has finished, the warm-up of what the end imports."""
    with _progress(name, quiet) as show:
        if warming is None or not warming.wanted:
            yield show
            return

        def tell(done: int, total: int) -> None:
            if done:
                warming.start()
            if show is not None:
                show(done, total)

        yield tell


@contextmanager
def _progress(name: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    if quiet:
        yield None
        return
    if err_console.is_terminal:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} runs"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task(name, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    started = time.monotonic()
    last = [-math.inf]

    def line(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 5.0 and done < total:
            return
        last[0] = now
        elapsed = now - started
        left = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        err_console.print(
            f"{name}: {done}/{total} runs ({elapsed:.0f} s{left})", highlight=False, markup=False
        )

    yield line


def main() -> None:
    """The ``dsim`` console script.

    Once the command is done every object is frozen out of the garbage collector's reach
    (the first thing at exit): the collections the interpreter makes as it tears the modules
    down would otherwise walk everything pandas and matplotlib built, a third of a second after
    a study, only to free memory the process gives back anyway. Files are still closed and
    flushed, and the other exit handlers still run.
    """
    try:
        app()
    finally:
        atexit.register(gc.freeze)  # registered last, so run first


if __name__ == "__main__":
    main()
