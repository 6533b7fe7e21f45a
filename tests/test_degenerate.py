"""Degenerate but valid scenarios: every link losing everything, nothing to send, no room at
the broker, a group that never joins, components down for the whole run, timeouts longer than
the run, retention 0. Each must end at once and give the figures theory predicts, exactly.

The workload is deterministic so that the figures are: one producer sends ``N = 10`` messages
at ``t_k = 0.1 k`` (constant arrivals), every latency and service time is constant (2 ms per
link, 1 ms at the broker and at the consumer), the producer's ack timeout is ``T = 0.1`` s and
its backoff a constant ``b = 0.05`` s without jitter, so a message whose attempts all go
unanswered is sent at ``t_k + j (T + b)`` for ``j = 0, 1, ...`` until the horizon
``H = duration + drain = 3.04`` s (chosen so that no event falls within a millisecond of it).
The pub/sub ack deadline is ``T`` too, and ``prefetch`` is larger than ``N`` (every copy goes
out at once) except where head-of-line blocking is the point.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from typer.testing import CliRunner

from sim import Simulation, simulate, validate
from sim.cli import app
from sim.engine.runaway import Runaway
from sim.registry.semantics import SEMANTICS as REGISTRY
from sim.scenario.limits import event_budget
from tests.conftest import ALL_PATTERNS, ALL_SEMANTICS, RETRYING, check_invariants, const, merge

SEMANTICS = ALL_SEMANTICS
PATTERNS = ALL_PATTERNS

N = 10
RATE = 10.0
DURATION = 1.0
DRAIN = 2.04
H = DURATION + DRAIN
T = 0.1
B = 0.05
CREATED = [k / RATE for k in range(N)]
PATH = 0.002 + 0.001  # publish latency + broker service: a message is stored (and pushed)
CAUSES = [
    "publish_lost",
    "rejected",
    "producer_gave_up",
    "producer_crash",
    "broker_crash",
    "retention",
    "deliver_lost",
    "consumer_crash",
]


def raw(semantics: str, pattern: str, **extra: Any) -> dict[str, Any]:
    base = {
        "name": "degenerate",
        "duration": DURATION,
        "drain": DRAIN,
        "workload": {"rate": RATE, "arrival": "constant"},
        "delivery": {
            "semantics": semantics,
            "pattern": pattern,
            "ack_timeout": T,
            "backoff": {"kind": "constant", "base": B, "jitter": False},
        },
        "broker": {"service_time": const(0.001), "prefetch": 100},
        "network": {"latency": const(0.002)},
        "consumers": [{"name": "g", "service_time": const(0.001)}],
    }
    return merge(base, extra)


def rows(data: dict[str, Any], seed: int = 1) -> dict[str, dict[str, Any]]:
    """One replication, checked (eligible = delivered + lost + pending, one cause per loss),
    as the row of each group by name."""
    result = simulate(validate(data), seed)
    for row in result.rows:
        check_invariants(row)
    return {row["group"]: row for row in result.rows}


def one(data: dict[str, Any]) -> dict[str, Any]:
    return rows(data)["g"]


def outcome(row: dict[str, Any]) -> dict[str, int]:
    """The figures every test pins: how many were eligible, delivered, lost (and why),
    pending, and applied more than once."""
    out = {k: row[k] for k in ("eligible", "delivered", "lost", "pending", "duplicates")}
    out.update({c: row[f"lost_{c}"] for c in CAUSES if row[f"lost_{c}"]})
    return out


def expect(
    eligible: int = N,
    delivered: int = 0,
    pending: int = 0,
    duplicates: int = 0,
    **causes: int,
) -> dict[str, int]:
    return {
        "eligible": eligible,
        "delivered": delivered,
        "lost": sum(causes.values()),
        "pending": pending,
        "duplicates": duplicates,
        **causes,
    }


def unanswered_attempts(horizon: float = H) -> int:
    """Attempts of N messages none of whose attempts is answered: sent at
    ``t_k + j (T + B)`` while that is before the horizon."""
    return sum(math.floor((horizon - t) / (T + B)) + 1 for t in CREATED)


def redeliveries(horizon: float = H) -> int:
    """Pub/sub copies pushed again because their ack never came: each message is first pushed
    about ``PATH`` after it is created, then again every deadline ``T`` until the horizon."""
    return sum(math.floor((horizon - t - PATH) / T) for t in CREATED)


# ---------------------------------------------------------------------------------------------
# Loss 1.0 on each link, for each semantics and pattern


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_publish_loss_1(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, network={"publish": {"loss": 1.0}}))
    if not REGISTRY[semantics].producer_retries:  # sent once, never arrives
        assert outcome(row) == expect(publish_lost=N)
        assert row["attempts"] == N
    else:  # retried until the end: the outbox still holds every message
        assert outcome(row) == expect(pending=N)
        assert row["attempts"] == unanswered_attempts() == 177


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", RETRYING)
def test_publish_loss_1_with_three_attempts_gives_up(semantics: str, pattern: str) -> None:
    data = raw(semantics, pattern, network={"publish": {"loss": 1.0}})
    row = one(merge(data, {"delivery": {"max_attempts": 3}}))
    # the outbox entry is the last copy, and giving up destroys it
    assert outcome(row) == expect(producer_gave_up=N)
    assert row["attempts"] == 3 * N


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_publish_ack_loss_1(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, network={"publish_ack": {"loss": 1.0}}))
    flags = REGISTRY[semantics]
    if not flags.producer_retries:  # never waits for the ack
        assert outcome(row) == expect(delivered=N)
        assert row["attempts"] == N
        return
    attempts = unanswered_attempts()
    assert row["attempts"] == attempts == 177
    if not flags.idempotent_publish:  # every attempt is stored
        assert row["broker_duplicates"] == attempts - N
        if flags.consumer_dedup:  # and the processed-id store skips every copy but one
            assert outcome(row) == expect(delivered=N)
            assert row["consumer_deduplicated"] == attempts - N
        else:  # and applied
            assert outcome(row) == expect(delivered=N, duplicates=attempts - N)
    else:  # the broker recognises every retry
        assert outcome(row) == expect(delivered=N)
        assert row["broker_deduplicated"] == attempts - N
        assert row["broker_duplicates"] == 0


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", RETRYING)
def test_publish_ack_loss_1_with_three_attempts(semantics: str, pattern: str) -> None:
    data = raw(semantics, pattern, network={"publish_ack": {"loss": 1.0}})
    row = one(merge(data, {"delivery": {"max_attempts": 3}}))
    flags = REGISTRY[semantics]
    if flags.idempotent_publish:
        assert row["broker_deduplicated"] == 2 * N
    else:
        assert row["broker_duplicates"] == 2 * N
    duplicates = 0 if flags.idempotent_publish or flags.consumer_dedup else 2 * N
    assert outcome(row) == expect(delivered=N, duplicates=duplicates)
    assert row["attempts"] == 3 * N


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_deliver_loss_1(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, network={"deliver": {"loss": 1.0}}))
    if pattern == "streaming":
        # a lost fetch answer is fetched again from the same position: the log keeps it all
        assert outcome(row) == expect(pending=N)
        assert row["redeliveries"] > 0
    elif not REGISTRY[semantics].broker_redelivers:  # the broker forgets a pushed copy
        assert outcome(row) == expect(deliver_lost=N)
        assert row["redeliveries"] == 0
    else:  # pushed again every deadline, lost every time, kept by the broker
        assert outcome(row) == expect(pending=N)
        assert row["redeliveries"] == redeliveries() == 255


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_consume_ack_loss_1(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, network={"consume_ack": {"loss": 1.0}}))
    flags = REGISTRY[semantics]
    if pattern == "streaming" and flags.ack_before_process:
        # the commit is synchronous and comes before processing: never confirmed, nothing is
        # processed, and the log still holds every record
        assert outcome(row) == expect(pending=N)
    elif pattern == "streaming" or not flags.broker_redelivers:
        # streaming: lost commits alone never replay anything; pub/sub at-most-once: the ack
        # only returns prefetch credit
        assert outcome(row) == expect(delivered=N)
        assert row["redeliveries"] == 0
    elif not flags.consumer_dedup:  # redelivered every deadline until the drain ends
        assert outcome(row) == expect(delivered=N, duplicates=redeliveries())
        assert row["redeliveries"] == redeliveries() == 255
    else:  # the processed-id store recognises every redelivery
        assert outcome(row) == expect(delivered=N)
        assert row["redeliveries"] == row["consumer_deduplicated"] == redeliveries()


@pytest.mark.parametrize("semantics", RETRYING)
def test_consume_ack_loss_1_with_prefetch_1_blocks_behind_the_first_message(
    semantics: str,
) -> None:
    """One unacked copy fills the only prefetch slot; at its deadline the same message goes
    out again (first in line), so the others wait (head-of-line blocking, as in RabbitMQ with
    basic.qos 1 or an SQS FIFO message group)."""
    data = raw(semantics, "pubsub", network={"consume_ack": {"loss": 1.0}})
    row = one(merge(data, {"broker": {"prefetch": 1}}))
    again = math.floor((H - PATH) / T)
    duplicates = 0 if REGISTRY[semantics].consumer_dedup else again
    assert outcome(row) == expect(delivered=1, pending=N - 1, duplicates=duplicates)
    assert row["redeliveries"] == again == 30


# ---------------------------------------------------------------------------------------------
# Nothing to do


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
@pytest.mark.parametrize("change", [{"workload": {"rate": 0.0}}, {"duration": 0.0}])
def test_no_messages(semantics: str, pattern: str, change: dict[str, Any]) -> None:
    row = one(merge(raw(semantics, pattern), change))
    assert row["produced"] == row["attempts"] == row["wire_messages"] == 0
    assert outcome(row) == expect(eligible=0)
    assert math.isnan(row["latency_mean"]) and math.isnan(row["latency_p99"])
    assert row["loss_rate"] == row["dup_rate"] == 0.0


def test_nothing_at_all_ends_at_once() -> None:
    """No duration and no drain: the run is empty."""
    row = one(merge(raw("at-least-once", "streaming"), {"duration": 0.0, "drain": 0.0}))
    assert outcome(row) == expect(eligible=0)


# ---------------------------------------------------------------------------------------------
# No room at the broker


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_capacity_0(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, broker={"capacity": 0}))
    if not REGISTRY[semantics].producer_retries:
        assert outcome(row) == expect(rejected=N)
        assert row["publish_rejected"] == row["attempts"] == N
    else:  # refused, retried after the backoff, refused again, until the end
        assert outcome(row) == expect(pending=N)
        assert row["attempts"] > 10 * N
        # every attempt but the last of each message has been answered with a refusal
        assert row["attempts"] - N <= row["publish_rejected"] <= row["attempts"]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", RETRYING)
def test_capacity_0_with_three_attempts_gives_up(semantics: str, pattern: str) -> None:
    data = raw(semantics, pattern, broker={"capacity": 0})
    row = one(merge(data, {"delivery": {"max_attempts": 3}}))
    assert outcome(row) == expect(producer_gave_up=N)
    assert row["publish_rejected"] == row["attempts"] == 3 * N


# ---------------------------------------------------------------------------------------------
# A group that never joins; components down for the whole run


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_a_group_that_never_joins(semantics: str, pattern: str) -> None:
    groups = [
        {"name": "g", "service_time": const(0.001)},
        {"name": "late", "join_at": 100.0, "service_time": const(0.001)},
        {"name": "latest", "join_at": 100.0, "start": "latest", "service_time": const(0.001)},
    ]
    found = rows(raw(semantics, pattern, consumers=groups))
    assert outcome(found["g"]) == expect(delivered=N)
    if pattern == "streaming":  # reading from the earliest offset: the log waits for it
        assert outcome(found["late"]) == expect(pending=N)
    else:  # a subscription gets what is stored after it joined: nothing
        assert outcome(found["late"]) == expect(eligible=0)
    assert outcome(found["latest"]) == expect(eligible=0)
    assert found["late"]["produced"] == found["latest"]["produced"] == N


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_every_consumer_instance_down_for_the_whole_run(semantics: str, pattern: str) -> None:
    data = raw(
        semantics,
        pattern,
        consumers=[{"name": "g", "instances": 2, "service_time": const(0.001)}],
        faults=[{"target": "consumer:g", "at": 0.0, "duration": 2 * H}],
    )
    row = one(data)
    # the broker keeps every message for the group (pub/sub pushes only to instances up)
    assert outcome(row) == expect(pending=N)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_broker_down_for_the_whole_run(semantics: str, pattern: str) -> None:
    row = one(raw(semantics, pattern, faults=[{"target": "broker", "at": 0.0, "duration": 2 * H}]))
    if not REGISTRY[semantics].producer_retries:
        assert outcome(row) == expect(broker_crash=N)
    else:  # nothing is ever acked: retried until the end, as under publish loss 1.0
        assert outcome(row) == expect(pending=N)
        assert row["attempts"] == unanswered_attempts()


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_producer_down_for_the_whole_run(semantics: str) -> None:
    row = one(
        raw(semantics, "streaming", faults=[{"target": "producer", "at": 0.0, "duration": 2 * H}])
    )
    assert row["refused"] == N  # the application's messages are refused, not produced
    assert row["produced"] == row["attempts"] == 0
    assert outcome(row) == expect(eligible=0)


# ---------------------------------------------------------------------------------------------
# Timeouts longer than the run; retention 0


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("semantics", RETRYING)
def test_ack_timeout_longer_than_the_run(semantics: str, pattern: str) -> None:
    slow = {"delivery": {"ack_timeout": 1e6}}
    lost_publish = one(merge(raw(semantics, pattern, network={"publish": {"loss": 1.0}}), slow))
    assert outcome(lost_publish) == expect(pending=N)
    assert lost_publish["attempts"] == N  # no retry is ever due

    lost_acks = one(merge(raw(semantics, pattern, network={"consume_ack": {"loss": 1.0}}), slow))
    assert outcome(lost_acks) == expect(delivered=N)
    assert lost_acks["redeliveries"] == 0  # no deadline passes

    quiet = one(merge(raw(semantics, pattern), slow))
    assert outcome(quiet) == expect(delivered=N)
    assert quiet["attempts"] == N


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_retention_0_loses_everything_for_a_late_streaming_group(semantics: str) -> None:
    groups = [
        {"name": "g", "service_time": const(0.001)},
        {"name": "late", "join_at": 1.5, "service_time": const(0.001)},
        {"name": "latest", "join_at": 1.5, "start": "latest", "service_time": const(0.001)},
    ]
    found = rows(raw(semantics, "streaming", broker={"retention": 0.0}, consumers=groups))
    # a reader waiting at the head of the log gets each record as it is appended
    assert outcome(found["g"]) == expect(delivered=N)
    # the records had expired before the late group read from the earliest offset
    assert outcome(found["late"]) == expect(retention=N)
    # from the latest offset at 1.5 s there was nothing left to want
    assert outcome(found["latest"]) == expect(eligible=0)


def test_retention_0_in_pubsub_is_nothing_for_a_late_subscription() -> None:
    groups = [
        {"name": "g", "service_time": const(0.001)},
        {"name": "late", "join_at": 1.5, "service_time": const(0.001)},
    ]
    found = rows(raw("at-least-once", "pubsub", broker={"retention": 0.0}, consumers=groups))
    assert outcome(found["g"]) == expect(delivered=N)
    assert outcome(found["late"]) == expect(eligible=0)


# ---------------------------------------------------------------------------------------------
# A loop with no delay in it: the guard stops it, and the CLI says so


def zero_delay_loop() -> dict[str, Any]:
    """Capacity 0, an immediate retry, and nothing that takes time: refused, retried and
    refused again forever at t = 0."""
    return raw(
        "at-least-once",
        "streaming",
        delivery={"backoff": {"kind": "constant", "base": 0.0, "jitter": False}},
        broker={"capacity": 0, "service_time": const(0.0)},
        network={"latency": const(0.0)},
    )


def test_a_zero_delay_loop_is_stopped() -> None:
    with pytest.raises(Runaway, match="simulated time is stuck at 0 s"):
        simulate(validate(zero_delay_loop()), 1)


def test_the_cli_reports_a_zero_delay_loop_clearly(tmp_path) -> None:
    import tomli_w

    path = tmp_path / "loop.toml"
    path.write_text(tomli_w.dumps({**zero_delay_loop(), "replications": 1}), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["run", str(path), "--out", str(tmp_path / "out"), "--jobs", "1", "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    message = result.stderr
    assert f"{path}: the run cannot end" in message
    assert "simulated time is stuck" in message  # which limit was hit
    assert "Give one of them a positive value" in message  # and how to fix it
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "runs.csv").exists()


# ---------------------------------------------------------------------------------------------
# Long retries


def test_a_long_publish_outage_with_default_backoff_keeps_retrying() -> None:
    """One message, the default exponential backoff (0.05 s doubling up to a cap of 2 s, with
    jitter) and a publish link that loses everything for an hour: the message is still in
    the outbox at the end."""
    data = {
        "name": "outage",
        "duration": 1.0,
        "drain": 3600.0,
        "workload": {"rate": 1.0, "arrival": "constant"},
        "network": {"publish": {"loss": 1.0}},
    }
    row = rows(data)["consumer"]
    assert outcome(row) == expect(eligible=1, pending=1)


# ---------------------------------------------------------------------------------------------
# A run that takes far more events than its messages explain


def storm(max_events: int) -> dict[str, Any]:
    """1,000 messages whose every delivery is lost and retried every millisecond for 100 s:
    about 10^8 events, where 1,000 messages normally take about 10^4."""
    return {
        "name": "storm",
        "duration": 10.0,
        "drain": 100.0,
        "max_events": max_events,
        "workload": {"rate": 100.0, "arrival": "constant"},
        "delivery": {"ack_timeout": 0.001},
        "network": {"deliver": {"loss": 1.0}},
    }


def test_the_automatic_event_budget() -> None:
    s = validate(storm(0))
    assert event_budget(s) == 1000 * 1000 + 10**7  # 1,000 expected messages, no timers
    assert event_budget(validate(storm(123))) == 123


def test_a_storm_is_stopped_at_max_events_with_how_to_raise_it() -> None:
    with pytest.raises(Runaway) as stopped:
        simulate(validate(storm(50_000)), 1)
    message = str(stopped.value)
    assert "max_events = 50,000" in message  # which limit
    assert "--set max_events=N" in message  # and how to raise it
    taken = int(message.split("it had taken ")[1].split(" ")[0].replace(",", ""))
    assert 50_000 <= taken < 50_000 + 4096  # checked every chunk of 4,096 events


def test_a_run_within_its_budget_is_not_stopped() -> None:
    """The budget counts events exactly: a run of E events passes with max_events = E."""
    data = {**storm(0), "drain": 1.0}
    simulation = Simulation(validate(data), 1)
    simulation.run()
    events = simulation.clock.processed
    assert events > 3 * 4096  # several chunks
    row = simulate(validate({**data, "max_events": events}), 1).rows[0]
    check_invariants(row)
    assert row["pending"] == 1000  # every delivery lost: all still on their way


def test_the_cli_reports_a_storm_clearly(tmp_path) -> None:
    import tomli_w

    path = tmp_path / "storm.toml"
    path.write_text(tomli_w.dumps({**storm(50_000), "replications": 1}), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["run", str(path), "--out", str(tmp_path / "out"), "--jobs", "1", "--quiet"]
    )
    assert result.exit_code == 1
    assert f"{path}: the run was stopped at" in result.stderr
    assert "--set max_events=N" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "runs.csv").exists()
