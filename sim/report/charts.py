"""The charts of a result directory: which there are (:data:`CHARTS`, with what each answers
and what to read in it), the plan of a study's charts (:func:`plan`), the figures that draw
them (:func:`chart_figures`), and the chart files in ``DIR/charts``.

This is the one module that writes chart files; ``dsim run`` and ``dsim plot`` call
:func:`draw_all`, and the HTML report draws the same figures inline.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.registry.base import Registry
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.report.architecture_charts import (
    approach_bars,
    approach_cdf,
    approach_curve,
    approach_legend,
)
from sim.report.canvas import x_positions
from sim.report.delivery_charts import (
    SYSTEM_KEYS,
    at_point,
    backlog,
    cause_bars,
    damage,
    latency_cdf,
    price_bars,
    rate_bars,
    sweep_columns,
    sweep_curve,
    system_legend,
    throughput,
)
from sim.report.explain import same
from sim.report.sequence import sequence_diagram
from sim.report.styles import approaches_of, semantics_colour, systems_of
from sim.study.files import DamagedResults, atomic_path, read_tables, row_key


def _figure(columns: int, rows: int = 1, width: float = 6.0, height: float = 4.2) -> Figure:
    return Figure(figsize=(width * columns, height * rows), layout="constrained")


@dataclass(frozen=True)
class View:
    """What every chart of a study shares: the study's name, swept columns, the point the
    single-point charts show (the last value of every swept key, the harshest in a rising
    sweep) and the consumer group they show."""

    name: str
    sweep: list[str]
    group: str
    chosen: dict[str, Any]
    where: str
    """Words naming the chosen point (`` (at key = value)``), for titles."""


@dataclass(frozen=True)
class Planned:
    """One chart file of a study: its file stem, its kind (an entry of :data:`CHARTS`) and
    what that kind's drawing is given besides the tables (a swept key, a pattern)."""

    stem: str
    kind: str
    args: tuple[Any, ...] = ()

    def figure(self, tables: dict[str, pd.DataFrame], view: View) -> Figure:
        """The chart, drawn."""
        return CHARTS[self.kind].draw(tables, view, *self.args)


Drawn = tuple[str, str, Figure]
"""A chart drawn: its file stem, the name of its kind in :data:`CHARTS`, and the figure."""


def plan(tables: dict[str, pd.DataFrame], group: str | None = None) -> tuple[View, list[Planned]]:
    """Every chart of a study, in the order they are listed, and what they share."""
    summary = tables["summary"]
    sweep = sweep_columns(summary)
    name = str(summary["scenario"].iloc[0])
    point, where = at_point(summary, sweep)
    chosen = {c: point[c].iloc[0] for c in sweep if c not in SYSTEM_KEYS and not point.empty}
    if row_key(summary) == "approach":
        view = View(name, sweep, "", chosen, where)
        charts = [
            Planned("architectures", "architectures"),
            Planned("latency", "architecture_latency"),
        ]
        charts += [Planned(f"sweep_{safe_name(c)}", "architecture_sweep", (c,)) for c in sweep]
        return view, charts
    view = View(
        name, sweep, group if group is not None else str(summary["group"].iloc[0]), chosen, where
    )
    charts = [Planned("loss_and_duplicates", "loss_and_duplicates"), Planned("latency", "latency")]
    charts += [
        Planned(f"sweep_{safe_name(c)}", "sweep", (c,)) for c in sweep if c not in SYSTEM_KEYS
    ]
    timeline = tables["timeline"]
    if not timeline.empty:
        charts += [
            Planned(f"timeline_{p}", "timeline", (p,))
            for p in PATTERNS.order(at_point(timeline, sweep, chosen)[0]["pattern"])
        ]
    charts += [Planned("causes", "causes"), Planned("price", "price")]
    return view, charts


def draw_all(
    tables: dict[str, pd.DataFrame],
    out: Path,
    fmt: str = "png",
    group: str | None = None,
    jobs: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> list[Path]:
    """Draw every chart of a study into ``out`` (after clearing the charts an earlier drawing
    left there: a sweep chart of a key no longer swept must not linger); ``tables``:
    ``summary``, ``runs``, ``latency``, ``timeline``, ``faults`` as the result files hold
    them. With ``jobs`` above 1 the charts are drawn in that many processes at once, the
    longest first (the files are the same), and ``meanwhile()`` (say, writing the result
    files) runs while they are drawn; serially it runs first."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"*.{fmt}"):
        old.unlink()
    view, charts = plan(tables, group)
    paths = [out / f"{chart.stem}.{fmt}" for chart in charts]
    work = [(tables, view, chart, path, fmt) for chart, path in zip(charts, paths, strict=True)]
    if jobs > 1 and len(work) > 1:
        context = multiprocessing.get_context("fork")
        longest_first = sorted(work, key=lambda args: -CHARTS[args[2].kind].effort)
        with ProcessPoolExecutor(min(jobs, len(work)), mp_context=context) as pool:
            drawing = [pool.submit(_save, *args) for args in longest_first]
            if meanwhile is not None:
                meanwhile()
            for future in drawing:
                future.result()
        return paths
    if meanwhile is not None:
        meanwhile()
    for args in work:
        _save(*args)
    return paths


def chart_figures(tables: dict[str, pd.DataFrame], group: str | None = None) -> Iterator[Drawn]:
    """Every chart of a study, one figure at a time, in the order :func:`plan` gives (a
    delivery study's charts show ``group``, by default the first): what the HTML report
    embeds, the very figures the chart files hold."""
    view, charts = plan(tables, group)
    for chart in charts:
        yield chart.stem, chart.kind, chart.figure(tables, view)


def _save(
    tables: dict[str, pd.DataFrame], view: View, chart: Planned, path: Path, fmt: str
) -> None:
    fig = chart.figure(tables, view)
    fig.savefig(path, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)


# --- the charts of a delivery study ----------------------------------------------------------


DEAD_LETTERS = "dead_letter_rate"
"""The figure that gets a panel beside loss and duplicates once a study dead-letters."""


def _dead_letters(summary: pd.DataFrame, group: str) -> bool:
    """Whether any point of ``summary`` dead-lettered messages of ``group``."""
    rows = summary[summary["figure"] == DEAD_LETTERS]
    if "group" in rows:
        rows = rows[rows["group"] == group]
    return bool((rows["mean"] > 0).any())


def _loss_and_duplicates(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    point, where = at_point(tables["summary"], view.sweep)
    panels = [
        ("loss_rate", "How many messages are lost?"),
        ("dup_rate", "How many are applied twice or more?"),
    ]
    if _dead_letters(tables["summary"], view.group):
        panels.append((DEAD_LETTERS, "How many end in the dead-letter queue?"))
    fig = _figure(len(panels))
    for ax, (figure, title) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        rate_bars(point, figure, ax, view.group, title)
    fig.suptitle(
        f"{view.name}: loss and duplicates per delivery semantics{where}, group {view.group}"
    )
    system_legend(fig, systems_of(point))
    return fig


def _latency(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    point, _ = at_point(tables["summary"], view.sweep)
    latency, _ = at_point(tables["latency"], view.sweep, view.chosen)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    latency_cdf(latency, "end_to_end", left, view.group, "How long until the effect is applied?")
    latency_cdf(
        latency,
        "publish",
        right,
        view.group,
        "How long does the application wait for the publish ack?",
    )
    fig.suptitle(f"{view.name}: latency distributions{view.where} (o median, ^ p99)")
    system_legend(fig, systems_of(point), lines=True)
    return fig


def _sweep(tables: dict[str, pd.DataFrame], view: View, column: str) -> Figure:
    others = [c for c in view.sweep if c != column]
    sliced, where_else = at_point(tables["summary"], others)
    figures = ["loss_rate", "dup_rate", "latency_p99", "publish_latency_p99"]
    if _dead_letters(tables["summary"], view.group):
        figures.insert(2, DEAD_LETTERS)
    columns = (len(figures) + 1) // 2
    fig = _figure(columns, 2, width=5.5, height=3.8)
    axes = fig.subplots(2, columns)
    for ax, figure in zip(axes.flat, figures, strict=False):
        sweep_curve(sliced, column, figure, ax, view.group)
    for ax in axes.flat[len(figures) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{view.name}: how the figures move with {column}{where_else}, group {view.group}"
        " (bands: 95% intervals)"
    )
    categorical = not x_positions(sliced[column])[1]
    system_legend(fig, systems_of(sliced), lines=not categorical, points=categorical)
    return fig


def _timeline(tables: dict[str, pd.DataFrame], view: View, pattern: str) -> Figure:
    timeline, where = at_point(tables["timeline"], view.sweep, view.chosen)
    faults, _ = at_point(tables["faults"], view.sweep, view.chosen)
    faults = faults[faults["replication"] == 0]
    present = SEMANTICS.order(timeline["semantics"][timeline["pattern"] == pattern])
    fig = _figure(1, 3, width=max(4.5 * len(present), 9.0), height=2.6)
    axes = np.array(fig.subplots(3, len(present), sharex=True, sharey="row", squeeze=False))
    for j, s in enumerate(present):
        mine = timeline[(timeline["semantics"] == s) & (timeline["pattern"] == pattern)]
        windows = faults[(faults["semantics"] == s) & (faults["pattern"] == pattern)]
        last = j == len(present) - 1
        throughput(mine, axes[0, j], view.group, windows, legend=last)
        backlog(mine, axes[1, j], view.group, windows, legend=last)
        damage(mine, axes[2, j], view.group, windows, legend=last)
        axes[0, j].set_title(s, color=semantics_colour(s), pad=14)
    fig.suptitle(
        f"{view.name}: one replication over time, {pattern}{where}, group {view.group}"
        " (grey: fault windows)"
    )
    return fig


def _causes(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    point, where = at_point(tables["summary"], view.sweep)
    dead_letters = _dead_letters(tables["summary"], view.group)
    fig = _figure(3 if dead_letters else 2)
    axes = fig.subplots(1, 3 if dead_letters else 2)
    cause_bars(point, axes[0], view.group)
    cause_bars(point, axes[1], view.group, "Why were messages applied twice?", kind="dup")
    if dead_letters:
        rate_bars(point, DEAD_LETTERS, axes[2], view.group, "How many were dead-lettered?")
    fig.suptitle(f"{view.name}: losses and duplicates by cause{where}, group {view.group}")
    return fig


def _price(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    run_point, where = at_point(tables["runs"], view.sweep, view.chosen)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    price_bars(
        run_point,
        "wire_messages",
        "delivered",
        left,
        view.group,
        "Network messages per delivered message",
    )
    price_bars(
        run_point,
        "attempts",
        "delivered",
        right,
        view.group,
        "Publish attempts per delivered message",
    )
    fig.suptitle(f"{view.name}: the price of each guarantee{where}, group {view.group}")
    system_legend(fig, systems_of(run_point))
    return fig


# --- the charts of an architecture comparison (SPEC section 3) -------------------------------


def _architectures(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    point, where = at_point(tables["summary"], view.sweep)
    fig = _figure(3, 2, width=4.3, height=3.4)
    panels = [
        ("success_rate", "Did the request succeed?"),
        ("user_latency_p50", "How long did the user wait? (median)"),
        ("user_latency_p99", "How long did the user wait? (p99)"),
        ("inconsistent_rate", "Left some services changed, some not"),
        ("agree_time_p99", "Until every service has it (p99)"),
        ("duplicates", "Applied twice downstream"),
    ]
    for ax, (figure, title) in zip(np.array(fig.subplots(2, 3)).flat, panels, strict=True):
        approach_bars(point, figure, ax, title)
    fig.suptitle(f"{view.name}: chain, orchestration or events{where}")
    approach_legend(fig, approaches_of(point["approach"]))
    return fig


def _approach_latency(tables: dict[str, pd.DataFrame], view: View) -> Figure:
    point, where = at_point(tables["summary"], view.sweep)
    latency, _ = at_point(tables["latency"], view.sweep)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    approach_cdf(latency, "user", left, "How long does the user wait?")
    approach_cdf(latency, "agree", right, "How long until every service has the change?")
    fig.suptitle(
        f"{view.name}: the wait of every answered request, and the time until all agree "
        f"of those every service applied{where}"
    )
    approach_legend(fig, approaches_of(point["approach"]), lines=True)
    return fig


def _approach_sweep(tables: dict[str, pd.DataFrame], view: View, column: str) -> Figure:
    summary = tables["summary"]
    point, _ = at_point(summary, view.sweep)
    others = [c for c in view.sweep if c != column]
    sliced, where_else = at_point(summary, others)
    fig = _figure(2, 2, width=5.5, height=3.8)
    figures = ("success_rate", "user_latency_p99", "inconsistent_rate", "agree_time_p99")
    for ax, figure in zip(np.array(fig.subplots(2, 2)).flat, figures, strict=True):
        approach_curve(sliced, column, figure, ax)
    fig.suptitle(
        f"{view.name}: how the approaches move with {column}{where_else} (bands: 95% intervals)"
    )
    approach_legend(fig, approaches_of(point["approach"]))
    return fig


@dataclass(frozen=True)
class Chart:
    """One kind of chart: its file, the question it answers and what to read in it."""

    name: str
    file: str
    """The file's stem (``<key>`` and ``<pattern>`` stand for each swept key and pattern)."""
    description: str
    """The question it answers (the docs' table of charts)."""
    read: str
    """What to read in it, in one line (the report's caption)."""
    draw: Callable[..., Figure]
    """Draws it: ``draw(tables, view, *arguments) -> Figure``."""
    effort: float = 1.0
    """How long it takes to draw, relative to the others (measured once on delivery studies;
    1 for those not measured): parallel workers are handed the longest first, so that no long
    chart is left to draw alone at the end."""


CHARTS: Registry[Chart] = Registry(
    "chart",
    [
        Chart(
            "loss_and_duplicates",
            "loss_and_duplicates",
            "how many messages each semantics and pattern loses and applies twice, with 95% "
            "intervals",
            "Each bar is the mean share of eligible messages lost (left) or applied more than "
            "once (right), one colour per semantics and one hatch per pattern; the whiskers "
            "are 95% intervals, so a bar whose whisker reaches zero may be no loss at all.",
            _loss_and_duplicates,
        ),
        Chart(
            "latency",
            "latency",
            "the end-to-end latency distribution (CDF, median and p99 marked) and how long "
            "the application waits for the publish ack",
            "Further right is slower (the time axis is logarithmic); the circle on each curve "
            "is its median and the triangle its p99; a curve that reaches the top late has a "
            "tail of retries or redeliveries.",
            _latency,
            effort=2.0,
        ),
        Chart(
            "sweep",
            "sweep_<key>",
            "loss, duplicates, p99 latency and p99 publish latency against each swept key, "
            "with 95% bands",
            "A line that climbs as the swept value grows is a semantics that pays for that "
            "failure; where two bands overlap, the difference between those lines is within "
            "the noise.",
            _sweep,
            effort=2.0,
        ),
        Chart(
            "timeline",
            "timeline_<pattern>",
            "one replication over time per semantics: throughput, consumer lag and broker "
            "queue, cumulative losses and duplicates, fault windows shaded and named",
            "Grey bands are fault windows: see the lag and the broker queue grow inside them "
            "and drain after, and where the cumulative losses (red) and duplicates (blue) step "
            "up.",
            _timeline,
            effort=3.0,
        ),
        Chart(
            "causes",
            "causes",
            "losses and duplicates, each stacked by cause",
            "Each bar is split by the failure that caused the losses (left) or duplicates "
            "(right): the tallest segment is the failure point to fix, or to guard, first.",
            _causes,
        ),
        Chart(
            "price",
            "price",
            "network messages and publish attempts per delivered message",
            "What each guarantee costs: network messages and publish attempts per delivered "
            "message; at-most-once is the floor, and retries and redeliveries add the rest.",
            _price,
        ),
        Chart(
            "architectures",
            "architectures",
            "the approaches side by side: success, user latency, inconsistent requests, time "
            "until every service agrees, duplicates downstream",
            "One bar per approach and figure, with 95% intervals: higher success, lower user "
            "latency and fewer inconsistent requests are better; the event-driven design "
            "trades the user's wait for the time until every service agrees.",
            _architectures,
        ),
        Chart(
            "architecture_latency",
            "latency",
            "an architecture comparison's latency: the user's wait and the time until every "
            "service has the change (CDFs)",
            "Further right is slower (logarithmic time); the left panel is what the user "
            "waits, the right how long until every service has applied the change.",
            _approach_latency,
        ),
        Chart(
            "architecture_sweep",
            "sweep_<key>",
            "an architecture comparison's figures against each swept key, with 95% bands",
            "How each approach's success, p99 user latency, inconsistency and p99 time until "
            "all agree move with the swept value; overlapping bands do not differ.",
            _approach_sweep,
        ),
    ],
)
"""Every kind of chart a result directory can have, in the order they are drawn."""


def safe_name(text: str) -> str:
    """``text`` as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def draw_sequence(
    directory: Path,
    trace: pd.DataFrame,
    point: dict[str, Any],
    chosen: dict[str, str],
    message: int | None,
    start: float | None,
    end: float | None,
    fmt: str = "png",
) -> Path:
    """Draw a sequence diagram of one point's run (of ``message``, or of ``start`` to
    ``end``) into ``DIR/diagrams`` and return its path. ``point`` tells the point apart from
    the others left after the reader's ``chosen`` ``--at`` values; both name it. The fault
    windows of that run come from ``faults.csv`` (the diagram is drawn without them when it
    cannot be read)."""
    rows = trace
    for column, value in point.items():
        rows = rows[rows[column] == value]
    named = {**chosen, **point}
    faults = _faults_at(directory, named)
    what = f"message {message}" if message is not None else f"{start:g} s to {end:g} s"
    where = ", ".join(f"{k}={v}" for k, v in named.items())
    title = f"What happened to {what}" + (f" ({where})" if where else "")
    lanes = rows["component"].nunique()
    fig = Figure(figsize=(max(7.0, 1.5 * lanes + 3), 7.5), layout="constrained")
    sequence_diagram(rows, message, start, end, ax=fig.subplots(), title=title, faults=faults)
    stem = f"message-{message}" if message is not None else f"slice-{start:g}-{end:g}"
    if named:
        stem += "-" + "-".join(safe_name(f"{k}={v}") for k, v in named.items())
    path = directory / "diagrams" / f"{stem}.{fmt}"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    return path


def _faults_at(directory: Path, named: dict[str, Any]) -> pd.DataFrame | None:
    """The fault windows of replication 0 at a point, from ``faults.csv`` (None when it cannot
    be read)."""
    try:
        faults = read_tables(directory, ("faults",))["faults"]
    except DamagedResults:
        return None
    faults = faults[faults["replication"] == 0]
    for column, value in named.items():
        if column in faults.columns:
            faults = faults[[same(v, str(value)) for v in faults[column]]]
    return faults
