"""Charts of a delivery study: pure functions of result tables, each drawing on one Axes.

Every function takes a table as ``Results`` holds it (and as the result files store it) and
an optional ``ax``; it returns the Axes, so notebooks can combine them freely. Styles come
from :mod:`sim.report.styles` (the registries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.report.canvas import axes_for, windows, x_positions
from sim.report.styles import (
    MARKERS,
    axis_label,
    pattern_line,
    pattern_style,
    percent,
    semantics_colour,
    systems_of,
)
from sim.study.files import KEYS
from sim.study.stats import t_interval


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
    semantics = SEMANTICS.order(s for s, _ in systems)
    patterns = PATTERNS.order(p for _, p in systems)
    handles: list[Any] = [Patch(facecolor=semantics_colour(s), label=s) for s in semantics]
    if len(patterns) > 1 or lines or points:
        for p in patterns:
            if points:
                handles.append(
                    Line2D(
                        [],
                        [],
                        color="black",
                        marker=pattern_style(p).marker,
                        linestyle="none",
                        label=p,
                    )
                )
            elif lines:
                handles.append(Line2D([], [], color="black", linestyle=pattern_line(p), label=p))
            else:
                handles.append(
                    Patch(
                        facecolor="white", edgecolor="black", hatch=pattern_style(p).hatch, label=p
                    )
                )
    if isinstance(ax, Figure):  # beside the panels (needs the constrained layout)
        ax.legend(handles=handles, loc="outside right upper", frameon=False, **where)
    else:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **where
        )


# --- bars ---------------------------------------------------------------------------------------


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
    ax.set_xticklabels([p for _, p in systems], fontsize=7 if len(systems) <= 6 else 6)
    ax.set_xlim(min(positions.values()) - 0.8, max(positions.values()) + 0.8)
    below = ax.get_xaxis_transform()
    for semantics in dict.fromkeys(s for s, _ in systems):
        xs = [positions[k] for k in systems if k[0] == semantics]
        ax.text(
            sum(xs) / len(xs),
            -0.09,
            _two_lines(semantics),
            transform=below,
            ha="center",
            va="top",
            fontsize=9,
            fontweight="bold",
            color=semantics_colour(semantics),
        )


def _two_lines(name: str) -> str:
    """A long name broken after its middle hyphen, so that neighbouring labels keep apart."""
    if len(name) <= 13 or "-" not in name:
        return name
    middle = min((i for i, c in enumerate(name) if c == "-"), key=lambda i: abs(i - len(name) / 2))
    return f"{name[: middle + 1]}\n{name[middle + 1 :]}"


def rate_bars(
    summary: pd.DataFrame,
    figure: str = "loss_rate",
    ax: Axes | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Axes:
    """Mean of ``figure`` per semantics and pattern, with its 95% interval as error bars.

    ``summary`` should hold one point per system (slice a sweep with :func:`at_point`)."""
    ax = axes_for(ax)
    rows = _group(summary[summary["figure"] == figure], group)
    systems = systems_of(rows)
    positions = _bar_positions(systems)
    scale = 100.0 if percent(figure) else 1.0
    for s, p in systems:
        row = rows[(rows["semantics"] == s) & (rows["pattern"] == p)].iloc[0]
        mean = row["mean"] * scale
        low, high = row["ci_low"] * scale, row["ci_high"] * scale
        err = None if np.isnan(low) else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
        ax.bar(
            positions[(s, p)],
            mean,
            width=0.9,
            color=semantics_colour(s),
            hatch=pattern_style(p).hatch,
            edgecolor="white" if not pattern_style(p).hatch else "black",
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
    ax.set_ylabel(axis_label(figure))
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
    ax = axes_for(ax)
    rows = _group(summary, group)
    systems = systems_of(rows)
    positions = _bar_positions(systems)
    eligible = dict(_means(rows, "eligible"))
    bottoms = dict.fromkeys(systems, 0.0)
    causes = LOSS_CAUSES if kind == "lost" else DUP_CAUSES
    drawn = []
    for cause in causes:
        colour = cause.style.colour
        means = _means(rows, cause.column)
        heights = {
            k: 100.0 * means.get(k, 0.0) / eligible[k] if eligible.get(k) else 0.0 for k in systems
        }
        if not any(heights.values()):
            continue
        drawn.append(Patch(facecolor=colour, label=cause.label))
        for k in systems:
            ax.bar(
                positions[k],
                heights[k],
                bottom=bottoms[k],
                width=0.9,
                color=colour,
                hatch=pattern_style(k[1]).hatch,
                edgecolor="black" if pattern_style(k[1]).hatch else "white",
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
    ax = axes_for(ax)
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
            color=semantics_colour(s),
            hatch=pattern_style(p).hatch,
            edgecolor="black" if pattern_style(p).hatch else "white",
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
    ax = axes_for(ax)
    rows = _group(latency[latency["kind"] == kind], group)
    systems = systems_of(rows)
    immediate: list[str] = []
    drawn: dict[tuple[str, str], np.ndarray] = {}
    notes: list[str] = []
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
        ax.plot(
            seconds[keep],
            q[keep],
            color=semantics_colour(s),
            linestyle=pattern_line(p),
            linewidth=1.5,
        )
        for name, level in (("p50", 0.5), ("p99", 0.99)):
            at = float(np.interp(level, q, seconds))
            if at > 0:
                ax.plot(
                    [at],
                    [level],
                    marker=MARKERS[name],
                    color=semantics_colour(s),
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
    ax = axes_for(ax)
    rows = _group(summary[summary["figure"] == figure], group)
    values, numeric, where = x_positions(rows[x])
    scale = 100.0 if percent(figure) else 1.0
    systems = systems_of(rows)
    for k, (s, p) in enumerate(systems):
        mine = rows[(rows["semantics"] == s) & (rows["pattern"] == p)]
        mine = mine.assign(_x=mine[x].map(where)).sort_values("_x")
        xs = mine["_x"].to_numpy(float)
        mean = (mine["mean"] * scale).to_numpy(float)
        low, high = mine["ci_low"] * scale, mine["ci_high"] * scale
        if numeric:
            ax.plot(
                xs,
                mean,
                color=semantics_colour(s),
                linestyle=pattern_line(p),
                marker=".",
                linewidth=1.5,
            )
            if low.notna().all():
                ax.fill_between(xs, low, high, color=semantics_colour(s), alpha=0.12, linewidth=0)
            continue
        offset = (k - (len(systems) - 1) / 2) * 0.5 / max(1, len(systems))
        err = np.vstack([mean - low.to_numpy(float), high.to_numpy(float) - mean])
        ax.errorbar(
            xs + offset,
            mean,
            yerr=np.nan_to_num(np.maximum(err, 0.0)),
            fmt=pattern_style(p).marker,
            color=semantics_colour(s),
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
    ax.set_ylabel(axis_label(figure))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


# --- one replication over time ---------------------------------------------------------------


def shade_faults(faults: pd.DataFrame, ax: Axes, label: bool = True) -> Axes:
    """Shade every fault window (and name its target once, at the top)."""
    named: set[str] = set()
    for target, kind, start, end in windows(faults):
        ax.axvspan(start, end, color="0.5", alpha=0.2, linewidth=0)
        name = f"{target} {kind}"
        if label and name not in named:
            named.add(name)
            ax.annotate(
                name,
                (start, 1.0),
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
    ax = axes_for(ax)
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
    ax = axes_for(ax)
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
    ax = axes_for(ax)
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


# --- slicing a sweep ------------------------------------------------------------------------


def sweep_columns(table: pd.DataFrame) -> list[str]:
    """The swept columns of a result table (between the system keys and ``group``, or
    ``approach`` in an architecture comparison)."""
    columns = list(table.columns)
    for key in ("group", "approach"):
        if key in columns:
            return columns[len(KEYS) : columns.index(key)]
    return []


SYSTEM_KEYS = ("delivery.semantics", "delivery.pattern")
"""Swept keys that are a system's identity (they have columns of their own), not a point."""


def at_point(
    table: pd.DataFrame, sweep: Sequence[str], choose: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, str]:
    """Rows at one value of every swept column other than semantics and pattern (by default
    the last value, the harshest in a rising sweep), and words that say which."""
    chosen = dict(choose or {})
    for column in sweep:
        if column in SYSTEM_KEYS or column in chosen:
            continue
        values = list(dict.fromkeys(table[column]))
        if values:
            chosen[column] = values[-1]
    rows = table
    for column, value in chosen.items():
        rows = rows[rows[column] == value]
    words = ", ".join(f"{k} = {v}" for k, v in chosen.items())
    return rows, (f" (at {words})" if words else "")
