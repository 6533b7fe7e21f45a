"""Delivery limits, dead-letter queues, poison messages, periodic commits and consumer-group
rebalancing (issue 15) against closed forms and exact event sequences.

Tolerances are 4 standard errors of the estimate, computed from the sample size and the
theoretical variance (as in tests/test_theory.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import run, simulate
from tests.conftest import check_invariants, const, merge, run_one, scenario, within

# Few enough messages per second that every pattern keeps up with the retries: a lost copy
# costs an ack deadline (or a fetch timeout) of 50 ms.
LIMITED = {
    "duration": 200.0,
    "drain": 20.0,
    "workload": {"rate": 20.0},
    "delivery": {"ack_timeout": 0.05},
    "broker": {"prefetch": 1},
    "consumers": [{"name": "c", "service_time": {"dist": "exponential", "mean": 0.001}}],
}


def limited(**extra):
    return scenario(**merge(LIMITED, extra))


def test_a_delivery_limit_without_a_dead_letter_queue_loses_c_to_the_k(pattern: str) -> None:
    """Every delivery is lost with probability c; after k of them the copy is dropped."""
    c, k = 0.3, 2
    row = run_one(
        limited(
            delivery={"pattern": pattern, "max_deliveries": k}, network={"deliver": {"loss": c}}
        )
    )
    n, p = row["eligible"], c**k
    assert row["pending"] == 0
    within(row["loss_rate"], p, math.sqrt(p * (1 - p) / n))
    assert row["lost"] == row["lost_delivery_limit"]
    assert row["dead_lettered"] == 0


def test_poison_messages_are_dead_lettered_and_the_rest_delivered(pattern: str) -> None:
    f, k = 0.05, 3
    row = run_one(
        limited(
            workload={"rate": 100.0, "poison": f},
            duration=100.0,
            delivery={"pattern": pattern, "max_deliveries": k, "dead_letter": True},
        )
    )
    n = row["eligible"]
    within(row["dead_lettered"] / n, f, math.sqrt(f * (1 - f) / n))
    assert row["delivered"] + row["dead_lettered"] == n
    assert row["lost"] == 0 and row["pending"] == 0
    assert row["dead_lettered_after_apply"] == 0 and row["duplicates"] == 0


def test_poison_without_a_limit_blocks_a_streaming_partition_and_loops_in_pubsub() -> None:
    """Head-of-line blocking: the records behind the poison one in its partition wait. In
    pub/sub a nacked copy goes back to the front of the queue: with a prefetch of 1 it blocks
    its subscription too; with more, only the poison copies circulate."""
    s = limited(duration=10.0, drain=5.0, workload={"rate": 100.0, "poison": 0.01})
    streaming = run_one(s.with_values({"delivery.pattern": "streaming"}))
    assert streaming["pending"] > streaming["eligible"] / 2  # one partition, blocked
    pubsub = run_one(s.with_values({"delivery.pattern": "pubsub", "broker.prefetch": 20}))
    assert 0 < pubsub["pending"] < pubsub["eligible"] / 10  # only the poison ones circulate
    for row in (streaming, pubsub):
        assert row["lost"] == 0 and row["dead_lettered"] == 0


def test_poison_under_at_most_once_is_lost_with_its_own_cause(pattern: str) -> None:
    row = run_one(
        limited(
            workload={"rate": 100.0, "poison": 0.05},
            delivery={"pattern": pattern, "semantics": "at-most-once", "max_deliveries": 3},
        )
    )
    assert row["lost"] == row["lost_poison"] > 0
    assert row["pending"] == 0 and row["dead_lettered"] == 0


def test_consume_ack_loss_dead_letters_r_to_the_k_after_applying_them() -> None:
    """Pub/sub: each of k deliveries is applied and its ack lost with probability r; the copy
    then moves to the dead-letter queue with its effect applied: delivered, not dead-lettered."""
    r, k = 0.3, 2
    row = run_one(
        limited(
            delivery={"pattern": "pubsub", "max_deliveries": k, "dead_letter": True},
            network={"consume_ack": {"loss": r}},
        )
    )
    n, p = row["eligible"], r**k
    assert row["delivered"] == n
    assert row["dead_lettered"] == 0 and row["lost"] == 0 and row["pending"] == 0
    within(row["dead_lettered_after_apply"] / n, p, math.sqrt(p * (1 - p) / n))


def test_exactly_once_with_a_dead_letter_queue_never_applies_an_effect_twice(pattern: str) -> None:
    """Redeliveries up to the limit (lost acks, crashes after processing, poison) meet the
    processed-id store: every effect once, and what the limit ends is dead-lettered."""
    row = run_one(
        limited(
            workload={"rate": 20.0, "poison": 0.05},
            delivery={
                "semantics": "exactly-once",
                "pattern": pattern,
                "max_deliveries": 2,
                "dead_letter": True,
            },
            network={"consume_ack": {"loss": 0.3}, "publish_ack": {"loss": 0.1}},
            consumers=[
                {
                    "name": "c",
                    "service_time": const(0.001),
                    "crash_after_process": 0.05,
                    "restart_time": const(0.05),
                    "commit_interval": 0.5,
                }
            ],
        )
    )
    assert row["duplicates"] == 0 and row["consumer_deduplicated"] > 0
    assert row["dead_lettered"] > 0 and row["lost"] == 0 and row["pending"] == 0


def test_periodic_commits_replay_half_an_interval_of_records_per_crash() -> None:
    """Constant arrivals at l per second on one partition, commits every T, crashes at random
    times (mean time between them much longer than T): a crash replays l * U * T records,
    U uniform in [0, 1), so l * T / 2 on average with variance (l * T)^2 / 12."""
    rate, interval = 100.0, 0.2
    study = run(
        scenario(
            duration=300.0,
            drain=10.0,
            replications=5,
            workload={"arrival": "constant", "rate": rate},
            consumers=[
                {
                    "name": "c",
                    "service_time": const(0.001),
                    "commit_interval": interval,
                    "mtbf": 10.0,
                    "mttr": 0.02,
                }
            ],
        )
    )
    runs = study.runs
    crashes = int(runs["consumer_crashes"].sum())
    per_crash = runs["duplicates"].sum() / crashes
    within(per_crash, rate * interval / 2, rate * interval / math.sqrt(12 * crashes))
    assert runs["duplicates"].sum() == runs["dup_consumer_crash"].sum()
    assert (runs["lost"] == 0).all()


def test_a_zero_commit_interval_commits_every_record() -> None:
    """The default: a time-based crash replays nothing (the commit follows each record)."""
    row = run_one(
        scenario(
            duration=50.0,
            workload={"arrival": "constant", "rate": 100.0},
            consumers=[{"name": "c", "service_time": const(0.001), "mtbf": 5.0, "mttr": 0.02}],
        )
    )
    assert row["consumer_crashes"] > 0
    assert row["duplicates"] <= row["consumer_crashes"]  # at most the commit in flight


# --- consumer-group rebalancing ----------------------------------------------------------------


def group(instances: int, outage: float = 60.0, **consumer):
    """Constant arrivals at 100/s, one partition per instance; instance 1 (or the only one)
    is down from 20.25 s for ``outage`` seconds."""
    target = "consumer:c:1" if instances > 1 else "consumer:c"
    return scenario(
        duration=120.0,
        drain=30.0,
        workload={"arrival": "constant", "rate": 100.0},
        consumers=[{"name": "c", "instances": instances, "service_time": const(0.001), **consumer}],
        faults=[{"target": target, "at": 20.25, "duration": outage}],
    )


def max_latency(result) -> float:
    facts, g = result.facts, result.facts.groups[0]
    return float((g.first_effect - facts.created)[g.delivered].max())


def test_with_one_instance_nothing_is_reassigned() -> None:
    waiting = simulate(group(1), 1)
    timed_out = simulate(group(1, session_timeout=5.0, rebalance_time=0.5), 1)
    assert [w.kind for w in timed_out.windows] == ["crash"]
    assert timed_out.rows == waiting.rows


def test_a_long_outage_stops_its_partitions_only_for_the_session_timeout() -> None:
    timeout, pause = 5.0, 0.5
    waiting = simulate(group(2), 1)
    assert max_latency(waiting) > 59.0  # the partition waited for its instance
    result = simulate(group(2, session_timeout=timeout, rebalance_time=pause), 1)
    for row in result.rows:
        check_invariants(row)
    catch_up = 0.1  # 5.5 s of one partition's records at 1 ms each, and the fetch
    assert max_latency(result) <= timeout + pause + catch_up
    rebalances = [w for w in result.windows if w.kind == "rebalance"]
    assert [(w.target, w.start, w.end) for w in rebalances] == [
        ("consumer:c", 25.25, 25.75),  # moved to instance 0
        ("consumer:c", 80.25, 80.75),  # and back when instance 1 returned
    ]
    row = result.rows[0]
    assert row["delivered"] == row["eligible"] and row["duplicates"] == 0


@pytest.mark.parametrize("interval", [0.4, 1.0, 2.0])
def test_duplicates_per_reassignment_follow_the_commit_interval(interval: float) -> None:
    """Commits every T from the join; the crash comes at 20.25 s, (20.25 mod T) after the
    last commit: what partition 1 processed since (50 records a second) is read again by
    instance 0, duplicates caused by the rebalance."""
    result = simulate(group(2, session_timeout=5.0, commit_interval=interval), 1)
    row = result.rows[0]
    check_invariants(row)
    since_commit = 20.25 % interval
    assert abs(row["dup_rebalance"] - 50 * since_commit) <= 1
    assert row["duplicates"] == row["dup_rebalance"]


def test_rebalance_windows_are_listed_with_the_faults() -> None:
    study = run(
        group(2, session_timeout=5.0, rebalance_time=0.5).model_copy(update={"replications": 1})
    )
    kinds = study.faults["kind"].tolist()
    assert kinds.count("rebalance") == 2 and kinds.count("crash") == 1


def test_defaults_leave_every_new_figure_at_zero(pattern: str) -> None:
    row = run_one(limited(delivery={"pattern": pattern}, network={"loss": 0.1}))
    for figure in ("dead_lettered", "dead_lettered_after_apply", "lost_delivery_limit"):
        assert row[figure] == 0
    assert row["dup_rebalance"] == 0 and row["lost_poison"] == 0
    assert not np.isnan(row["dead_lettered"])


@pytest.mark.parametrize(
    ("commit_loss", "crash_after", "restart", "pause"),
    [(0.05, 0.2, 0.234375, 0.1), (0.0, 0.05, 0.21875, 0.0)],
    ids=["commit-retried-after-a-move", "committed-records-kept-on-revoke"],
)
def test_at_most_once_rebalancing_inputs_hypothesis_found(
    commit_loss: float, crash_after: float, restart: float, pause: float
) -> None:
    """At-most-once commits before processing: a partition that moves in while a commit is
    being retried must not break it, and records a revoked instance holds are committed (it
    keeps them: dropped, they would be lost without a cause)."""
    run_one(
        scenario(
            duration=1.0,
            drain=0.0,
            workload={"rate": 18.0},
            delivery={"semantics": "at-most-once", "ack_timeout": 0.125},
            broker={"service_time": const(0.00390625), "prefetch": 1},
            network={"latency": const(0.0), "consume_ack": {"loss": commit_loss}},
            consumers=[
                {
                    "name": "g0",
                    "instances": 2,
                    "service_time": const(0.015625),
                    "crash_after_process": crash_after,
                    "restart_time": const(restart),
                    "session_timeout": 0.2,
                    "rebalance_time": pause,
                }
            ],
        ),
        seed=0,
    )
