"""Exact event sequences on tiny scenarios with constant distributions.

Every link takes 10 ms, the broker serves a publish in 1 ms and the consumer applies an effect
in 5 ms, so each expected time below can be added up by hand from SPEC section 1.
"""

from __future__ import annotations

import math

import pytest

from sim import simulate
from tests.conftest import const, merge, run_one, scenario

LINK, BROKER, CONSUMER = 0.01, 0.001, 0.005
PUBLISHED = LINK + BROKER + LINK  # the producer sees the ack
APPLIED = LINK + BROKER + LINK + CONSUMER  # the effect is applied

TINY = {
    "duration": 1.0,
    "drain": 5.0,
    "workload": {"arrival": "constant", "rate": 1.0},  # one message, at t = 0
    "network": {"latency": const(LINK)},
    "broker": {"service_time": const(BROKER)},
    "delivery": {"backoff": {"kind": "constant", "base": 0.1, "jitter": False}},
    "consumers": [{"name": "c", "service_time": const(CONSUMER)}],
}


def tiny(**extra):
    return scenario(**merge(TINY, extra))


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


@pytest.mark.parametrize(
    ("semantics", "pattern", "latency", "publish", "wire"),
    [
        ("at-least-once", "streaming", APPLIED, PUBLISHED, 4),
        ("at-least-once", "pubsub", APPLIED, PUBLISHED, 4),
        ("exactly-once", "streaming", APPLIED, PUBLISHED, 4),
        ("exactly-once", "pubsub", APPLIED, PUBLISHED, 4),
        # pub/sub at-most-once: no publish ack; the consumer acks on receipt
        ("at-most-once", "pubsub", APPLIED, 0.0, 3),
        # streaming at-most-once: the commit is confirmed before processing (one round trip)
        ("at-most-once", "streaming", APPLIED + 2 * LINK, 0.0, 4),
    ],
)
def test_one_message_end_to_end(
    semantics: str, pattern: str, latency: float, publish: float, wire: int
) -> None:
    row = run_one(tiny(delivery={"semantics": semantics, "pattern": pattern}))
    assert (row["produced"], row["eligible"], row["delivered"]) == (1, 1, 1)
    assert (row["lost"], row["pending"], row["duplicates"]) == (0, 0, 0)
    assert row["latency_mean"] == approx(latency)
    assert row["latency_p99"] == approx(latency)
    assert row["publish_latency_mean"] == approx(publish)
    assert row["attempts"] == 1
    assert row["wire_messages"] == wire


def test_a_partitioned_publish_link_delays_the_message_by_whole_retries() -> None:
    # attempt 1 at 0 and attempt 2 at 0.3 fall in the partition; attempt 3 at 0.6 gets through
    s = tiny(faults=[{"target": "link:publish", "kind": "partition", "at": 0.0, "duration": 0.5}])
    result = simulate(s, 1)
    row = result.rows[0]
    assert row["attempts"] == 3
    assert row["publish_latency_mean"] == approx(0.6 + PUBLISHED)
    assert row["latency_mean"] == approx(0.6 + APPLIED)
    assert [(w.target, w.kind, w.start, w.end) for w in result.windows] == [
        ("link:publish", "partition", 0.0, 0.5)
    ]


def test_lost_acks_store_every_attempt_until_the_producer_gives_up() -> None:
    settings = dict(network={"publish_ack": {"loss": 1.0}})
    alo = run_one(tiny(delivery={"semantics": "at-least-once", "max_attempts": 3}, **settings))
    assert alo["attempts"] == 3 and alo["broker_duplicates"] == 2
    assert alo["delivered"] == 1 and alo["duplicates"] == 2 and alo["lost"] == 0
    assert math.isnan(alo["publish_latency_mean"])  # never acked
    eo = run_one(tiny(delivery={"semantics": "exactly-once", "max_attempts": 3}, **settings))
    assert eo["attempts"] == 3 and eo["broker_duplicates"] == 0
    assert eo["broker_deduplicated"] == 2 and eo["duplicates"] == 0


def test_all_attempts_lost_is_a_loss_by_giving_up() -> None:
    row = run_one(
        tiny(
            delivery={"semantics": "at-least-once", "max_attempts": 2},
            network={"publish": {"loss": 1.0}},
        )
    )
    assert (row["lost"], row["lost_producer_gave_up"], row["attempts"]) == (1, 1, 2)


@pytest.mark.parametrize("semantics", ["at-most-once", "at-least-once"])
def test_a_memory_broker_crash_loses_what_it_stored_even_after_the_ack(semantics: str) -> None:
    # the message is stored at 0.011 and waits for a group that joins at 1.0
    crash = [{"target": "broker", "at": 0.5, "duration": 0.1}]
    group = [{"name": "c", "service_time": const(CONSUMER), "join_at": 1.0}]
    memory = run_one(
        tiny(
            delivery={"semantics": semantics},
            broker={"durability": "memory"},
            faults=crash,
            consumers=group,
        )
    )
    assert (memory["lost"], memory["lost_broker_crash"]) == (1, 1)
    durable = run_one(tiny(delivery={"semantics": semantics}, faults=crash, consumers=group))
    assert durable["delivered"] == 1
    commit_round_trip = 2 * LINK if semantics == "at-most-once" else 0.0
    assert durable["latency_mean"] == approx(1.0 + LINK + commit_round_trip + CONSUMER)


def test_flush_interval_loses_only_what_was_stored_recently() -> None:
    # messages stored at 0.011, 0.261, 0.511, 0.761; the crash at 0.8 loses the last 0.3 s
    s = tiny(
        workload={"rate": 4.0},
        broker={"flush_interval": 0.3},
        delivery={"semantics": "at-most-once"},
        faults=[{"target": "broker", "at": 0.8, "duration": 0.1}],
        consumers=[{"name": "c", "service_time": const(CONSUMER), "join_at": 2.0}],
    )
    row = run_one(s)
    assert (row["produced"], row["lost"], row["lost_broker_crash"]) == (4, 2, 2)


def test_a_producer_crash_loses_its_memory_outbox_and_refuses_new_messages() -> None:
    # messages every 0.1 s; the producer is down during [0.25, 0.75)
    settings = dict(
        workload={"rate": 10.0},
        network={"publish": {"loss": 1.0}},
        faults=[{"target": "producer", "at": 0.25, "duration": 0.5}],
    )
    row = run_one(tiny(**settings))
    assert row["refused"] == 5 and row["produced"] == 5
    assert row["lost_producer_crash"] == 3  # the three unacked at the crash
    assert row["pending"] == 2  # created after the restart, still retrying


def test_a_durable_outbox_is_resent_after_the_producer_restarts() -> None:
    s = tiny(
        delivery={"outbox": "durable"},
        faults=[
            {"target": "link:publish", "kind": "partition", "at": 0.0, "duration": 0.5},
            {"target": "producer", "at": 0.1, "duration": 1.0},
        ],
    )
    row = run_one(s)
    assert row["delivered"] == 1 and row["lost"] == 0
    assert row["latency_mean"] == approx(1.1 + APPLIED)


@pytest.mark.parametrize(
    ("pattern", "start", "eligible"),
    [("pubsub", "earliest", 50), ("streaming", "latest", 50), ("streaming", "earliest", 100)],
)
def test_a_late_group_is_eligible_only_for_what_its_pattern_gives_it(
    pattern: str, start: str, eligible: int
) -> None:
    # 100 messages, one every 0.1 s; a copy is stored 11 ms after its message is created
    s = tiny(
        duration=10.0,
        workload={"rate": 10.0},
        delivery={"pattern": pattern},
        consumers=[
            {"name": "early", "service_time": const(CONSUMER)},
            {"name": "late", "service_time": const(CONSUMER), "join_at": 5.0, "start": start},
        ],
    )
    early, late = run_one(s, group=0), run_one(s, group=1)
    assert early["eligible"] == 100 and early["delivered"] == 100
    assert late["eligible"] == eligible and late["delivered"] == eligible
    if eligible == 100:  # the replay: message 0 waited for the group to join at 5 s
        assert late["latency_p999"] > 4.9


def test_retention_deletes_what_a_late_reader_has_not_read() -> None:
    # copies stored at 0.011 + 0.1 k expire 2 s later; the group joins at 5 s
    s = tiny(
        duration=10.0,
        workload={"rate": 10.0},
        broker={"retention": 2.0},
        consumers=[{"name": "c", "service_time": const(CONSUMER), "join_at": 5.0}],
    )
    row = run_one(s)
    assert (row["lost"], row["lost_retention"], row["delivered"]) == (30, 30, 70)


@pytest.mark.parametrize(
    ("semantics", "lost", "pending"), [("at-most-once", 4, 0), ("at-least-once", 0, 4)]
)
def test_a_full_broker_rejects(semantics: str, lost: int, pending: int) -> None:
    row = run_one(
        tiny(workload={"rate": 4.0}, broker={"capacity": 0}, delivery={"semantics": semantics})
    )
    assert (row["lost"], row["lost_rejected"], row["pending"]) == (lost, lost, pending)
    assert row["publish_rejected"] >= 4


def test_a_retry_overtakes_later_messages_and_counts_as_reordered() -> None:
    # messages at 0, 0.25, 0.5, 0.75; the first is partitioned and resent at 0.625
    s = tiny(
        workload={"rate": 4.0},
        delivery={
            "ack_timeout": 0.625,
            "backoff": {"kind": "constant", "base": 0.0, "jitter": False},
        },
        faults=[{"target": "link:publish", "kind": "partition", "at": 0.0, "duration": 0.1}],
    )
    row = run_one(s)
    assert row["reordered"] == 1 and row["delivered"] == 4
    assert row["latency_mean"] == approx((0.625 + 4 * APPLIED) / 4)


def test_a_crash_while_processing_rereads_from_the_last_commit() -> None:
    # the copy reaches the consumer at 0.021 and would be applied at 0.026; down 0.023-0.123
    row = run_one(tiny(faults=[{"target": "consumer:c", "at": 0.023, "duration": 0.1}]))
    assert row["delivered"] == 1 and row["duplicates"] == 0 and row["redeliveries"] == 1
    assert row["latency_mean"] == approx(0.123 + LINK + CONSUMER)


def test_a_lost_fetch_answer_is_fetched_again_after_the_timeout() -> None:
    row = run_one(
        tiny(faults=[{"target": "link:deliver", "kind": "partition", "at": 0.0, "duration": 0.05}])
    )
    assert row["redeliveries"] == 1 and row["lost"] == 0
    assert row["latency_mean"] == approx(LINK + BROKER + 0.2 + LINK + CONSUMER)


@pytest.mark.parametrize(
    ("semantics", "lost", "pending"), [("at-most-once", 1, 0), ("at-least-once", 0, 1)]
)
def test_a_consumer_that_always_crashes_before_processing(
    semantics: str, lost: int, pending: int
) -> None:
    row = run_one(
        tiny(
            delivery={"semantics": semantics, "pattern": "pubsub"},
            consumers=[
                {
                    "name": "c",
                    "service_time": const(CONSUMER),
                    "crash_before_process": 1.0,
                    "restart_time": const(0.5),
                }
            ],
        )
    )
    assert (row["lost"], row["lost_consumer_crash"], row["pending"]) == (lost, lost, pending)
    assert row["delivered"] == 0
