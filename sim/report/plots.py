"""Charts: pure functions of result tables, each drawing on one matplotlib Axes.

Every function takes a table as ``Results`` holds it (and as the result files store it) and
an optional ``ax``; it returns the Axes, so notebooks can combine them freely. One colour
stands for each semantics and one line style (or hatch) for each pattern, in every chart.
:func:`draw_all` composes the chart files ``dsim run`` and ``dsim plot`` write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.study.stats import t_interval

SEMANTICS = ["at-most-once", "at-least-once", "exactly-once"]
PATTERNS = ["streaming", "pubsub"]
COLOURS = {"at-most-once": "#d62728", "at-least-once": "#1f77b4", "exactly-once": "#2ca02c"}
LINES = {"streaming": "-", "pubsub": "--"}
HATCHES = {"streaming": "", "pubsub": "///"}
POINTS = {"streaming": "o", "pubsub": "s"}
"""Markers of each pattern where points stand alone (a categorical sweep)."""
MARKERS = {"p50": "o", "p99": "^"}
KEYS = ["scenario", "semantics", "pattern"]
DUP_COLOURS = [
    "#1f3b73",
    "#6baed6",
    "#fd8d3c",
    "#74c476",
    "#9e9ac8",
    "#7f7f7f",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#17becf",
    "#d62728",
]
CAUSE_COLOURS = [
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#9467bd",
    "#ff7f0e",
    "#1f3b73",
]

FIGURE_LABELS = {
    "loss_rate": "lost (% of eligible messages)",
    "dup_rate": "duplicate applications (% of eligible)",
    "latency_mean": "mean end-to-end latency (s)",
    "latency_p50": "median end-to-end latency (s)",
    "latency_p99": "p99 end-to-end latency (s)",
    "publish_latency_p99": "p99 publish latency (s)",
    "pending": "pending at the end (messages)",
}
PERCENT = {"loss_rate", "dup_rate"}


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.5), layout="constrained")[1]


def systems_of(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The (semantics, pattern) pairs present, in the canonical order."""
    present = set(zip(table["semantics"], table["pattern"], strict=True))
    order = [(s, p) for s in SEMANTICS for p in PATTERNS]
    return [pair for pair in order if pair in present]


def _group(table: pd.DataFrame, group: str | None) -> pd.DataFrame:
    if "group" not in table or table.empty:
        return table
    chosen = group if group is not None else table["group"].iloc[0]
    return table[table["group"] == chosen]


def system_legend(
    ax: Axes | Figure,
    systems: Sequence[tuple[str, str]],
    lines: bool = False,
    points: bool = False,
    **where: Any,
) -> None:
    """One legend entry per semantics (colour) and per pattern (hatch; line style with
    ``lines``; marker with ``points``)."""
    semantics = [s for s in SEMANTICS if any(x == s for x, _ in systems)]
    patterns = [p for p in PATTERNS if any(y == p for _, y in systems)]
    handles: list[Any] = [Patch(facecolor=COLOURS[s], label=s) for s in semantics]
    if len(patterns) > 1 or lines or points:
        for p in patterns:
            if points:
                handles.append(
                    Line2D([], [], color="black", marker=POINTS[p], linestyle="none", label=p)
                )
            elif lines:
                handles.append(Line2D([], [], color="black", linestyle=LINES[p], label=p))
            else:
                handles.append(
                    Patch(facecolor="white", edgecolor="black", hatch=HATCHES[p], label=p)
                )
    if isinstance(ax, Figure):  # beside the panels (needs the constrained layout)
        ax.legend(handles=handles, loc="outside right upper", frameon=False, **where)
    else:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **where
        )


# --- bars -------------------------------------------------------------------------------------


def _bar_positions(systems: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """Bars of one semantics side by side, a gap between semantics."""
    positions, x, last = {}, 0.0, None
    for s, p in systems:
        if last is not None:
            x += 1.0 if s == last else 1.6
        positions[(s, p)] = x
        last = s
    return positions


def _label_bars(
    ax: Axes, systems: Sequence[tuple[str, str]], positions: dict[tuple[str, str], float]
) -> None:
    """The pattern under each bar, the semantics (in its colour) under its bars."""
    ax.set_xticks([positions[s] for s in systems])
    ax.set_xticklabels([p for _, p in systems], fontsize=7)
    ax.set_xlim(min(positions.values()) - 0.8, max(positions.values()) + 0.8)
    below = ax.get_xaxis_transform()
    for semantics in dict.fromkeys(s for s, _ in systems):
        xs = [positions[k] for k in systems if k[0] == semantics]
        ax.text(
            sum(xs) / len(xs),
            -0.09,
            semantics,
            transform=below,
            ha="center",
            va="top",
            fontsize=9,
            fontweight="bold",
            color=COLOURS[semantics],
        )


def rate_bars(
    summary: pd.DataFrame,
    figure: str = "loss_rate",
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Axes:
    """Mean of ``figure`` per semantics and pattern, with its 95% interval as error bars.

    ``summary`` should hold one point per system (slice a sweep with :func:`at_point`)."""
    ax = _axes(ax)
    rows = _group(summary[summary["figure"] == figure], group)
    systems = systems_of(rows)
    positions = _bar_positions(systems)
    scale = 100.0 if figure in PERCENT else 1.0
    for s, p in systems:
        row = rows[(rows["semantics"] == s) & (rows["pattern"] == p)].iloc[0]
        mean = row["mean"] * scale
        low, high = row["ci_low"] * scale, row["ci_high"] * scale
        err = None if np.isnan(low) else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
        ax.bar(
            positions[(s, p)],
            mean,
            width=0.9,
            color=COLOURS[s],
            hatch=HATCHES[p],
            edgecolor="white" if not HATCHES[p] else "black",
            linewidth=0.5,
            yerr=err,
            capsize=3,
            error_kw={"elinewidth": 1},
        )
        ax.annotate(
            f"{mean:.3g}{'%' if scale == 100 else ''}",
            (positions[(s, p)], mean if np.isnan(high) else max(mean, high)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    _label_bars(ax, systems, positions)
    if scale == 100.0:
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
    ax.set_ylabel(FIGURE_LABELS.get(figure, figure))
    ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    if title:
        ax.set_title(title)
    return ax


def cause_bars(
    summary: pd.DataFrame,
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = "Why were messages lost?",
    kind: str = "lost",
) -> Axes:
    """Losses (``kind = "lost"``) or duplicate applications (``"dup"``) per semantics and
    pattern, stacked by cause, as a share of the eligible messages."""
    ax = _axes(ax)
    rows = _group(summary, group)
    systems = systems_of(rows)
    positions = _bar_positions(systems)
    eligible = dict(_means(rows, "eligible"))
    bottoms = dict.fromkeys(systems, 0.0)
    causes = LOSS_CAUSES if kind == "lost" else DUP_CAUSES
    colours = CAUSE_COLOURS if kind == "lost" else DUP_COLOURS
    drawn = []
    for cause, colour in zip(causes, colours, strict=True):
        means = _means(rows, cause.column)
        heights = {
            k: 100.0 * means.get(k, 0.0) / eligible[k] if eligible.get(k) else 0.0 for k in systems
        }
        if not any(heights.values()):
            continue
        drawn.append(Patch(facecolor=colour, label=cause.name.lower().replace("_", " ")))
        for k in systems:
            ax.bar(
                positions[k],
                heights[k],
                bottom=bottoms[k],
                width=0.9,
                color=colour,
                hatch=HATCHES[k[1]],
                edgecolor="black" if HATCHES[k[1]] else "white",
                linewidth=0.5,
            )
            bottoms[k] += heights[k]
    _label_bars(ax, systems, positions)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
    what = "lost" if kind == "lost" else "applied again"
    ax.set_ylabel(f"{what} (% of eligible messages)")
    ax.set_ylim(bottom=0)
    ax.margins(y=0.1)
    if drawn:
        ax.legend(
            handles=drawn,
            title="cause",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=8,
        )
    else:
        ax.text(
            0.5, 0.5, f"no message was {what}", transform=ax.transAxes, ha="center", color="0.4"
        )
    if title:
        ax.set_title(title)
    return ax


def _means(rows: pd.DataFrame, figure: str) -> dict[tuple[str, str], float]:
    part = rows[rows["figure"] == figure]
    return {
        (s, p): float(m)
        for s, p, m in zip(part["semantics"], part["pattern"], part["mean"], strict=True)
    }


def price_bars(
    runs: pd.DataFrame,
    figure: str = "wire_messages",
    per: str = "delivered",
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Axes:
    """What a guarantee costs: ``figure`` per ``per`` message (mean of the per-replication
    ratios, with its 95% interval), per semantics and pattern."""
    ax = _axes(ax)
    rows = _group(runs, group)
    systems = systems_of(rows)
    positions = _bar_positions(systems)
    for s, p in systems:
        mine = rows[(rows["semantics"] == s) & (rows["pattern"] == p)]
        ratio = (mine[figure] / mine[per].where(mine[per] > 0)).to_numpy(dtype=float)
        mean, _, low, high, _ = t_interval(ratio)
        err = None if np.isnan(low) else [[mean - low], [high - mean]]
        ax.bar(
            positions[(s, p)],
            mean,
            width=0.9,
            color=COLOURS[s],
            hatch=HATCHES[p],
            edgecolor="black" if HATCHES[p] else "white",
            linewidth=0.5,
            yerr=err,
            capsize=3,
        )
        ax.annotate(
            f"{mean:.3g}",
            (positions[(s, p)], mean if np.isnan(high) else max(mean, high)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    _label_bars(ax, systems, positions)
    ax.set_ylabel(f"{figure.replace('_', ' ')} per {per} message")
    ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    if title:
        ax.set_title(title)
    return ax


# --- distributions and curves ----------------------------------------------------------------


def latency_cdf(
    latency: pd.DataFrame,
    kind: str = "end_to_end",
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Axes:
    """The latency distribution per semantics and pattern, as a CDF on a log time axis, with
    the median (circle) and the 99th percentile (triangle) marked."""
    ax = _axes(ax)
    rows = _group(latency[latency["kind"] == kind], group)
    systems = systems_of(rows)
    immediate, drawn, notes = [], {}, []
    for s, p in systems:
        mine = rows[(rows["semantics"] == s) & (rows["pattern"] == p)].sort_values("quantile")
        seconds, q = mine["seconds"].to_numpy(float), mine["quantile"].to_numpy(float)
        keep = seconds > 0
        if not keep.any():
            immediate.append(f"{s} ({p})")
            continue
        same = next((k for k, v in drawn.items() if np.allclose(v, seconds, equal_nan=True)), None)
        if same is not None:  # drawn already: say so rather than hide a curve
            notes.append(f"{s} ({p}) = {same[0]} ({same[1]})")
            continue
        drawn[(s, p)] = seconds
        ax.plot(seconds[keep], q[keep], color=COLOURS[s], linestyle=LINES[p], linewidth=1.5)
        for name, level in (("p50", 0.5), ("p99", 0.99)):
            at = float(np.interp(level, q, seconds))
            if at > 0:
                ax.plot(
                    [at],
                    [level],
                    marker=MARKERS[name],
                    color=COLOURS[s],
                    markersize=6,
                    linestyle="none",
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("fraction of messages")
    ax.grid(True, which="major", alpha=0.3)
    if immediate:
        notes.insert(0, "no wait: " + ", ".join(immediate))
    if notes:
        ax.text(
            0.02,
            0.97,
            "\n".join(notes),
            transform=ax.transAxes,
            va="top",
            fontsize=7,
            color="0.3",
        )
    if title:
        ax.set_title(title)
    return ax


def _x_positions(column: pd.Series) -> tuple[list[Any], bool, dict[Any, float]]:
    """Swept values in order, whether they are numbers, and where each goes on the x axis
    (its value, or its rank when the values are labels)."""
    values = list(dict.fromkeys(column))
    numeric = all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
    )
    return values, numeric, {v: (float(v) if numeric else i) for i, v in enumerate(values)}


def sweep_curve(
    summary: pd.DataFrame,
    x: str,
    figure: str = "loss_rate",
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Axes:
    """``figure`` against the swept value ``x``: one line per semantics (colour) and pattern
    (line style), the 95% interval as a band. Values that are not numbers (labels of a linked
    sweep) are categories: points with interval bars, side by side, and no line between."""
    ax = _axes(ax)
    rows = _group(summary[summary["figure"] == figure], group)
    values, numeric, where = _x_positions(rows[x])
    scale = 100.0 if figure in PERCENT else 1.0
    systems = systems_of(rows)
    for k, (s, p) in enumerate(systems):
        mine = rows[(rows["semantics"] == s) & (rows["pattern"] == p)]
        mine = mine.assign(_x=mine[x].map(where)).sort_values("_x")
        xs = mine["_x"].to_numpy(float)
        mean = (mine["mean"] * scale).to_numpy(float)
        low, high = mine["ci_low"] * scale, mine["ci_high"] * scale
        if numeric:
            ax.plot(xs, mean, color=COLOURS[s], linestyle=LINES[p], marker=".", linewidth=1.5)
            if low.notna().all():
                ax.fill_between(xs, low, high, color=COLOURS[s], alpha=0.12, linewidth=0)
            continue
        offset = (k - (len(systems) - 1) / 2) * 0.5 / max(1, len(systems))
        err = np.vstack([mean - low.to_numpy(float), high.to_numpy(float) - mean])
        ax.errorbar(
            xs + offset,
            mean,
            yerr=np.nan_to_num(np.maximum(err, 0.0)),
            fmt=POINTS[p],
            color=COLOURS[s],
            markersize=5,
            capsize=2,
            linewidth=1,
            linestyle="none",
        )
    if not numeric:
        ax.set_xticks(list(where.values()))
        long = max(len(str(v)) for v in values) > 8
        ax.set_xticklabels(
            [str(v) for v in values],
            rotation=25 if long else 0,
            ha="right" if long else "center",
            fontsize=8 if long else None,
        )
    if scale == 100.0:
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
    ax.set_xlabel(x)
    ax.set_ylabel(FIGURE_LABELS.get(figure, figure))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


# --- one replication over time ---------------------------------------------------------------


def shade_faults(faults: pd.DataFrame, ax: Axes, label: bool = True) -> Axes:
    """Shade every fault window (and name its target once, at the top)."""
    named: set[str] = set()
    for row in faults.itertuples(index=False):
        ax.axvspan(row.start, row.end, color="0.5", alpha=0.2, linewidth=0)
        name = f"{row.target} {row.kind}"
        if label and name not in named:
            named.add(name)
            ax.annotate(
                name,
                (row.start, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                fontsize=7,
                va="bottom",
                color="0.3",
                rotation=0,
            )
    return ax


def _from_zero(ax: Axes) -> None:
    """Keep 0 at the bottom while autoscaling stays on (shared axes grow with every panel)."""
    for line in ax.get_lines():
        line.sticky_edges.y.append(0.0)


def throughput(
    timeline: pd.DataFrame,
    ax: Axes | None = None,
    group: str | None = None,
    faults: pd.DataFrame | None = None,
    legend: bool = True,
) -> Axes:
    """Messages produced and first applied per second."""
    ax = _axes(ax)
    rows = _group(timeline, group)
    ax.plot(rows["time"], rows["produced_per_s"], color="0.6", linewidth=1, label="produced")
    ax.plot(
        rows["time"],
        rows["delivered_per_s"],
        color="black",
        linewidth=1,
        label="applied (first time)",
    )
    ax.set_ylabel("messages / s")
    _from_zero(ax)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if faults is not None:
        shade_faults(faults, ax)
    return ax


def backlog(
    timeline: pd.DataFrame,
    ax: Axes | None = None,
    group: str | None = None,
    faults: pd.DataFrame | None = None,
    legend: bool = True,
) -> Axes:
    """What waits: publishes in the broker's queue and stored copies the group has not
    consumed yet (its lag)."""
    ax = _axes(ax)
    rows = _group(timeline, group)
    ax.plot(rows["time"], rows["lag"], color="#9467bd", linewidth=1, label="consumer lag")
    ax.plot(rows["time"], rows["broker_queue"], color="#ff7f0e", linewidth=1, label="broker queue")
    ax.set_ylabel("messages")
    _from_zero(ax)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if faults is not None:
        shade_faults(faults, ax, label=False)
    return ax


def damage(
    timeline: pd.DataFrame,
    ax: Axes | None = None,
    group: str | None = None,
    faults: pd.DataFrame | None = None,
    legend: bool = True,
) -> Axes:
    """Cumulative losses (at the lost message's creation time) and duplicate applications."""
    ax = _axes(ax)
    rows = _group(timeline, group)
    ax.plot(
        rows["time"],
        rows["lost_cumulative"],
        color="#d62728",
        linewidth=1.5,
        label="lost (by creation time)",
    )
    ax.plot(
        rows["time"],
        rows["duplicates_cumulative"],
        color="#1f77b4",
        linewidth=1.5,
        linestyle=":",
        label="duplicate applications",
    )
    ax.set_ylabel("messages (cumulative)")
    ax.set_xlabel("simulated time (s)")
    _from_zero(ax)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if faults is not None:
        shade_faults(faults, ax, label=False)
    return ax


# --- the chart files -------------------------------------------------------------------------


def sweep_columns(table: pd.DataFrame) -> list[str]:
    """The swept columns of a result table (between the system keys and ``group``, or
    ``approach`` in an architecture comparison)."""
    columns = list(table.columns)
    for key in ("group", "approach"):
        if key in columns:
            return columns[len(KEYS) : columns.index(key)]
    return []


def at_point(
    table: pd.DataFrame, sweep: Sequence[str], choose: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, str]:
    """Rows at one value of every swept column other than semantics and pattern (by default
    the last value, the harshest in a rising sweep), and words that say which."""
    chosen = dict(choose or {})
    for column in sweep:
        if column in ("delivery.semantics", "delivery.pattern") or column in chosen:
            continue
        values = list(dict.fromkeys(table[column]))
        if values:
            chosen[column] = values[-1]
    rows = table
    for column, value in chosen.items():
        rows = rows[rows[column] == value]
    words = ", ".join(f"{k} = {v}" for k, v in chosen.items())
    return rows, (f" (at {words})" if words else "")


def _figure(columns: int, rows: int = 1, width: float = 6.0, height: float = 4.2) -> Figure:
    return Figure(figsize=(width * columns, height * rows), layout="constrained")


def draw_all(
    tables: dict[str, pd.DataFrame], out: Path, fmt: str = "png", group: str | None = None
) -> list[Path]:
    """Draw every chart of a study into ``out``; ``tables``: ``summary``, ``runs``,
    ``latency``, ``timeline``, ``faults`` (as written to the result files)."""
    out.mkdir(parents=True, exist_ok=True)
    summary, runs = tables["summary"], tables["runs"]
    if "approach" in summary.columns:
        return draw_architectures(tables, out, fmt)
    sweep = sweep_columns(summary)
    name = str(summary["scenario"].iloc[0])
    group = group if group is not None else str(summary["group"].iloc[0])
    written: list[Path] = []
    save = _saver(out, fmt, written)

    point, where = at_point(summary, sweep)
    chosen = {
        c: point[c].iloc[0]
        for c in sweep
        if c not in ("delivery.semantics", "delivery.pattern") and not point.empty
    }
    systems = systems_of(point)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    rate_bars(point, "loss_rate", left, group, "How many messages are lost?")
    rate_bars(point, "dup_rate", right, group, "How many are applied twice or more?")
    fig.suptitle(f"{name}: loss and duplicates per delivery semantics{where}, group {group}")
    system_legend(fig, systems)
    save(fig, "loss_and_duplicates")

    latency, _ = at_point(tables["latency"], sweep, chosen)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    latency_cdf(latency, "end_to_end", left, group, "How long until the effect is applied?")
    latency_cdf(
        latency, "publish", right, group, "How long does the application wait for the publish ack?"
    )
    fig.suptitle(f"{name}: latency distributions{where} (o median, ^ p99)")
    system_legend(fig, systems, lines=True)
    save(fig, "latency")

    for column in sweep:
        if column in ("delivery.semantics", "delivery.pattern"):
            continue
        others = [c for c in sweep if c != column]
        sliced, where_else = at_point(summary, others)
        fig = _figure(2, 2, width=5.5, height=3.8)
        axes = fig.subplots(2, 2)
        for ax, figure in zip(
            axes.flat, ("loss_rate", "dup_rate", "latency_p99", "publish_latency_p99"), strict=True
        ):
            sweep_curve(sliced, column, figure, ax, group)
        fig.suptitle(
            f"{name}: how the figures move with {column}{where_else}, group {group}"
            " (bands: 95% intervals)"
        )
        categorical = not _x_positions(sliced[column])[1]
        system_legend(fig, systems_of(sliced), lines=not categorical, points=categorical)
        save(fig, f"sweep_{safe_name(column)}")

    timeline = tables["timeline"]
    if not timeline.empty:
        timeline, where = at_point(timeline, sweep, chosen)
        faults, _ = at_point(tables["faults"], sweep, chosen)
        faults = faults[faults["replication"] == 0]
        for pattern in [p for p in PATTERNS if p in set(timeline["pattern"])]:
            present = [
                s
                for s in SEMANTICS
                if ((timeline["semantics"] == s) & (timeline["pattern"] == pattern)).any()
            ]
            fig = _figure(1, 3, width=max(4.5 * len(present), 9.0), height=2.6)
            axes = np.array(fig.subplots(3, len(present), sharex=True, sharey="row", squeeze=False))
            for j, s in enumerate(present):
                mine = timeline[(timeline["semantics"] == s) & (timeline["pattern"] == pattern)]
                windows = faults[(faults["semantics"] == s) & (faults["pattern"] == pattern)]
                last = j == len(present) - 1
                throughput(mine, axes[0, j], group, windows, legend=last)
                backlog(mine, axes[1, j], group, windows, legend=last)
                damage(mine, axes[2, j], group, windows, legend=last)
                axes[0, j].set_title(s, color=COLOURS[s], pad=14)
            fig.suptitle(
                f"{name}: one replication over time, {pattern}{where}, group {group}"
                " (grey: fault windows)"
            )
            save(fig, f"timeline_{pattern}")

    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    cause_bars(point, left, group)
    cause_bars(point, right, group, "Why were messages applied twice?", kind="dup")
    fig.suptitle(f"{name}: losses and duplicates by cause{where}, group {group}")
    save(fig, "causes")

    run_point, where = at_point(runs, sweep, chosen)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    price_bars(
        run_point,
        "wire_messages",
        "delivered",
        left,
        group,
        "Network messages per delivered message",
    )
    price_bars(
        run_point, "attempts", "delivered", right, group, "Publish attempts per delivered message"
    )
    fig.suptitle(f"{name}: the price of each guarantee{where}, group {group}")
    system_legend(fig, systems_of(run_point))
    save(fig, "price")
    return written


def _saver(out: Path, fmt: str, written: list[Path]) -> Any:
    """A function that saves a figure into ``out``, after clearing the charts of an earlier
    drawing there (a sweep chart of a key no longer swept must not linger)."""
    for old in out.glob(f"*.{fmt}"):
        old.unlink()

    def save(fig: Figure, stem: str) -> None:
        path = out / f"{stem}.{fmt}"
        fig.savefig(path, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
        written.append(path)

    return save


# --- architecture comparisons (SPEC section 3) -----------------------------------------------

APPROACHES = ["chain", "orchestration", "event-driven"]
APPROACH_COLOURS = {"chain": "#8c564b", "orchestration": "#9467bd", "event-driven": "#17becf"}
APPROACH_LINES = {"chain": "-", "orchestration": (0, (5, 3)), "event-driven": "-."}
"""Line styles too: chain and orchestration often coincide, and one must not hide the other."""
APPROACH_LABELS = {
    "success_rate": "requests that succeeded (%)",
    "user_latency_p50": "median user latency (s)",
    "user_latency_p99": "p99 user latency (s)",
    "inconsistent_rate": "inconsistent requests (%)",
    "agree_time_p50": "median time until all agree (s)",
    "agree_time_p99": "p99 time until all agree (s)",
    "duplicates": "duplicate applications (per run)",
    "unsettled": "still propagating at the end (requests)",
}
APPROACH_PERCENT = {"success_rate", "inconsistent_rate"}


def approach_bars(
    summary: pd.DataFrame, figure: str, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """One bar per approach (its colour), with the 95% interval."""
    ax = _axes(ax)
    rows = summary[summary["figure"] == figure]
    present = [a for a in APPROACHES if a in set(rows["approach"])]
    scale = 100.0 if figure in APPROACH_PERCENT else 1.0
    for x, approach in enumerate(present):
        row = rows[rows["approach"] == approach].iloc[0]
        mean, low, high = (row[c] * scale for c in ("mean", "ci_low", "ci_high"))
        err = None if np.isnan(low) else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
        ax.bar(
            x,
            0.0 if np.isnan(mean) else mean,
            width=0.7,
            color=APPROACH_COLOURS[approach],
            yerr=err,
            capsize=3,
        )
        ax.annotate(
            "–" if np.isnan(mean) else f"{mean:.3g}{'%' if scale == 100 else ''}",
            (x, 0.0 if np.isnan(mean) else (mean if np.isnan(high) else high)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels(present, fontsize=8)
    ax.set_ylabel(APPROACH_LABELS.get(figure, figure))
    ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    if title:
        ax.set_title(title)
    return ax


def approach_curve(
    summary: pd.DataFrame, x: str, figure: str, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """``figure`` against the swept value ``x``, one line per approach, 95% band."""
    ax = _axes(ax)
    rows = summary[summary["figure"] == figure]
    values, numeric, where = _x_positions(rows[x])
    scale = 100.0 if figure in APPROACH_PERCENT else 1.0
    for approach in [a for a in APPROACHES if a in set(rows["approach"])]:
        mine = rows[rows["approach"] == approach]
        mine = mine.assign(_x=mine[x].map(where)).sort_values("_x")
        xs = mine["_x"].to_numpy(float)
        ax.plot(
            xs,
            mine["mean"] * scale,
            color=APPROACH_COLOURS[approach],
            marker=".",
            linestyle=APPROACH_LINES[approach],
            linewidth=1.8,
            label=approach,
        )
        low, high = mine["ci_low"] * scale, mine["ci_high"] * scale
        if low.notna().all():
            ax.fill_between(
                xs, low, high, color=APPROACH_COLOURS[approach], alpha=0.15, linewidth=0
            )
    if not numeric:
        ax.set_xticks(list(where.values()))
        ax.set_xticklabels([str(v) for v in values])
    ax.set_xlabel(x)
    ax.set_ylabel(APPROACH_LABELS.get(figure, figure))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def approach_cdf(
    latency: pd.DataFrame, kind: str = "user", ax: Axes | None = None, title: str | None = None
) -> Axes:
    """The distribution of the user's wait (``user``) or of the time until every service
    has the change (``agree``), one curve per approach, on a log time axis."""
    ax = _axes(ax)
    rows = latency[latency["kind"] == kind]
    for approach in [a for a in APPROACHES if a in set(rows["approach"])]:
        mine = rows[rows["approach"] == approach].sort_values("quantile")
        keep = mine["seconds"] > 0
        ax.plot(
            mine["seconds"][keep],
            mine["quantile"][keep],
            color=APPROACH_COLOURS[approach],
            linestyle=APPROACH_LINES[approach],
            linewidth=1.8,
            label=approach,
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("seconds (log scale)")
    ax.set_ylabel("fraction of requests")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def _approach_legend(fig: Figure, approaches: Sequence[str], lines: bool = False) -> None:
    if lines:
        handles: list[Any] = [
            Line2D(
                [],
                [],
                color=APPROACH_COLOURS[a],
                linewidth=1.8,
                linestyle=APPROACH_LINES[a],
                label=a,
            )
            for a in approaches
        ]
    else:
        handles = [Patch(facecolor=APPROACH_COLOURS[a], label=a) for a in approaches]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


def draw_architectures(tables: dict[str, pd.DataFrame], out: Path, fmt: str = "png") -> list[Path]:
    """The charts of an architecture comparison: the approaches side by side, their
    latency distributions, and every figure against each swept key."""
    summary = tables["summary"]
    sweep = sweep_columns(summary)
    name = str(summary["scenario"].iloc[0])
    written: list[Path] = []
    save = _saver(out, fmt, written)
    point, where = at_point(summary, sweep)
    present = [a for a in APPROACHES if a in set(point["approach"])]

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
    fig.suptitle(f"{name}: chain, orchestration or events{where}")
    _approach_legend(fig, present)
    save(fig, "architectures")

    latency, _ = at_point(tables["latency"], sweep)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    approach_cdf(latency, "user", left, "How long does the user wait?")
    approach_cdf(latency, "agree", right, "How long until every service has the change?")
    fig.suptitle(
        f"{name}: the wait of every answered request, and the time until all agree "
        f"of those every service applied{where}"
    )
    _approach_legend(fig, present, lines=True)
    save(fig, "latency")

    for column in sweep:
        others = [c for c in sweep if c != column]
        sliced, where_else = at_point(summary, others)
        fig = _figure(2, 2, width=5.5, height=3.8)
        figures = ("success_rate", "user_latency_p99", "inconsistent_rate", "agree_time_p99")
        for ax, figure in zip(np.array(fig.subplots(2, 2)).flat, figures, strict=True):
            approach_curve(sliced, column, figure, ax)
        fig.suptitle(
            f"{name}: how the approaches move with {column}{where_else} (bands: 95% intervals)"
        )
        _approach_legend(fig, present)
        save(fig, f"sweep_{safe_name(column)}")
    return written


def safe_name(text: str) -> str:
    """``text`` as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


# --- sequence diagrams (dsim explain --diagram) ----------------------------------------------

_ARRIVES = {
    "sent": ("broker", ("stored", "deduplicated", "rejected", "dropped"), "publish"),
    "stored": ("producer", ("acked", "dropped"), "publish_ack"),
    "deduplicated": ("producer", ("acked", "dropped"), "publish_ack"),
    "rejected": ("producer", ("retry", "dropped"), "publish_ack"),
    "delivered": ("consumer", ("received",), "deliver"),
    "ack_sent": ("broker", ("ack_received",), "consume_ack"),
}
"""What each sending event sends, to which kind of lane, which events there mark its arrival,
and on which link it can be lost."""


def sequence_diagram(
    trace: pd.DataFrame,
    message: int | None = None,
    start: float | None = None,
    end: float | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    faults: pd.DataFrame | None = None,
) -> Axes:
    """A Lamport diagram of one message (or of every message between ``start`` and ``end``):
    a lane per producer, the broker and each consumer instance, time running down, an arrow
    per copy and ack from sending to arrival, a cross where one was lost, a dot where an
    effect was applied (red when again), crashes marked on their lanes and, given the run's
    ``faults`` (``faults.csv`` rows of the same run), fault windows shaded on theirs."""
    ax = _axes(ax)
    if message is not None:
        events = trace[(trace["message"] == message) & (trace["event"] != "outcome")]
    else:
        lo = trace["time"].min() if start is None else start
        hi = trace["time"].max() if end is None else end
        events = trace[
            (trace["time"] >= lo)
            & (trace["time"] <= hi)
            & (trace["message"] >= 0)
            & (trace["event"] != "outcome")
        ]
    lanes = _lanes(trace["component"])
    x = {name: i for i, name in enumerate(lanes)}
    if message is not None:  # the crashes that struck this message (a copy died, or was wiped)
        crashes = events[events["event"].isin(["crash", "wiped"])]
    else:  # every crash of a component in the slice
        crashes = trace[(trace["event"] == "crash") & (trace["message"] < 0)]
    if not events.empty:
        lo, hi = events["time"].min(), events["time"].max()
        crashes = crashes[(crashes["time"] >= lo) & (crashes["time"] <= hi)]
        if faults is not None:
            _shade_lanes(ax, faults[(faults["start"] <= hi) & (faults["end"] >= lo)], x)
    for name in lanes:
        ax.axvline(x[name], color="0.85", linewidth=1, zorder=0)
    thin = message is None
    for _, mine in events.groupby("message", sort=False):
        _message_arrows(ax, mine.reset_index(drop=True), x, thin)
    for row in crashes.itertuples(index=False):
        ax.plot(
            [x[row.component]],
            [row.time],
            marker="X",
            color="#d62728",
            markersize=11,
            linestyle="none",
            zorder=5,
        )
        ax.annotate(
            "crash",
            (x[row.component], row.time),
            xytext=(-8, 0),
            textcoords="offset points",
            fontsize=7,
            color="#d62728",
            va="center",
            ha="right",
        )
    ax.set_xticks(range(len(lanes)))
    ax.set_xticklabels(lanes, fontsize=8, rotation=15)
    ax.xaxis.tick_top()
    ax.set_xlim(-0.6, len(lanes) - 0.4)
    if not events.empty:  # arrows do not take part in autoscaling: set the time range
        lo, hi = float(events["time"].min()), float(events["time"].max())
        pad = max(hi - lo, 1e-3) * 0.05
        ax.set_ylim(lo - pad, hi + pad)
    ax.invert_yaxis()
    ax.set_ylabel("simulated time (s)")
    legend = [
        Line2D([], [], color="0.2", label="a copy or an ack, sent to arrived"),
        Line2D([], [], color="#d62728", marker="x", linestyle="none", label="lost on the way"),
        Line2D([], [], color="black", marker="o", linestyle="none", label="applied"),
        Line2D([], [], color="#d62728", marker="o", linestyle="none", label="applied again"),
        Line2D([], [], color="#d62728", marker="X", linestyle="none", label="crash"),
    ]
    ax.legend(
        handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8
    )
    if title:
        ax.set_title(title, pad=28)
    return ax


_LANE_ORDER = ("producer", "broker", "consumer")


def _lanes(components: pd.Series) -> list[str]:
    """The lanes, left to right: producers, the broker, consumer instances, each in the order
    the run named them (a trace read back from several points may have lost that order)."""
    if isinstance(components.dtype, pd.CategoricalDtype):
        names = list(components.cat.categories)
    else:
        names = list(dict.fromkeys(components))
    kinds = {kind: n for n, kind in enumerate(_LANE_ORDER)}
    names = [name for name in names if name.split(":")[0] in kinds]
    return sorted(names, key=lambda name: kinds[name.split(":")[0]])


def _shade_lanes(ax: Axes, faults: pd.DataFrame, lanes: dict[str, int]) -> None:
    """Shade each fault window on the lanes of its target (a link's across the diagram)."""
    for row in faults.itertuples(index=False):
        target = str(row.target)
        hit = [x for name, x in lanes.items() if name == target or name.startswith(f"{target}:")]
        spans = [(x - 0.35, x + 0.35) for x in hit] or [(-0.5, len(lanes) - 0.5)]
        for left, right in spans:
            ax.fill_betweenx(
                [row.start, row.end], left, right, color="0.5", alpha=0.18, linewidth=0
            )
        ax.annotate(
            f"{row.target} {row.kind}",
            (spans[-1][1], row.start),
            xytext=(-2, -2),
            textcoords="offset points",
            fontsize=7,
            color="0.3",
            ha="right",
            va="top",
        )


def _lane(kind: str, row: Any, lanes: dict[str, int]) -> str | None:
    """The lane an arrow from ``row`` goes to."""
    if kind == "broker":
        return "broker" if "broker" in lanes else None
    if kind == "producer":
        return next((n for n in lanes if n.startswith("producer")), None)
    return None  # a consumer: found from the arrival event itself


def _message_arrows(ax: Axes, events: pd.DataFrame, lanes: dict[str, int], thin: bool) -> None:
    used: set[int] = set()
    width = 0.6 if thin else 1.2
    for i, row in events.iterrows():
        event = row["event"]
        if event == "applied":
            again = row["detail"] > 1
            ax.plot(
                [lanes[row["component"]]],
                [row["time"]],
                marker="o",
                linestyle="none",
                color="#d62728" if again else "black",
                markersize=4 if thin else 6,
                zorder=4,
            )
            if not thin:
                ax.annotate(
                    f"applied{' again' if again else ''}",
                    (lanes[row["component"]], row["time"]),
                    xytext=(6, 0),
                    textcoords="offset points",
                    fontsize=7,
                    va="center",
                )
            continue
        if event not in _ARRIVES:
            continue
        kind, arrivals, link = _ARRIVES[event]
        source = lanes[row["component"]]
        later = events.iloc[i + 1 :]
        lost = later[
            (later["event"] == "lost") & (later["cause"] == link) & (later["time"] == row["time"])
        ]
        lost = lost[~lost.index.isin(used)]
        if not lost.empty:
            used.add(lost.index[0])
            target = _lane(kind, row, lanes)
            tx = lanes[target] if target else source + (1 if kind == "consumer" else -1)
            mid = (source + tx) / 2
            ax.annotate(
                "",
                (mid, row["time"] + 1e-9),
                (source, row["time"]),
                arrowprops={"arrowstyle": "-", "color": "0.4", "linewidth": width},
            )
            ax.plot(
                [mid],
                [row["time"]],
                marker="x",
                color="#d62728",
                markersize=8,
                linestyle="none",
                zorder=5,
            )
            continue
        group = row["group"]
        candidates = later[later["event"].isin(arrivals) & ~later.index.isin(used)]
        if kind == "consumer":
            candidates = candidates[candidates["group"] == group]
        if candidates.empty:
            continue
        arrival = candidates.iloc[0]
        used.add(candidates.index[0])
        ax.annotate(
            "",
            (lanes[arrival["component"]], arrival["time"]),
            (source, row["time"]),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.2",
                "linewidth": width,
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
