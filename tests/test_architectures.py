"""Chain, orchestration or events (SPEC section 3) against theory and the seed's story."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.engine.architectures import Comparison
from sim.registry.approaches import APPROACHES
from tests.conftest import ALL_PATTERNS, merge, scenario, within


def exp(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def services(
    means: list[float], failures: list[float] | None = None, critical: list[bool] | None = None
) -> list[dict]:
    failures = failures or [0.0] * len(means)
    critical = critical or [True] * len(means)
    return [
        {"name": f"s{i}", "latency": exp(m), "failure": p, "critical": c}
        for i, (m, p, c) in enumerate(zip(means, failures, critical, strict=True))
    ]


BASE = {
    "duration": 100.0,
    "drain": 20.0,
    "workload": {"rate": 50.0},
    "delivery": {"pattern": "pubsub", "ack_deadline": 30.0},
    "broker": {"prefetch": 20},
}


def arch(**architecture) -> sim.Scenario:
    extra = architecture.pop("extra", {})
    return scenario(**merge(BASE, {"architecture": architecture, **extra}))


def run(s: sim.Scenario, approach: str, seed: int = 1) -> dict:
    return Comparison(s, seed, approach).run()


def test_chain_latency_is_the_sum_of_the_service_means() -> None:
    means = [0.01, 0.02, 0.03]
    result = run(arch(services=services(means), call_timeout=100.0), "chain")
    user = result["user"]
    within(user.mean(), sum(means), math.sqrt(sum(m * m for m in means) / len(user)))
    assert result["figures"]["success_rate"] == 1.0


def test_orchestration_latency_is_the_maximum_of_the_calls() -> None:
    means = [0.01, 0.02, 0.05]
    rates = [1 / m for m in means]
    user = run(arch(services=services(means), call_timeout=100.0), "orchestration")["user"]
    n = len(user)
    # E[max] of independent exponentials, by inclusion-exclusion over subsets
    expected = sum(
        (-1) ** (len(subset) + 1) / sum(subset)
        for k in range(1, 4)
        for subset in _subsets(rates, k)
    )
    variance = float(np.var(user))
    within(user.mean(), expected, math.sqrt(variance / n))
    for t in (0.02, 0.05, 0.1, 0.2):  # the whole distribution: P(max <= t)
        cdf = math.prod(1 - math.exp(-r * t) for r in rates)
        within(float((user <= t).mean()), cdf, math.sqrt(cdf * (1 - cdf) / n))


def _subsets(items: list[float], k: int) -> list[list[float]]:
    from itertools import combinations

    return [list(c) for c in combinations(items, k)]


def test_orchestration_success_is_the_product_of_availabilities() -> None:
    failures = [0.05, 0.1, 0.02]
    figures = run(
        arch(services=services([0.01] * 3, failures), call_timeout=100.0), "orchestration"
    )["figures"]
    expected = math.prod(1 - p for p in failures)
    n = figures["requests"]
    within(figures["success_rate"], expected, math.sqrt(expected * (1 - expected) / n))


def test_only_critical_failures_deny_and_the_rest_is_repaired() -> None:
    failures, critical = [0.05, 0.2, 0.3], [True, True, False]
    s = arch(
        services=services([0.01] * 3, failures, critical),
        require="critical",
        repair_interval=0.5,
        call_timeout=100.0,
    )
    figures = run(s, "orchestration")["figures"]
    expected = (1 - 0.05) * (1 - 0.2)
    n = figures["requests"]
    within(figures["success_rate"], expected, math.sqrt(expected * (1 - expected) / n))
    # repaired non-critical calls agree later than the user was answered, and nobody is left
    assert figures["agree_time_p99"] >= 0.5 > figures["user_latency_p99"]
    assert figures["unsettled"] == 0


def test_a_failed_chain_leaves_services_inconsistent_unless_compensated() -> None:
    spec = services([0.01] * 3, [0.0, 0.0, 0.2])
    plain = run(arch(services=spec, call_timeout=100.0), "chain")["figures"]
    undone = run(arch(services=spec, call_timeout=100.0, compensate=True), "chain")
    n = plain["requests"]
    within(plain["inconsistent_rate"], 0.2, math.sqrt(0.16 / n))
    assert undone["figures"]["inconsistent"] == 0
    # the failed requests waited for two more calls: the undo of s1 and of s0
    assert undone["figures"]["user_latency_mean"] > plain["user_latency_mean"]


def test_a_down_service_costs_the_caller_the_whole_timeout() -> None:
    s = arch(
        services=services([0.01, 0.01]),
        call_timeout=0.5,
        extra={"faults": [{"target": "service:s1", "at": 10.0, "duration": 20.0}]},
    )
    figures = run(s, "orchestration")["figures"]
    assert figures["user_latency_p99"] == pytest.approx(0.5)
    within(1 - figures["success_rate"], 0.2, 0.03)  # 20 s of 100


def test_event_driven_user_latency_ignores_everything_downstream() -> None:
    quiet = arch(services=services([0.02, 0.05, 0.1]))
    slow = arch(
        services=services([0.02, 0.5, 1.0], [0.0, 0.1, 0.2]),
        extra={
            "faults": [
                {"target": "service:s2", "at": 10.0, "duration": 30.0},
                {"target": "service:s1", "mtbf": 5.0, "mttr": 1.0},
            ]
        },
    )
    a, b = run(quiet, "event-driven"), run(slow, "event-driven")
    np.testing.assert_array_equal(a["user"], b["user"])
    assert b["figures"]["agree_time_p99"] > 10 * a["figures"]["agree_time_p99"]


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_event_driven_exactly_once_reaches_every_service_exactly_once(pattern: str) -> None:
    s = arch(
        services=services([0.02, 0.05, 0.05, 0.1], [0.0, 0.05, 0.1, 0.02]),
        extra={
            "delivery": {"semantics": "exactly-once", "pattern": pattern, "ack_deadline": 5.0},
            "network": {"loss": 0.05, "duplication": 0.02},
            "faults": [{"target": "service:s3", "at": 20.0, "duration": 10.0}],
            "drain": 60.0,
        },
    )
    comparison = Comparison(s, 1, "event-driven")
    figures = comparison.run()["figures"]
    assert figures["success_rate"] == 1.0
    assert (figures["inconsistent"], figures["unsettled"], figures["duplicates"]) == (0, 0, 0)
    ledger = comparison.delivery.ledger
    for g in range(3):
        effects = np.array(ledger.effects[g][: len(ledger)], dtype=np.int32)
        assert (effects == 1).all()


def test_the_approaches_share_requests_and_outages() -> None:
    s = arch(
        services=services([0.02, 0.05]),
        extra={"faults": [{"target": "service:s1", "mtbf": 10.0, "mttr": 2.0}]},
    )
    results = {a: run(s, a) for a in APPROACHES.names}
    counts = {a: r["figures"]["requests"] for a, r in results.items()}
    assert len(set(counts.values())) == 1
    windows = [
        [(w.start, w.end) for w in r["windows"] if w.target == "service:s1"]
        for r in results.values()
    ]
    assert windows[0] and windows[0] == windows[1] == windows[2]


def test_an_architecture_refuses_consumer_groups_and_unknown_services() -> None:
    with pytest.raises(sim.ScenarioError) as info:
        scenario(architecture={"services": services([0.01, 0.01])}, consumers=[{"name": "x"}])
    assert info.value.problems[0].path == "consumers"
    with pytest.raises(sim.ScenarioError) as info:
        scenario(
            architecture={"services": services([0.01, 0.01])},
            faults=[{"target": "service:nope", "at": 1.0, "duration": 1.0}],
        )
    assert "did you mean 'service:s1'" in info.value.problems[0].message


def test_the_subscription_story_runs_and_draws(tmp_path) -> None:
    from typer.testing import CliRunner

    from sim.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "subscription",
            "--out",
            str(out),
            "--replications",
            "2",
            "--jobs",
            "1",
            "--set",
            "duration=20",
            "--set",
            "faults[0].at=5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "event-driven" in result.stdout and "inconsistent" in result.stdout
    names = {p.name for p in (out / "charts").iterdir()}
    assert names == {"architectures.png", "latency.png", "sweep_recommendations_down_s.png"}
    runs = sim.run(sim.load_scenario(out / "scenario.toml"), jobs=1).runs
    assert set(runs["approach"]) == set(APPROACHES.names)
