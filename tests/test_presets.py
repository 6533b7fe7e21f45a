"""Broker presets: documented values filled in under the scenario's own, and the mechanisms
they switch on behave as those brokers do."""

from __future__ import annotations

import itertools
import math
import tomllib

import pytest

import sim
from sim.registry.presets import PRESETS
from sim.scenario.points import points_of
from tests.conftest import run_one, scenario, tables, within


@pytest.mark.parametrize("name", PRESETS.names)
def test_every_preset_fills_its_values_and_documents_them(name: str) -> None:
    s = scenario(delivery={"preset": name})
    for section, values in PRESETS[name].values.items():
        settings = getattr(s, section)
        for table in tables(settings):
            for key, value in values.items():
                actual = getattr(table, key)
                expected = value if not isinstance(value, dict) else type(actual)(**value)
                assert actual == expected, (name, section, key)
    assert PRESETS[name].source and PRESETS[name].note and PRESETS[name].description


def test_documented_values_a_reader_can_check() -> None:
    kafka = scenario(delivery={"preset": "kafka"}).delivery
    assert (kafka.dedup, kafka.max_in_flight, kafka.ack_timeout, kafka.max_attempts) == (
        "sequence",
        5,
        30.0,
        0,
    )
    sqs = scenario(delivery={"preset": "sqs-fifo"}).delivery
    assert (sqs.dedup_window, sqs.redelivery_after) == (300.0, 30.0)
    nats = scenario(delivery={"preset": "nats-jetstream"}).delivery
    assert (nats.dedup_window, nats.redelivery_after) == (120.0, 30.0)
    gcp = scenario(delivery={"preset": "gcp-pubsub"}).delivery
    assert (gcp.redelivery_after, gcp.retry_new_id, gcp.backoff.multiplier) == (10.0, True, 1.3)
    rabbit = scenario(delivery={"preset": "rabbitmq"})
    assert (rabbit.delivery.redelivery_after, rabbit.delivery.dedup_window) == (1800.0, 0.0)
    assert rabbit.delivery.ack_timeout == 0.2  # the publisher-confirm wait stays the model's


def test_delivery_limits_and_consumer_groups_from_the_brokers_documentation() -> None:
    kafka = scenario(delivery={"preset": "kafka"})
    assert [(c.commit_interval, c.session_timeout) for c in kafka.consumers] == [(5.0, 45.0)]
    assert kafka.delivery.max_deliveries == 0 and not kafka.delivery.dead_letter
    rabbit = scenario(delivery={"preset": "rabbitmq"}).delivery
    assert (rabbit.max_deliveries, rabbit.dead_letter) == (20, False)  # dropped, no DLX
    for name in ("sqs-fifo", "gcp-pubsub", "nats-jetstream"):  # no dead-letter queue by default
        delivery = scenario(delivery={"preset": name}).delivery
        assert (delivery.max_deliveries, delivery.dead_letter) == (0, False), name
    assert "maxReceiveCount" in PRESETS["sqs-fifo"].note
    assert "max_delivery_attempts" in PRESETS["gcp-pubsub"].note


def test_a_preset_fills_every_consumer_group_under_what_the_group_sets() -> None:
    s = scenario(
        delivery={"preset": "kafka"},
        consumers=[{"name": "a"}, {"name": "b", "commit_interval": 0.0}],
    )
    assert [(c.name, c.commit_interval, c.session_timeout) for c in s.consumers] == [
        ("a", 5.0, 45.0),
        ("b", 0.0, 45.0),
    ]


def test_a_swept_preset_fills_each_point_s_consumer_groups() -> None:
    s = scenario(
        consumers=[{"name": "a", "instances": 2}],
        sweep={"delivery.preset": ["kafka", "rabbitmq"]},
    )
    resolved = sim.validate(tomllib.loads(s.to_toml()))  # what results keep reproduces it
    for study in (s, resolved):
        groups = {p.delivery.preset: p.consumers[0] for _, p in points_of(study)[1]}
        assert (groups["kafka"].commit_interval, groups["kafka"].instances) == (5.0, 2)
        assert groups["rabbitmq"].commit_interval == 0.0


def test_what_the_scenario_sets_wins_over_the_preset() -> None:
    s = scenario(
        delivery={"preset": "kafka", "max_in_flight": 1, "backoff": {"cap": 5.0}},
        broker={"prefetch": 7},
    )
    assert (s.delivery.max_in_flight, s.broker.prefetch) == (1, 7)
    assert (s.delivery.backoff.cap, s.delivery.backoff.base) == (5.0, 0.1)  # merged per key
    overridden = s.with_values({"delivery.ack_timeout": 2.0})
    assert overridden.delivery.ack_timeout == 2.0 and overridden.delivery.dedup == "sequence"


def test_a_preset_can_be_swept_and_each_point_gets_its_own_values() -> None:
    s = scenario(sweep={"delivery.preset": ["kafka", "sqs-fifo"]})
    _, points = points_of(s)
    kafka, sqs = (point for _, point in points)
    assert (kafka.delivery.pattern, kafka.delivery.dedup) == ("streaming", "sequence")
    assert (sqs.delivery.pattern, sqs.delivery.dedup, sqs.delivery.dedup_window) == (
        "pubsub",
        "id",
        300.0,
    )


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(sim.ScenarioError) as info:
        scenario(delivery={"preset": "kinesis"})
    assert info.value.problems[0].path == "delivery.preset"
    assert "'kafka'" in info.value.problems[0].message


def test_the_resolved_file_of_a_preset_reruns_the_same_scenario(tmp_path) -> None:
    s = scenario(delivery={"preset": "gcp-pubsub", "semantics": "exactly-once"})
    path = tmp_path / "s.toml"
    path.write_text(s.to_toml())
    assert sim.load_scenario(path).resolved() == s.resolved()


# --- mechanisms ------------------------------------------------------------------------------

BUSY = {
    "duration": 100.0,
    "drain": 20.0,
    "workload": {"rate": 200.0},
    "consumers": [{"name": "c", "service_time": {"dist": "exponential", "mean": 0.001}}],
}


def test_a_publish_retry_with_a_new_id_escapes_every_dedup() -> None:
    """Google Pub/Sub: exactly-once still duplicates publish retries, q/(1-q) per message,
    while redeliveries of one stored copy (lost consumer acks) are still caught."""
    q = 0.1
    net = {"publish_ack": {"loss": q}, "consume_ack": {"loss": 0.05}}
    eo = {"semantics": "exactly-once", "pattern": "pubsub"}
    new_ids = run_one(
        scenario(
            **BUSY, broker={"prefetch": 10}, network=net, delivery={**eo, "retry_new_id": True}
        )
    )
    same_ids = run_one(scenario(**BUSY, broker={"prefetch": 10}, network=net, delivery=eo))
    assert same_ids["duplicates"] == 0
    n = new_ids["eligible"]
    within(new_ids["dup_rate"], q / (1 - q), math.sqrt(q / (1 - q) ** 2 / n))
    assert new_ids["broker_deduplicated"] == 0
    assert new_ids["consumer_deduplicated"] > 0  # redeliveries: same id, caught


def test_the_ack_deadline_decides_when_pubsub_redelivers() -> None:
    """A consumer ack lost: the copy comes back one ack deadline after it was sent."""
    const = {"dist": "constant"}
    tiny = {
        "duration": 1.0,
        "drain": 30.0,
        "workload": {"arrival": "constant", "rate": 1.0},
        "network": {"latency": {**const, "value": 0.01}, "consume_ack": {"loss": 1.0}},
        "broker": {"service_time": {**const, "value": 0.001}},
        "consumers": [{"name": "c", "service_time": {**const, "value": 0.005}}],
    }
    result = sim.simulate(scenario(**tiny, delivery={"pattern": "pubsub", "ack_deadline": 10.0}), 1)
    # sent at 0.011, then redelivered at 10.011 and 20.011: three applications in 31 s
    assert result.rows[0]["redeliveries"] == 3
    assert result.rows[0]["duplicates"] == 3


def test_a_multiplier_shapes_the_exponential_backoff() -> None:
    """One message whose every publish is lost: attempt k+1 leaves the ack timeout plus the
    k-th backoff (0.1 s x 1.3^(k-1)) after attempt k."""
    s = scenario(
        duration=1.0,
        drain=1.5,
        workload={"arrival": "constant", "rate": 1.0},
        network={"publish": {"loss": 1.0}},
        delivery={
            "ack_timeout": 0.2,
            "backoff": {
                "kind": "exponential",
                "base": 0.1,
                "multiplier": 1.3,
                "cap": 60.0,
                "jitter": False,
            },
        },
    )
    trace = sim.simulate(s, 1, trace=True).trace
    assert trace is not None
    sent = trace[trace["event"] == "sent"]["time"].to_numpy()
    gaps = [round(b - a - 0.2, 6) for a, b in itertools.pairwise(sent)]
    assert gaps[:3] == [0.1, 0.13, 0.169]


@pytest.mark.parametrize("name", PRESETS.names)
def test_every_preset_runs_exactly_once_without_loss_or_duplicates(name: str) -> None:
    """Real timeouts are long (30 s, 30 minutes), and under Kafka's sequence numbers one lost
    response holds back the whole window for a request timeout: the drain must outlast
    several of them."""
    delivery = scenario(delivery={"preset": name}).delivery
    drain = 10 * max(delivery.ack_timeout, delivery.redelivery_after)
    row = run_one(
        scenario(
            duration=10.0,
            drain=drain,
            workload={"rate": 50.0},
            delivery={"preset": name, "semantics": "exactly-once"},
            network={"loss": 0.005},
        )
    )
    assert row["lost"] == 0 and row["pending"] == 0
    if not PRESETS[name].values["delivery"].get("retry_new_id"):
        assert row["duplicates"] == 0


def test_the_docs_document_every_preset_as_the_code_defines_it() -> None:
    from pathlib import Path

    from sim.scenario.presets import describe

    page = (Path(__file__).parents[1] / "docs" / "presets.md").read_text(encoding="utf-8")
    for line in describe().splitlines():
        assert line in page, f"docs/presets.md out of date: {line[:60]}..."
