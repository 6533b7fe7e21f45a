"""The calibration chart: observed beside predicted, with 95% intervals, one panel per
figure (``charts/calibration.png`` of ``dsim calibrate``).

Each panel shows, per consumer group, the real broker's mean (left) and the simulator's
(right) with their intervals; a panel whose figure disagreed has a red title.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from sim.report.styles import axis_label, percent
from sim.study.files import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

COLUMNS = 4
"""Panels per row."""


def calibration_figure(table: pd.DataFrame) -> Figure:
    """The chart of a ``calibration.csv`` table."""
    from matplotlib.figure import Figure

    figures = list(dict.fromkeys(table["figure"]))
    groups = list(dict.fromkeys(table["group"]))
    rows = math.ceil(len(figures) / COLUMNS)
    fig = Figure(figsize=(3.2 * COLUMNS, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, COLUMNS, squeeze=False)
    for ax, name in zip(axes.flat, figures, strict=False):
        mine = table[table["figure"] == name]
        scale = 100.0 if percent(name) else 1.0
        for k, group in enumerate(groups):
            row = mine[mine["group"] == group].iloc[0]
            for side, (x, colour) in enumerate(((k - 0.15, "#333333"), (k + 0.15, "#1f77b4"))):
                prefix = ("observed", "predicted")[side]
                mean = float(row[f"{prefix}_mean"]) * scale
                low = float(row[f"{prefix}_low"]) * scale
                high = float(row[f"{prefix}_high"]) * scale
                err = [[mean - low], [high - mean]] if not math.isnan(low) else None
                label = ("real broker", "simulator")[side] if k == 0 else None
                ax.errorbar([x], [mean], yerr=err, fmt="o", color=colour, capsize=3, label=label)
        agree = bool(mine["agree"].astype(bool).all())
        decided = str(mine["decided_by"].iloc[0])
        title = axis_label(name)
        verdict = "" if agree else ", disagrees"
        colour = "black" if agree else "#d62728"
        ax.set_title(f"{title}\n({decided}{verdict})", fontsize=8, color=colour)
        ax.set_xticks(range(len(groups)), groups, fontsize=7)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(figures) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle("observed on the real broker beside predicted by the simulator (95% intervals)")
    return fig


def draw_calibration(table: pd.DataFrame, folder: Path) -> Path:
    """Write ``folder/calibration.png``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "calibration.png"
    fig = calibration_figure(table)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
