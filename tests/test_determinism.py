"""Reproducibility and common random numbers (SPEC section 1: a run is fully determined by
its scenario and its seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import run, simulate
from sim.engine.streams import replication_seeds
from tests.conftest import ALL_PATTERNS, ALL_SEMANTICS, merge, scenario

NOISY = {
    "duration": 10.0,
    "drain": 5.0,
    "replications": 3,
    "workload": {"rate": 50.0},
    "network": {
        "loss": 0.05,
        "duplication": 0.02,
        "latency": {"dist": "exponential", "mean": 0.002},
    },
    "consumers": [
        {
            "name": "a",
            "crash_before_process": 0.02,
            "crash_after_process": 0.02,
            "restart_time": {"dist": "exponential", "mean": 0.05},
        }
    ],
    "faults": [
        {"target": "broker", "mtbf": 3.0, "mttr": 0.2},
        {"target": "link:deliver", "kind": "partition", "mtbf": 4.0, "mttr": 0.1},
    ],
}


def noisy(**extra):
    return scenario(**merge(NOISY, extra))


def test_the_same_seed_gives_identical_results() -> None:
    a, b = run(noisy(), seed=5), run(noisy(), seed=5)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.faults, b.faults)


def test_another_seed_and_each_replication_differ() -> None:
    a, b = run(noisy(), seed=5), run(noisy(), seed=6)
    assert not a.runs["produced"].equals(b.runs["produced"])
    assert a.runs["seed"].nunique() == 3  # replications draw from independent streams
    assert a.runs["produced"].nunique() > 1


def test_a_replication_keeps_its_seed_whatever_the_number_of_replications() -> None:
    assert replication_seeds(7, 5)[:2] == replication_seeds(7, 2)
    few, more = run(noisy(), replications=2), run(noisy(), replications=4)
    pd.testing.assert_frame_equal(few.runs, more.runs.iloc[: len(few.runs)])


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_semantics_compared_on_one_seed_see_the_same_arrivals_and_fault_windows(
    pattern: str,
) -> None:
    results = {
        sem: simulate(noisy(delivery={"semantics": sem, "pattern": pattern}), 12)
        for sem in ALL_SEMANTICS
    }
    created = [r.facts.created for r in results.values()]
    windows = [r.windows for r in results.values()]
    assert {w.target for w in windows[0]} == {"broker", "link:deliver"}
    for other_created, other_windows in zip(created[1:], windows[1:], strict=True):
        np.testing.assert_array_equal(created[0], other_created)
        assert other_windows == windows[0]


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_adding_a_consumer_group_changes_nothing_for_the_others(pattern: str) -> None:
    """Each random source has its own stream, keyed by name: a new group draws from new
    streams and leaves every draw of the existing group where it was."""
    settings = dict(delivery={"pattern": pattern}, faults=[])
    alone = simulate(noisy(**settings), 3)
    second = {"name": "b", "crash_after_process": 0.1}
    together = simulate(noisy(consumers=[*NOISY["consumers"], second], **settings), 3)
    assert alone.rows[0] == together.rows[0] | {k: alone.rows[0][k] for k in ("wire_messages",)}
    np.testing.assert_array_equal(alone.facts.created, together.facts.created)
    for key in ("first_effect", "effects"):
        np.testing.assert_array_equal(
            getattr(alone.facts.groups[0], key), getattr(together.facts.groups[0], key)
        )
