"""Sequence diagrams (``dsim explain --diagram``): what happened to messages, lane by lane."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from sim.report.canvas import axes_for, windows

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
    ax = axes_for(ax)
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
    for component, time in zip(crashes["component"], crashes["time"], strict=True):
        where = x[str(component)]
        ax.plot(
            [where],
            [float(time)],
            marker="X",
            color="#d62728",
            markersize=11,
            linestyle="none",
            zorder=5,
        )
        ax.annotate(
            "crash",
            (where, float(time)),
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
    for target, kind, start, end in windows(faults):
        hit = [x for name, x in lanes.items() if name == target or name.startswith(f"{target}:")]
        spans = [(x - 0.35, x + 0.35) for x in hit] or [(-0.5, len(lanes) - 0.5)]
        for left, right in spans:
            ax.fill_betweenx([start, end], left, right, color="0.5", alpha=0.18, linewidth=0)
        ax.annotate(
            f"{target} {kind}",
            (spans[-1][1], start),
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
    for i, (_, row) in enumerate(events.iterrows()):  # ``events`` has a 0..n-1 index
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
