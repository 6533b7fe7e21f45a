"""Properties that hold for every scenario, checked over random small ones (hypothesis)."""

from __future__ import annotations

import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import simulate, validate
from sim.registry.semantics import SEMANTICS
from tests.conftest import ALL_PATTERNS, ALL_SEMANTICS, check_invariants

EXAMPLES = int(os.environ.get("DSIM_EXAMPLES", "120"))
"""Random scenarios per property; raise it (DSIM_EXAMPLES=3000) to search harder."""
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=float(os.environ.get("DSIM_DEADLINE_MS", "inf"))
    if os.environ.get("DSIM_DEADLINE_MS")
    else None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

seconds = st.floats(0.0005, 0.02)
probability = st.sampled_from([0.0, 0.0, 0.05, 0.2, 0.5])


def durations(low: float = 0.0005, high: float = 0.02) -> st.SearchStrategy[dict[str, Any]]:
    positive = max(low, 1e-4)  # exponential and lognormal need a positive mean or median
    return st.one_of(
        st.builds(lambda v: {"dist": "constant", "value": v}, st.floats(low, high)),
        st.builds(lambda m: {"dist": "exponential", "mean": m}, st.floats(positive, high)),
        st.builds(
            lambda a, b: {"dist": "uniform", "low": min(a, b), "high": max(a, b)},
            st.floats(0.0, high),
            st.floats(0.0, high),
        ),
        st.builds(
            lambda m, s: {"dist": "lognormal", "median": m, "sigma": s},
            st.floats(positive, high),
            st.floats(0.0, 1.0),
        ),
        st.builds(
            lambda m, s: {"dist": "normal", "mean": m, "sd": s},
            st.floats(0.0, high),
            st.floats(0.0, high),
        ),
    )


def link() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={"loss": probability, "duplication": probability, "latency": durations()}
    )


def fault(targets: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    def build(target: str, scheduled: bool, a: float, b: float) -> dict[str, Any]:
        kind = "partition" if target.startswith("link:") else "crash"
        when = {"at": a * 5, "duration": b} if scheduled else {"mtbf": 0.5 + a * 3, "mttr": b}
        return {"target": target, "kind": kind, **when}

    return st.builds(
        build, st.sampled_from(targets), st.booleans(), st.floats(0, 1), st.floats(0.01, 1.0)
    )


@st.composite
def scenarios(draw: st.DrawFn, **fixed: Any) -> dict[str, Any]:
    """A random valid scenario of a few simulated seconds, with ``fixed`` keys forced."""
    groups = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "instances": st.integers(1, 2),
                    "service_time": durations(),
                    "join_at": st.sampled_from([0.0, 0.0, 1.0, 3.0, 100.0]),
                    "start": st.sampled_from(["earliest", "latest"]),
                    "crash_before_process": probability,
                    "crash_after_process": probability,
                    "restart_time": durations(0.0, 0.3),
                    "mtbf": st.sampled_from([math.inf, math.inf, 1.0, 3.0]),
                    "mttr": st.floats(0.01, 0.5),
                }
            ),
            min_size=1,
            max_size=2,
        )
    )
    for i, g in enumerate(groups):
        g["name"] = f"g{i}"
    targets = [
        "broker",
        "producer",
        "producer:0",
        "link:publish",
        "link:publish_ack",
        "link:deliver",
        "link:consume_ack",
        *(f"consumer:{g['name']}" for g in groups),
    ]
    raw: dict[str, Any] = {
        "name": "property",
        "duration": draw(st.floats(0.0, 4.0)),
        "drain": draw(st.floats(0.0, 8.0)),
        "workload": {
            "producers": draw(st.integers(1, 2)),
            "arrival": draw(st.sampled_from(["poisson", "constant"])),
            "rate": draw(st.floats(0.0, 60.0)),
            "spikes": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "at": st.floats(0, 4),
                            "duration": st.floats(0, 1),
                            "rate": st.floats(0, 150),
                        }
                    ),
                    max_size=1,
                )
            ),
        },
        "delivery": {
            "semantics": draw(st.sampled_from(ALL_SEMANTICS)),
            "pattern": draw(st.sampled_from(ALL_PATTERNS)),
            "ack_timeout": draw(st.floats(0.02, 0.5)),
            "max_attempts": draw(st.sampled_from([0, 0, 1, 3])),
            "max_in_flight": draw(st.sampled_from([0, 0, 1, 5])),
            "backoff": {
                "kind": draw(st.sampled_from(["constant", "exponential"])),
                "base": draw(st.floats(0.01, 0.1)),
                "cap": draw(st.floats(0.01, 1.0)),
                "jitter": draw(st.booleans()),
            },
            "dedup": draw(st.sampled_from(["id", "sequence"])),
            "dedup_window": draw(st.sampled_from([math.inf, math.inf, 0.0, 0.3])),
            "atomic_dedup": draw(st.booleans()),
            "outbox": draw(st.sampled_from(["memory", "durable"])),
            "poll_interval": draw(st.sampled_from([0.0, 0.0, 0.05])),
        },
        "broker": {
            "servers": draw(st.integers(1, 2)),
            "service_time": draw(durations(0.0001, 0.005)),
            "capacity": draw(st.sampled_from([math.inf, math.inf, 0, 5, 50])),
            "durability": draw(st.sampled_from(["durable", "memory"])),
            "flush_interval": draw(st.sampled_from([0.0, 0.0, 0.2])),
            "retention": draw(st.sampled_from([math.inf, math.inf, 0.0, 0.5, 2.0])),
            "prefetch": draw(st.integers(1, 5)),
            "partitions": draw(st.integers(0, 3)),
        },
        "network": {
            "latency": draw(durations(0.0, 0.01)),
            "loss": draw(probability),
            "duplication": draw(probability),
            **{name: draw(link()) for name in ("publish", "publish_ack", "deliver", "consume_ack")},
        },
        "consumers": groups,
        "faults": draw(st.lists(fault(targets), max_size=2)),
    }
    for path, value in fixed.items():
        section, _, key = path.partition(".")
        if key:
            raw[section][key] = value
        else:
            raw[section] = value
    return raw


def rows(raw: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    result = simulate(validate(raw), seed)
    for row in result.rows:
        check_invariants(row)
    return result.rows


@SETTINGS
@given(scenarios(), st.integers(0, 2**32))
def test_every_message_is_delivered_lost_or_pending_and_every_loss_has_a_cause(raw, seed):
    rows(raw, seed)


def _no_duplication(raw: dict[str, Any]) -> dict[str, Any]:
    raw["network"]["duplication"] = 0.0
    for name in ("publish", "publish_ack", "deliver", "consume_ack"):
        raw["network"][name].pop("duplication", None)
    return raw


NEVER_RESENDING = [s.name for s in SEMANTICS if not s.producer_retries and not s.broker_redelivers]
RESENDING = [s.name for s in SEMANTICS if s.producer_retries and s.broker_redelivers]
DEDUPLICATING = [s.name for s in SEMANTICS if s.consumer_dedup]


@SETTINGS
@given(
    scenarios().map(_no_duplication),
    st.sampled_from(NEVER_RESENDING),
    st.integers(0, 2**32),
)
def test_a_semantics_that_never_resends_never_duplicates_without_network_duplication(
    raw, semantics, seed
):
    raw["delivery"]["semantics"] = semantics
    for row in rows(raw, seed):
        assert row["duplicates"] == 0


def _never_forgets(raw: dict[str, Any]) -> dict[str, Any]:
    """Unlimited attempts, a broker that keeps everything, and an outbox that survives."""
    raw["delivery"].update(max_attempts=0, outbox="durable")
    raw["broker"].update(
        durability="durable", flush_interval=0.0, retention=math.inf, capacity=math.inf
    )
    return raw


@SETTINGS
@given(scenarios().map(_never_forgets), st.sampled_from(RESENDING), st.integers(0, 2**32))
def test_resending_with_unlimited_attempts_and_a_durable_broker_never_loses(raw, semantics, seed):
    raw["delivery"]["semantics"] = semantics
    for row in rows(raw, seed):
        assert row["lost"] == 0


@st.composite
def limited_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random scenario with delivery limits, dead-letter queues, poison messages, periodic
    commits and rebalancing drawn too (issue 15)."""
    raw = draw(scenarios())
    raw["workload"]["poison"] = draw(st.sampled_from([0.0, 0.05, 0.3]))
    raw["delivery"]["max_deliveries"] = draw(st.sampled_from([0, 1, 3]))
    # a dead-letter queue takes what a limit ends: without a limit the schema refuses one
    raw["delivery"]["dead_letter"] = raw["delivery"]["max_deliveries"] > 0 and draw(st.booleans())
    for g in raw["consumers"]:
        g["commit_interval"] = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
        g["session_timeout"] = draw(st.sampled_from([math.inf, 0.2, 1.0]))
        g["rebalance_time"] = draw(st.sampled_from([0.0, 0.1]))
    return raw


@SETTINGS
@given(
    st.one_of(scenarios(), limited_scenarios()),
    st.sampled_from(DEDUPLICATING),
    st.integers(0, 2**32),
)
def test_a_processed_id_store_with_atomic_dedup_never_duplicates(raw, semantics, seed):
    """With or without delivery limits, dead letters, poison, periodic commits and rebalancing."""
    raw["delivery"].update(semantics=semantics, atomic_dedup=True, dedup_window=math.inf)
    for row in rows(raw, seed):
        assert row["duplicates"] == 0


@SETTINGS
@given(limited_scenarios(), st.integers(0, 2**32))
def test_every_message_is_delivered_lost_pending_or_dead_lettered(raw, seed):
    for row in rows(raw, seed):
        assert row["dead_lettered_after_apply"] <= row["delivered"]
        if not raw["delivery"]["dead_letter"]:
            assert row["dead_lettered"] == 0


@SETTINGS
@given(limited_scenarios().map(_never_forgets), st.sampled_from(RESENDING), st.integers(0, 2**32))
def test_without_a_delivery_limit_resending_never_loses_even_poison(raw, semantics, seed):
    raw["delivery"].update(semantics=semantics, max_deliveries=0, dead_letter=False)
    for row in rows(raw, seed):
        assert row["lost"] == 0 and row["dead_lettered"] == 0
