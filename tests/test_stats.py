"""The replication summary: mean, sd and a t-based 95% interval that handles small n."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.study.stats import summarize, t_interval


def test_the_interval_is_the_student_t_interval() -> None:
    x = [1.0, 2.0, 4.0, 7.0]
    mean, sd, low, high, n = t_interval(x)
    half = stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2
    assert (mean, n) == (3.5, 4)
    assert sd == pytest.approx(np.std(x, ddof=1))
    assert (low, high) == pytest.approx((3.5 - half, 3.5 + half))


def test_two_replications_give_a_wide_but_valid_interval() -> None:
    mean, sd, low, high, n = t_interval([1.0, 3.0])
    assert n == 2 and mean == 2.0 and sd == pytest.approx(math.sqrt(2))
    # one degree of freedom: the 97.5% t quantile is 12.7, an interval of +-12.7 sd / sqrt(2)
    assert high - low == pytest.approx(2 * stats.t.ppf(0.975, 1) * sd / math.sqrt(2))


def test_one_replication_has_no_interval() -> None:
    mean, sd, low, high, n = t_interval([5.0])
    assert (mean, n) == (5.0, 1)
    assert math.isnan(sd) and math.isnan(low) and math.isnan(high)


def test_zero_variance_collapses_the_interval_onto_the_mean() -> None:
    assert t_interval([0.25, 0.25, 0.25]) == (0.25, 0.0, 0.25, 0.25, 3)


def test_undefined_values_are_left_out_of_n() -> None:
    mean, _, _, _, n = t_interval([1.0, float("nan"), 3.0])
    assert (mean, n) == (2.0, 2)
    assert t_interval([float("nan")])[4] == 0


def test_summarize_matches_t_interval_and_keeps_undefined_figures() -> None:
    runs = pd.DataFrame(
        {
            "group": ["a"] * 3 + ["b"] * 3,
            "x": [1.0, 2.0, 6.0, 2.0, 2.0, 2.0],
            "y": [float("nan")] * 3 + [1.0, float("nan"), 2.0],
        }
    )
    table = summarize(runs, ["group"], ["x", "y"])
    assert list(table.columns) == ["group", "figure", "n", "mean", "sd", "ci_low", "ci_high"]
    row = table[(table.group == "a") & (table.figure == "x")].iloc[0]
    expected = t_interval([1.0, 2.0, 6.0])
    assert (row["mean"], row["sd"], row["ci_low"], row["ci_high"], row["n"]) == pytest.approx(
        expected
    )
    flat = table[(table.group == "b") & (table.figure == "x")].iloc[0]
    assert (flat["ci_low"], flat["ci_high"]) == (2.0, 2.0)
    undefined = table[(table.group == "a") & (table.figure == "y")].iloc[0]
    assert undefined["n"] == 0 and math.isnan(undefined["mean"])
    two = table[(table.group == "b") & (table.figure == "y")].iloc[0]
    assert two["n"] == 2 and two["ci_low"] < 1.0 and two["ci_high"] > 2.0
