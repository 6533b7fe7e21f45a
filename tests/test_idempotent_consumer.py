"""The idempotent consumer (at-least-once delivery, deduplicated by the message's own id in
the consumer's processed-id store) against closed forms, with tolerances of 4 standard errors
from the sample size."""

from __future__ import annotations

import math

from tests.conftest import const, run_one, scenario, within

BASE = {
    "duration": 100.0,
    "drain": 20.0,
    "workload": {"rate": 200.0},
    "broker": {"prefetch": 10},
    "consumers": [{"name": "c", "service_time": {"dist": "exponential", "mean": 0.001}}],
}


def base(**extra):
    from tests.conftest import merge

    return scenario(**merge(BASE, extra))


def test_lost_publish_acks_store_q_over_1_minus_q_copies_and_apply_none_twice(
    pattern: str,
) -> None:
    """Under publish-ack loss q the producer resends until an ack comes back: stored copies
    per message are geometric, K - 1 of mean q/(1-q) and variance q/(1-q)^2. The broker has no
    idempotency id to recognise them; the consumer's store skips every extra copy."""
    q = 0.1
    row = run_one(
        base(
            delivery={"semantics": "idempotent-consumer", "pattern": pattern},
            network={"publish_ack": {"loss": q}},
        )
    )
    n = row["produced"]
    within(row["broker_dup_rate"], q / (1 - q), math.sqrt(q / (1 - q) ** 2 / n))
    assert row["broker_deduplicated"] == 0  # no idempotency id: the broker stores every copy
    assert row["duplicates"] == 0
    assert row["consumer_deduplicated"] == row["broker_duplicates"] > 0
    assert row["lost"] == 0 and row["pending"] == 0


def test_without_atomic_dedup_a_crash_after_process_duplicates_c_over_1_minus_c() -> None:
    """A crash after the effect and before its id is written (probability c per delivery)
    leaves the effect without the id: the redelivered copy is applied again, and so on, a
    geometric number of extra applications of mean c/(1-c). Written in one transaction, none."""
    c = 0.05
    settings = dict(
        workload={"rate": 40.0},
        broker={"prefetch": 1},
        consumers=[
            {
                "name": "c",
                "crash_after_process": c,
                "restart_time": const(0.01),
                "service_time": {"dist": "exponential", "mean": 0.001},
            }
        ],
    )
    delivery = {"semantics": "idempotent-consumer", "pattern": "pubsub", "ack_timeout": 0.05}
    atomic = run_one(base(delivery={**delivery, "atomic_dedup": True}, **settings))
    split = run_one(base(delivery={**delivery, "atomic_dedup": False}, **settings))
    assert atomic["duplicates"] == 0
    n = split["eligible"]
    within(split["dup_rate"], c / (1 - c), math.sqrt(c / (1 - c) ** 2 / n))
    assert split["dup_non_atomic_dedup"] == split["duplicates"]


def test_a_new_id_per_publish_attempt_defeats_the_consumer_store() -> None:
    """Under ``retry_new_id`` (Google Pub/Sub) a retried publish is a new message id: the
    consumer's store cannot recognise it, and every extra stored copy is applied."""
    q = 0.1
    row = run_one(
        base(
            delivery={"semantics": "idempotent-consumer", "retry_new_id": True},
            network={"publish_ack": {"loss": q}},
        )
    )
    n = row["produced"]
    within(row["dup_rate"], q / (1 - q), math.sqrt(q / (1 - q) ** 2 / n))
    assert row["duplicates"] == row["broker_duplicates"]
