"""The simulator against closed forms (SPEC section 4).

Each tolerance is k = 4 standard errors of the estimate, computed from the sample size and
the theoretical variance (or, for queueing delays whose samples are correlated, from the
spread of independent replications). A correct simulator fails one of these about once in
16,000 runs; a wrong formula or a broken mechanism fails it every time.
"""

from __future__ import annotations

import math

import pytest

from sim import run
from tests.conftest import const, run_one, scenario, within

# A quiet, fast base: 200 messages/s for 100 s, fast consumers, nothing fails.
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


def test_at_most_once_loses_the_publish_loss_probability(pattern: str) -> None:
    p = 0.1
    row = run_one(
        base(
            delivery={"semantics": "at-most-once", "pattern": pattern},
            network={"publish": {"loss": p}},
        )
    )
    n = row["eligible"]
    within(row["loss_rate"], p, math.sqrt(p * (1 - p) / n))
    assert row["lost"] == row["lost_publish_lost"]
    assert row["pending"] == 0
    assert row["duplicates"] == 0


def test_at_least_once_duplicates_q_over_1_minus_q_under_ack_loss(pattern: str) -> None:
    q = 0.1
    row = run_one(
        base(
            delivery={"semantics": "at-least-once", "pattern": pattern},
            network={"publish_ack": {"loss": q}},
        )
    )
    # stored copies per message are geometric: K - 1 has mean q/(1-q), variance q/(1-q)^2
    n = row["eligible"]
    within(row["dup_rate"], q / (1 - q), math.sqrt(q / (1 - q) ** 2 / n))
    assert row["lost"] == 0 and row["pending"] == 0
    assert row["duplicates"] == row["broker_duplicates"]


def test_attempts_and_duplicates_under_publish_and_ack_loss() -> None:
    p, q = 0.2, 0.1
    row = run_one(
        base(
            delivery={"semantics": "at-least-once"},
            network={"publish": {"loss": p}, "publish_ack": {"loss": q}},
        )
    )
    n = row["produced"]
    s = (1 - p) * (1 - q)  # an attempt succeeds: stored and acked
    within(row["attempts"] / n, 1 / s, math.sqrt((1 - s) / s**2 / n))
    # duplicates = failed attempts that were stored anyway: q/(1-q), whatever p is
    r = (1 - p) * q / (1 - s)
    failures_mean, failures_var = (1 - s) / s, (1 - s) / s**2
    var = failures_mean * r * (1 - r) + failures_var * r * r
    within(row["dup_rate"], q / (1 - q), math.sqrt(var / n))
    assert row["lost"] == 0


def test_max_attempts_gives_up_with_probability_p_to_the_k() -> None:
    p, k = 0.3, 3
    row = run_one(
        base(
            delivery={"semantics": "at-least-once", "max_attempts": k},
            network={"publish": {"loss": p}},
        )
    )
    n = row["eligible"]
    within(row["loss_rate"], p**k, math.sqrt(p**k * (1 - p**k) / n))
    assert row["lost"] == row["lost_producer_gave_up"]
    assert row["duplicates"] == 0


@pytest.mark.parametrize(
    "dedup", [{"dedup": "id"}, {"dedup": "sequence", "max_in_flight": 5}], ids=["id", "sequence"]
)
def test_exactly_once_survives_every_per_message_fault_at_once(pattern: str, dedup: dict) -> None:
    """Sequence dedup needs a bounded window: see test_sequence_dedup_needs_a_window."""
    row = run_one(
        base(
            duration=40.0,
            drain=60.0,
            workload={"rate": 30.0},
            delivery={
                "semantics": "exactly-once",
                "pattern": pattern,
                "ack_timeout": 0.05,
                **dedup,
            },
            network={
                "loss": 0.1,
                "duplication": 0.05,
                "latency": {"dist": "exponential", "mean": 0.002},
            },
            consumers=[
                {
                    "name": "c",
                    "instances": 2,
                    "crash_before_process": 0.02,
                    "crash_after_process": 0.02,
                    "restart_time": const(0.01),
                    "service_time": {"dist": "exponential", "mean": 0.001},
                    "mtbf": 5.0,
                    "mttr": 0.2,
                }
            ],
            faults=[{"target": "broker", "at": 10.0, "duration": 1.0}],
        )
    )
    assert row["produced"] > 1000
    assert row["lost"] == 0
    assert row["pending"] == 0
    assert row["duplicates"] == 0
    assert row["delivered"] == row["eligible"] == row["produced"]
    # ...and the faults really happened
    assert row["consumer_deduplicated"] + row["broker_deduplicated"] > 0
    assert row["consumer_crashes"] > 0 and row["redeliveries"] > 0


def test_sequence_dedup_needs_a_window() -> None:
    """Without ``max_in_flight``, every lost attempt makes all later ones out of order, and
    resending them (go-back-N) costs more than the link can carry: the backlog only grows."""
    settings = dict(
        duration=20.0,
        drain=20.0,
        workload={"rate": 30.0},
        network={"loss": 0.1, "latency": {"dist": "exponential", "mean": 0.002}},
    )
    eo = {"semantics": "exactly-once", "dedup": "sequence", "ack_timeout": 0.05}
    windowed = run_one(base(delivery={**eo, "max_in_flight": 5}, **settings))
    unbounded = run_one(base(delivery=eo, **settings))
    assert windowed["pending"] == 0 and windowed["duplicates"] == 0
    assert unbounded["pending"] > unbounded["produced"] / 3
    assert unbounded["attempts"] > 5 * windowed["attempts"]


def test_pubsub_redelivers_after_crash_after_process_and_lost_acks() -> None:
    c, a = 0.05, 0.1
    row = run_one(
        base(
            workload={"rate": 40.0},
            broker={"prefetch": 1},
            delivery={"semantics": "at-least-once", "pattern": "pubsub", "ack_timeout": 0.05},
            network={"consume_ack": {"loss": a}},
            consumers=[
                {
                    "name": "c",
                    "crash_after_process": c,
                    "restart_time": const(0.01),
                    "service_time": {"dist": "exponential", "mean": 0.001},
                }
            ],
        )
    )
    # one copy at a time: applications per message are geometric with success (1-c)(1-a)
    s = (1 - c) * (1 - a)
    n = row["eligible"]
    within(row["dup_rate"], (1 - s) / s, math.sqrt((1 - s) / s**2 / n))
    assert row["lost"] == 0


def test_non_atomic_dedup_lets_crashes_between_writes_duplicate() -> None:
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
    eo = {"semantics": "exactly-once", "pattern": "pubsub", "ack_timeout": 0.05}
    atomic = run_one(base(delivery={**eo, "atomic_dedup": True}, **settings))
    split = run_one(base(delivery={**eo, "atomic_dedup": False}, **settings))
    assert atomic["duplicates"] == 0
    n = split["eligible"]
    within(split["dup_rate"], c / (1 - c), math.sqrt(c / (1 - c) ** 2 / n))


def test_a_zero_dedup_window_lets_the_broker_store_duplicates_but_not_the_effect() -> None:
    q = 0.1
    row = run_one(
        base(
            delivery={"semantics": "exactly-once", "dedup_window": 0.0},
            network={"publish_ack": {"loss": q}},
        )
    )
    n = row["produced"]
    within(row["broker_duplicates"] / n, q / (1 - q), math.sqrt(q / (1 - q) ** 2 / n))
    assert row["duplicates"] == 0
    assert row["consumer_deduplicated"] == row["broker_duplicates"]


def test_lost_commits_alone_never_duplicate_in_streaming() -> None:
    row = run_one(
        base(
            delivery={"semantics": "at-least-once", "pattern": "streaming"},
            network={"consume_ack": {"loss": 0.3}},
        )
    )
    assert row["duplicates"] == 0 and row["redeliveries"] == 0 and row["lost"] == 0


def test_lost_deliveries_are_refetched_in_streaming_but_lost_in_pubsub() -> None:
    p = 0.2
    amo = {"semantics": "at-most-once"}
    stream = run_one(
        base(delivery={**amo, "pattern": "streaming"}, network={"deliver": {"loss": p}})
    )
    assert stream["lost"] == 0 and stream["redeliveries"] > 0
    push = run_one(base(delivery={**amo, "pattern": "pubsub"}, network={"deliver": {"loss": p}}))
    n = push["eligible"]
    within(push["loss_rate"], p, math.sqrt(p * (1 - p) / n))
    assert push["lost"] == push["lost_deliver_lost"]


# --- queueing theory ------------------------------------------------------------------------

QUEUE = {
    "duration": 100.0,
    "drain": 10.0,
    "replications": 10,
    "network": {"latency": const(0.0)},
    "delivery": {"semantics": "at-least-once"},
    "broker": {"prefetch": 1000},
}


def _mean_over_replications(s, figure: str) -> tuple[float, float]:
    """(mean, standard error) of a figure over independent replications."""
    summary = run(s).summary
    row = summary[(summary["figure"] == figure) & (summary["group"] == "c")].iloc[0]
    return float(row["mean"]), float(row["sd"]) / math.sqrt(int(row["n"]))


def erlang_c_sojourn(lam: float, mu: float, c: int) -> float:
    """Mean time in an M/M/c station: waiting (Erlang C) plus service."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    wait_probability = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return wait_probability / (c * mu - lam) + 1 / mu


@pytest.mark.parametrize(("lam", "mu", "servers"), [(100.0, 200.0, 1), (300.0, 200.0, 2)])
def test_the_broker_is_an_m_m_c_station(lam: float, mu: float, servers: int) -> None:
    """Zero network latency: the publish latency is the broker's sojourn time."""
    from tests.conftest import merge

    s = scenario(
        **merge(
            QUEUE,
            {
                "workload": {"rate": lam},
                "broker": {
                    "servers": servers,
                    "service_time": {"dist": "exponential", "mean": 1 / mu},
                },
                "consumers": [
                    {"name": "c", "service_time": {"dist": "exponential", "mean": 0.0005}}
                ],
            },
        )
    )
    mean, se = _mean_over_replications(s, "publish_latency_mean")
    expected = 1 / (mu - lam) if servers == 1 else erlang_c_sojourn(lam, mu, servers)
    within(mean, expected, se)


def test_broker_and_consumer_form_a_jackson_tandem(pattern: str) -> None:
    """Poisson in, exponential broker then exponential consumer: the sojourns add up
    (Burke: the broker's departures are Poisson again)."""
    from tests.conftest import merge

    lam, mu_broker, mu_consumer = 100.0, 200.0, 250.0
    s = scenario(
        **merge(
            QUEUE,
            {
                "workload": {"rate": lam},
                "delivery": {"pattern": pattern},
                "broker": {"service_time": {"dist": "exponential", "mean": 1 / mu_broker}},
                "consumers": [
                    {"name": "c", "service_time": {"dist": "exponential", "mean": 1 / mu_consumer}}
                ],
            },
        )
    )
    mean, se = _mean_over_replications(s, "latency_mean")
    within(mean, 1 / (mu_broker - lam) + 1 / (mu_consumer - lam), se)


def test_dedup_time_makes_the_consumer_an_m_g_1_station(pattern: str) -> None:
    """Exactly-once with a processed-id transaction of d seconds: service = Exp(a) + d, so the
    consumer is M/G/1 (Pollaczek-Khinchine) behind the M/M/1 broker."""
    from tests.conftest import merge

    lam, mu_broker, a, d = 100.0, 200.0, 0.002, 0.002
    s = scenario(
        **merge(
            QUEUE,
            {
                "workload": {"rate": lam},
                "delivery": {"pattern": pattern, "semantics": "exactly-once"},
                "broker": {"service_time": {"dist": "exponential", "mean": 1 / mu_broker}},
                "consumers": [
                    {
                        "name": "c",
                        "dedup_time": d,
                        "service_time": {"dist": "exponential", "mean": a},
                    }
                ],
            },
        )
    )
    mean, se = _mean_over_replications(s, "latency_mean")
    es, es2 = a + d, a * a + (a + d) ** 2
    rho = lam * es
    consumer = es + lam * es2 / (2 * (1 - rho))
    within(mean, 1 / (mu_broker - lam) + consumer, se)
