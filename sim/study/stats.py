"""Summaries over replications: mean, standard deviation and a t-based 95% interval.

The interval is undefined for a single replication (reported as NaN, never as a zero-width
interval that would claim certainty); with zero variance it collapses onto the mean. Figures
that are undefined in a replication (a latency when nothing was delivered) are left out of
that figure's ``n`` (a figure undefined everywhere gets ``n = 0`` and NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

CONFIDENCE = 0.95


def t_quantile(p: float, df: Any) -> Any:
    """Student's t quantile ``p`` with ``df`` degrees of freedom (a number or an array).

    ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` computes, without importing the
    whole of ``scipy.stats`` (which would cost the command line a second at start).
    """
    from scipy.special import stdtrit

    return stdtrit(df, p)


def t_interval(
    values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float, float, float, int]:
    """(mean, sd, ci_low, ci_high, n) of the non-NaN ``values``."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return (np.nan, np.nan, np.nan, np.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return (mean, np.nan, np.nan, np.nan, 1)
    sd = float(x.std(ddof=1))
    half = float(t_quantile(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
    return (mean, sd, mean - half, mean + half, n)


def summarize(
    runs: pd.DataFrame, by: list[str], figures: list[str], confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """One row per group of ``by`` and figure: ``n, mean, sd, ci_low, ci_high`` (tidy)."""
    import pandas as pd

    long = runs.melt(id_vars=by, value_vars=figures, var_name="figure")
    long["figure"] = pd.Categorical(long["figure"], categories=figures, ordered=True)
    grouped = long.groupby([*by, "figure"], sort=False, observed=True)
    table = grouped["value"].agg(n="count", mean="mean", sd="std").reset_index()
    t = t_quantile(0.5 + confidence / 2, np.maximum(table["n"] - 1, 1))
    half = np.where(table["n"] >= 2, t * table["sd"].fillna(0.0) / np.sqrt(table["n"]), np.nan)
    table["sd"] = np.where(table["n"] >= 2, table["sd"], np.nan)
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    table["figure"] = table["figure"].astype(str)
    return table
