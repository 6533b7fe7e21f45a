"""Every duplicate has exactly one cause: each failure alone produces duplicates of its own
cause and no other, and the causes always add up to the duplicates."""

from __future__ import annotations

import pytest

from sim.registry.causes import DUP_CAUSES
from tests.conftest import ALL_PATTERNS, const, run_one, scenario

BUSY = {
    "duration": 30.0,
    "drain": 20.0,
    "workload": {"rate": 100.0},
    "broker": {"prefetch": 10},
    "consumers": [
        {
            "name": "c",
            "service_time": {"dist": "exponential", "mean": 0.002},
            "restart_time": const(0.05),
        }
    ],
}


def only(row: dict, cause: str) -> None:
    """Duplicates exist, and all of them have ``cause``."""
    assert row["duplicates"] > 0
    others = {c.column: row[c.column] for c in DUP_CAUSES if c.column != f"dup_{cause}"}
    assert row[f"dup_{cause}"] == row["duplicates"], others
    assert sum(row[c.column] for c in DUP_CAUSES) == row["duplicates"]


def with_(**extra):
    from tests.conftest import merge

    return scenario(**merge(BUSY, extra))


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_lost_publish_acks(pattern: str) -> None:
    only(
        run_one(with_(delivery={"pattern": pattern}, network={"publish_ack": {"loss": 0.1}})),
        "publish_ack_lost",
    )


def test_retries_before_a_slow_ack() -> None:
    slow = {"dist": "lognormal", "median": 0.004, "sigma": 1.2}
    only(
        run_one(with_(broker={"service_time": slow, "servers": 4}, delivery={"ack_timeout": 0.01})),
        "premature_retry",
    )


def test_a_restarted_producer_resends_its_durable_outbox() -> None:
    row = run_one(
        with_(
            delivery={"outbox": "durable", "ack_timeout": 1.0},
            faults=[{"target": "producer", "mtbf": 2.0, "mttr": 0.1}],
        )
    )
    only(row, "producer_restart")


def test_broker_duplicates_after_the_dedup_window_are_caught_by_the_consumer() -> None:
    """With a dedup window of 0 every retry is stored again; the processed-id store, written
    with the effect, applies none of the extra copies."""
    row = run_one(
        with_(
            delivery={
                "semantics": "exactly-once",
                "dedup_window": 0.0,
                "atomic_dedup": True,
                "pattern": "pubsub",
            },
            network={"publish_ack": {"loss": 0.1}},
            consumers=[{"name": "c", "instances": 2}],
        )
    )
    assert row["broker_duplicates"] > 0 and row["broker_deduplicated"] == 0
    assert row["duplicates"] == 0 and row["consumer_deduplicated"] > 0


def test_a_retry_after_the_dedup_window_applied_again_has_that_cause() -> None:
    """An extra stored copy (the window of 0 let the retry in) that reaches the consumer after
    a crash fell between its two writes (non-atomic dedup) is applied again: a duplicate whose
    cause is the expired window, since a second stored copy came in. A redelivery of the same
    copy after such a crash is a non-atomic-dedup duplicate; nothing else duplicates here."""
    row = run_one(
        with_(
            delivery={
                "semantics": "exactly-once",
                "dedup_window": 0.0,
                "atomic_dedup": False,
                "pattern": "pubsub",
                "ack_timeout": 0.05,
            },
            network={"publish_ack": {"loss": 0.3}},
            consumers=[{"name": "c", "crash_after_process": 0.05, "restart_time": const(0.05)}],
        )
    )
    assert row["dup_dedup_window_expired"] > 0
    assert row["dup_dedup_window_expired"] + row["dup_non_atomic_dedup"] == row["duplicates"]


def test_a_publish_duplicated_by_the_network() -> None:
    only(
        run_one(
            with_(
                delivery={"semantics": "at-most-once"}, network={"publish": {"duplication": 0.05}}
            )
        ),
        "network_duplication",
    )


def test_a_pushed_copy_duplicated_by_the_network() -> None:
    only(
        run_one(with_(delivery={"pattern": "pubsub"}, network={"deliver": {"duplication": 0.05}})),
        "network_duplication",
    )


def test_lost_consume_acks_in_pubsub() -> None:
    only(
        run_one(with_(delivery={"pattern": "pubsub"}, network={"consume_ack": {"loss": 0.05}})),
        "consume_ack_lost",
    )


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_a_crash_after_processing(pattern: str) -> None:
    row = run_one(
        with_(
            delivery={"pattern": pattern, "ack_timeout": 0.5},
            consumers=[
                {
                    "name": "c",
                    "crash_after_process": 0.01,
                    "restart_time": const(0.5),
                    "service_time": {"dist": "exponential", "mean": 0.002},
                }
            ],
            broker={"prefetch": 1},
        )
    )
    if pattern == "pubsub":
        only(row, "crash_after_process")
    else:  # a crash rewinds to the last commit: the crashed record and any whose commit
        # was still on its way
        assert row["dup_crash_after_process"] > 0
        assert row["dup_crash_after_process"] + row["dup_consumer_crash"] == row["duplicates"]


def test_an_ack_deadline_shorter_than_the_work() -> None:
    row = run_one(
        with_(
            delivery={"pattern": "pubsub", "ack_deadline": 0.01},
            consumers=[{"name": "c", "service_time": {"dist": "exponential", "mean": 0.004}}],
        )
    )
    only(row, "ack_deadline")


def test_exactly_once_without_atomic_dedup() -> None:
    row = run_one(
        with_(
            delivery={
                "semantics": "exactly-once",
                "atomic_dedup": False,
                "pattern": "pubsub",
                "ack_timeout": 0.5,
            },
            consumers=[{"name": "c", "crash_after_process": 0.01, "restart_time": const(0.05)}],
        )
    )
    only(row, "non_atomic_dedup")


def test_a_broker_restart_redelivers_what_was_unacked() -> None:
    row = run_one(
        with_(
            delivery={"pattern": "pubsub", "ack_deadline": 5.0},
            consumers=[{"name": "c", "service_time": {"dist": "exponential", "mean": 0.008}}],
            broker={"prefetch": 50},
            faults=[{"target": "broker", "mtbf": 3.0, "mttr": 0.1}],
        )
    )
    only(row, "broker_crash")


def test_exactly_once_keeps_effects_single_whatever_goes_wrong() -> None:
    row = run_one(
        with_(
            delivery={"semantics": "exactly-once", "pattern": "pubsub"},
            network={"loss": 0.05, "duplication": 0.05},
            consumers=[{"name": "c", "crash_after_process": 0.01, "restart_time": const(0.05)}],
        )
    )
    assert row["duplicates"] == 0
    assert all(row[c.column] == 0 for c in DUP_CAUSES)
