"""What every chart function shares: an Axes to draw on, and where swept values go."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def axes_for(ax: Axes | None) -> Axes:
    """``ax``, or the Axes of a new figure (a chart drawn on its own, in a notebook)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.5), layout="constrained")[1]


def x_positions(column: pd.Series) -> tuple[list[Any], bool, dict[Any, float]]:
    """Swept values in order, whether they are numbers, and where each goes on the x axis
    (its value, or its rank when the values are labels)."""
    values = list(dict.fromkeys(column))
    numeric = all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
    )
    return values, numeric, {v: (float(v) if numeric else i) for i, v in enumerate(values)}


def windows(faults: pd.DataFrame) -> list[tuple[str, str, float, float]]:
    """The fault windows of a ``faults`` table as (target, kind, start, end)."""
    return [
        (str(target), str(kind), float(start), float(end))
        for target, kind, start, end in zip(
            faults["target"], faults["kind"], faults["start"], faults["end"], strict=True
        )
    ]
