"""Charts of an architecture comparison (SPEC section 3): the approaches side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.report.canvas import axes_for, x_positions
from sim.report.styles import (
    approach_line,
    approach_style,
    approaches_of,
    axis_label,
    percent,
)


def approach_bars(
    summary: pd.DataFrame, figure: str, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """One bar per approach (its colour), with the 95% interval."""
    ax = axes_for(ax)
    rows = summary[summary["figure"] == figure]
    present = approaches_of(rows["approach"])
    scale = 100.0 if percent(figure, architecture=True) else 1.0
    for x, approach in enumerate(present):
        row = rows[rows["approach"] == approach].iloc[0]
        mean, low, high = (row[c] * scale for c in ("mean", "ci_low", "ci_high"))
        err = None if np.isnan(low) else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
        ax.bar(
            x,
            0.0 if np.isnan(mean) else mean,
            width=0.7,
            color=approach_style(approach).colour,
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
    ax.set_ylabel(axis_label(figure, architecture=True))
    ax.set_ylim(bottom=0)
    ax.margins(y=0.15)
    if title:
        ax.set_title(title)
    return ax


def approach_curve(
    summary: pd.DataFrame, x: str, figure: str, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """``figure`` against the swept value ``x``, one line per approach, 95% band."""
    ax = axes_for(ax)
    rows = summary[summary["figure"] == figure]
    values, numeric, where = x_positions(rows[x])
    scale = 100.0 if percent(figure, architecture=True) else 1.0
    for approach in approaches_of(rows["approach"]):
        mine = rows[rows["approach"] == approach]
        mine = mine.assign(_x=mine[x].map(where)).sort_values("_x")
        xs = mine["_x"].to_numpy(float)
        ax.plot(
            xs,
            mine["mean"] * scale,
            color=approach_style(approach).colour,
            marker=".",
            linestyle=approach_line(approach),
            linewidth=1.8,
            label=approach,
        )
        low, high = mine["ci_low"] * scale, mine["ci_high"] * scale
        if low.notna().all():
            ax.fill_between(
                xs, low, high, color=approach_style(approach).colour, alpha=0.15, linewidth=0
            )
    if not numeric:
        ax.set_xticks(list(where.values()))
        ax.set_xticklabels([str(v) for v in values])
    ax.set_xlabel(x)
    ax.set_ylabel(axis_label(figure, architecture=True))
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
    ax = axes_for(ax)
    rows = latency[latency["kind"] == kind]
    for approach in approaches_of(rows["approach"]):
        mine = rows[rows["approach"] == approach].sort_values("quantile")
        keep = mine["seconds"] > 0
        ax.plot(
            mine["seconds"][keep],
            mine["quantile"][keep],
            color=approach_style(approach).colour,
            linestyle=approach_line(approach),
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


def approach_legend(fig: Figure, approaches: Sequence[str], lines: bool = False) -> None:
    """One legend entry per approach, beside the panels (a line per approach with ``lines``)."""
    if lines:
        handles: list[Any] = [
            Line2D(
                [],
                [],
                color=approach_style(a).colour,
                linewidth=1.8,
                linestyle=approach_line(a),
                label=a,
            )
            for a in approaches
        ]
    else:
        handles = [Patch(facecolor=approach_style(a).colour, label=a) for a in approaches]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
