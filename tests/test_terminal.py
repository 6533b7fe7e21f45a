"""The summary table ``dsim run`` prints: in a 100-column terminal at most 100 characters wide
and no row wrapped, latencies in the unit that suits each column, compact intervals, and keys
with one value (the group, the pattern) in the title."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from rich.console import Console

import sim
from sim.registry.semantics import SEMANTICS
from sim.report.numbers import compact, spread, time_unit
from sim.report.terminal import summary_table
from tests.conftest import scenario

SEMANTICS_NAMES = [s.name for s in SEMANTICS]


def lines(results: sim.Results, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(summary_table(results.summary, len(results.seeds), console.width))
    return console.export_text().splitlines()


@pytest.fixture(scope="module")
def study() -> sim.Results:
    """Every semantics, both patterns, two loss levels, two consumer groups: 32 rows."""
    base = scenario(
        duration=2.0,
        drain=2.0,
        workload={"rate": 30.0},
        network={"publish_ack": {"loss": 0.1}},
        consumers=[{"name": "billing", "crash_after_process": 0.05}, {"name": "analytics"}],
        faults=[{"target": "broker", "at": 1.0, "duration": 0.2}],
    )
    sweep = {
        "delivery.semantics": SEMANTICS_NAMES,
        "delivery.pattern": ["streaming", "pubsub"],
        "network.publish.loss": [0.0, 0.05],
    }
    return sim.sweep(base, sweep, replications=3, jobs=1)


def test_a_sweep_of_groups_and_semantics_fits_100_columns_one_line_a_row(
    study: sim.Results,
) -> None:
    shown = lines(study, 100)
    assert max(len(line) for line in shown) <= 100
    rows = [line for line in shown if line.split() and line.split()[0] in SEMANTICS_NAMES]
    assert len(rows) == len(SEMANTICS) * 2 * 2 * 2  # no row was wrapped onto a second line
    rule = next(i for i, line in enumerate(shown) if set(line.strip()) == {"─"})
    assert shown[rule + 1 :] == rows  # below the header, nothing but the rows
    header = " ".join(" ".join(shown[1:rule]).split())
    for word in ("semantics", "pattern", "group", "lost %", "dup %", "p99 ms"):
        assert word in header, header
    title = shown[0]
    assert title.startswith("test: mean ±95% CI over 3 replication(s)"), title
    for row in rows:
        assert "±" in row or row.split()[-1] == "0"  # compact intervals


def test_a_wider_terminal_shows_more_columns(study: sim.Results) -> None:
    narrow, wide = lines(study, 100), lines(study, 200)
    assert "eligible" not in " ".join(narrow[:3])
    assert "eligible" in " ".join(wide[:3])
    assert max(len(line) for line in wide) <= 200


def test_one_group_and_one_pattern_move_to_the_title() -> None:
    results = sim.run(
        scenario(duration=2.0, drain=1.0, consumers=[{"name": "billing"}]), replications=2
    )
    shown = lines(results, 100)
    assert shown[0].startswith("test, at-least-once, streaming, group billing: mean ±95% CI")
    assert "nothing pending" in shown[0]  # an all-zero column says so instead
    header = " ".join(shown[1:3])
    assert "group" not in header and "pending" not in header and "pattern" not in header


def test_pending_is_shown_when_it_is_not_zero() -> None:
    results = sim.run(
        scenario(duration=2.0, drain=0.0, network={"latency": {"dist": "constant", "value": 0.5}}),
        replications=2,
    )
    shown = lines(results, 100)
    assert "pending" in " ".join(shown[1:3]) and "nothing pending" not in shown[0]


def test_dead_letters_get_a_column_once_results_have_them(study: sim.Results) -> None:
    summary = study.summary[study.summary["figure"] != "dead_lettered"]
    extra = summary[summary["figure"] == "lost"].assign(
        figure="dead_lettered", mean=12.0, ci_low=10.0, ci_high=14.0
    )
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(summary_table(pd.concat([summary, extra]), 3, 100))
    shown = console.export_text().splitlines()
    assert max(len(line) for line in shown) <= 100
    assert "DLQ" in " ".join(shown[1:4]) or "dead-lettered" in " ".join(shown[1:4])
    assert "12±2" in shown[-1]


@pytest.mark.parametrize(
    "values, unit",
    [([0.0004, 0.0002], "µs"), ([0.86, 0.013], "ms"), ([9.9], "ms"), ([25.0, 3.0], "s")],
)
def test_each_latency_column_takes_the_unit_that_suits_it(values: list[float], unit: str) -> None:
    assert time_unit(values)[0] == unit


@pytest.mark.parametrize(
    "mean, low, high, scale, text",
    [
        (0.0337, 0.0313, 0.0361, 100.0, "3.4±0.2"),  # a half-width of 0.24: one digit
        (0.16, 0.148, 0.172, 100.0, "16.0±1.2"),  # its first digit a 1: two digits
        (2978.6, 2889.2, 3068.0, 1.0, "2979±89"),
        (0.000136, -0.0001, 0.00037, 100.0, "0.01±0.02"),
        (0.0, 0.0, 0.0, 100.0, "0"),  # no interval to speak of
        (0.0131, math.nan, math.nan, 1000.0, "13.1"),  # one replication: the mean alone
        (math.nan, math.nan, math.nan, 1.0, "–"),  # nothing delivered: no latency
    ],
)
def test_compact_intervals(mean: float, low: float, high: float, scale: float, text: str) -> None:
    assert compact(mean, low, high, scale) == text


def test_the_report_writes_an_interval_with_its_bounds() -> None:
    assert spread(0.0337, 0.0312, 0.0362, 100.0, "%") == "3.4% (3.1–3.6%)"
    assert spread(0.86, 0.77, 0.95, 1000.0, "ms") == "860 ms (770–950 ms)"
    assert spread(0.0, 0.0, 0.0, 100.0, "%") == "0%"
