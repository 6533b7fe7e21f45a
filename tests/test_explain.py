"""Explaining messages: exact stories on tiny scenarios, a trace that reproduces the tallies,
and representatives of every cause."""

from __future__ import annotations

import pytest

import sim
from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.report.explain import representatives, story
from tests.conftest import ALL_PATTERNS, ALL_SEMANTICS, const, merge, scenario

TINY = {
    "duration": 1.0,
    "drain": 5.0,
    "workload": {"arrival": "constant", "rate": 1.0},  # one message, at t = 0
    "network": {"latency": const(0.01)},
    "broker": {"service_time": const(0.001)},
    "delivery": {"backoff": {"kind": "constant", "base": 0.1, "jitter": False}},
    "consumers": [{"name": "billing", "service_time": const(0.005)}],
}


def traced(**extra) -> sim.RunResult:
    return sim.simulate(scenario(**merge(TINY, extra)), 1, trace=True)


def test_a_lost_ack_and_a_short_dedup_window_tell_a_duplicate_story() -> None:
    """The issue's own example: the ack of attempt 1 is lost, attempt 2 comes after the
    dedup window, the broker stores it again and billing applies both."""
    result = traced(
        delivery={"semantics": "exactly-once", "dedup_window": 0.1, "atomic_dedup": True},
        faults=[{"target": "link:publish_ack", "kind": "partition", "at": 0.0, "duration": 0.05}],
        consumers=[{"name": "billing", "service_time": const(0.005)}],
    )
    text = story(result.trace, 0)
    assert text.startswith(
        "Message 0: created at 0.000 s by producer:0; "
        "attempt 1 sent at 0.000 s; stored at 0.011 s; "
    )
    assert "the broker's ack of attempt 1 was lost on the publish-ack link" in text
    assert "no ack for attempt 1 within the timeout (0.200 s); attempt 2 sent at 0.300 s" in text
    assert (
        "stored again at 0.311 s (copy 2, a broker duplicate: a retry that came after "
        "the broker's dedup window)"
    ) in text
    assert "the producer saw the ack of attempt 2 at 0.321 s (publish latency 0.321 s)" in text
    # exactly-once's consumer store still catches it
    assert "billing found it in its processed-id store at 0.326 s and skipped it" in text
    assert text.endswith("Outcome: billing: applied once.")


def test_at_least_once_applies_the_second_copy_and_says_why() -> None:
    result = traced(
        faults=[{"target": "link:publish_ack", "kind": "partition", "at": 0.0, "duration": 0.05}]
    )
    text = story(result.trace, 0)
    assert (
        "applied again by billing (consumer:billing:0) at 0.326 s: a duplicate caused by "
        "a lost publish ack (the producer resent a stored message)"
    ) in text
    assert text.endswith(
        "Outcome: billing: applied 2 times, a duplicate caused by a lost "
        "publish ack (the producer resent a stored message)."
    )
    assert result.rows[0]["dup_publish_ack_lost"] == 1


def test_a_lost_message_says_where_it_was_lost() -> None:
    result = traced(
        delivery={"semantics": "at-most-once"},
        faults=[{"target": "link:publish", "kind": "partition", "at": 0.0, "duration": 0.5}],
    )
    assert story(result.trace, 0) == (
        "Message 0: created at 0.000 s by producer:0; attempt 1 sent at 0.000 s; "
        "attempt 1 was lost on the publish link.\n"
        "Outcome: billing: lost, because its publish was lost on the network."
    )


def test_a_crash_story() -> None:
    result = traced(
        delivery={"semantics": "at-most-once", "pattern": "pubsub"},
        faults=[{"target": "consumer:billing", "at": 0.015, "duration": 0.1}],
    )
    text = story(result.trace, 0)
    assert "dropped at 0.021 s by consumer:billing:0, which was down" in text
    assert text.endswith("billing: lost, because a consumer crashed holding it.")


TWO_GROUPS = [
    {"name": "billing", "service_time": const(0.005)},
    {"name": "analytics", "service_time": const(0.02)},
]


def test_pubsub_deletes_a_message_once_every_subscription_acked_it() -> None:
    """Stored at 0.011 s (10 ms link, 1 ms broker); billing applies at 0.011 + 0.010 + 0.005,
    analytics at 0.011 + 0.010 + 0.020 = 0.041 s, whose ack reaches the broker 10 ms later."""
    result = traced(delivery={"pattern": "pubsub"}, consumers=TWO_GROUPS)
    assert story(result.trace, 0) == (
        "Message 0: created at 0.000 s by producer:0; attempt 1 sent at 0.000 s; "
        "stored at 0.011 s; sent to billing at 0.011 s; sent to analytics at 0.011 s; "
        "the producer saw the ack of attempt 1 at 0.021 s (publish latency 0.021 s); "
        "applied by billing (consumer:billing:0) at 0.026 s; "
        "applied by analytics (consumer:analytics:0) at 0.041 s; "
        "deleted at 0.051 s, every subscription having acked it.\n"
        "Outcome: billing: applied once; analytics: applied once."
    )


def test_a_log_keeps_what_every_group_has_read() -> None:
    result = traced(delivery={"pattern": "streaming"}, consumers=TWO_GROUPS)
    assert "deleted" not in story(result.trace, 0)


def test_an_unknown_message_is_refused() -> None:
    with pytest.raises(KeyError):
        story(traced().trace, 99)


BUSY = {
    "duration": 20.0,
    "drain": 10.0,
    "workload": {"rate": 100.0},
    "broker": {"prefetch": 10},
    "network": {"loss": 0.05, "duplication": 0.01},
    "consumers": [
        {
            "name": "a",
            "crash_after_process": 0.005,
            "crash_before_process": 0.005,
            "restart_time": const(0.05),
        },
        {"name": "b", "join_at": 5.0},
    ],
    "faults": [{"target": "broker", "at": 8.0, "duration": 0.5}],
}


@pytest.mark.parametrize("semantics", ALL_SEMANTICS)
@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_the_trace_reproduces_the_tallies(semantics: str, pattern: str) -> None:
    result = sim.simulate(
        scenario(**merge(BUSY, {"delivery": {"semantics": semantics, "pattern": pattern}})),
        3,
        trace=True,
    )
    trace = result.trace
    for row in result.rows:
        mine = trace[trace["group"] == row["group"]]
        applied = mine[mine["event"] == "applied"]
        outcome = mine[mine["event"] == "outcome"]
        assert applied["message"].nunique() == row["delivered"]
        assert (applied["detail"] > 1).sum() == row["duplicates"]
        assert len(outcome) == row["eligible"]
        assert (outcome["detail"] == 2).sum() == row["lost"]
        assert (outcome["detail"] == 1).sum() == row["pending"]
        for cause in LOSS_CAUSES:
            name = cause.name.lower()
            assert ((outcome["detail"] == 2) & (outcome["cause"] == name)).sum() == row[
                cause.column
            ]
        for cause in DUP_CAUSES:
            name = cause.name.lower()
            assert ((applied["detail"] > 1) & (applied["cause"] == name)).sum() == row[cause.column]
        # the causes add up
        assert sum(row[c.column] for c in LOSS_CAUSES) == row["lost"]
        assert sum(row[c.column] for c in DUP_CAUSES) == row["duplicates"]


def test_every_lost_story_names_its_cause_among_its_events() -> None:
    result = sim.simulate(
        scenario(**merge(BUSY, {"delivery": {"semantics": "at-most-once", "pattern": "pubsub"}})),
        3,
        trace=True,
    )
    evidence = {
        "publish_lost": "lost on the publish link",
        "broker_crash": "broker",
        "deliver_lost": "lost on the deliver link",
        "consumer_crash": ("crashed at", "which was down"),
    }
    table = representatives(result.trace, "lost")
    assert set(table["cause"]) <= set(evidence)
    assert table["count"].sum() == sum(r["lost"] for r in result.rows)
    for cause, example in zip(table["cause"], table["example"], strict=True):
        text = story(result.trace, int(example))
        words = evidence[cause]
        assert any(w in text for w in ((words,) if isinstance(words, str) else words)), text


def test_representatives_of_duplicates_count_each_cause() -> None:
    result = sim.simulate(
        scenario(**merge(BUSY, {"delivery": {"pattern": "pubsub"}})), 3, trace=True
    )
    table = representatives(result.trace, "duplicated")
    assert table["count"].sum() == sum(r["duplicates"] for r in result.rows)
    assert list(table["count"]) == sorted(table["count"], reverse=True)
    for cause, example in zip(table["cause"], table["example"], strict=True):
        assert "applied again" in story(result.trace, int(example)), cause


def test_tracing_changes_no_figure() -> None:
    s = scenario(**BUSY)
    plain, traced_run = sim.simulate(s, 5), sim.simulate(s, 5, trace=True)
    assert plain.rows == traced_run.rows
    assert plain.trace is None and len(traced_run.trace) > 10 * plain.rows[0]["produced"]


# ---------------------------------------------------------------------------------------------
# Sequence diagrams: one mark per event that deserves one


def marks(ax, marker: str, colour: str | None = None) -> int:
    """Points drawn with ``marker`` (and ``colour``) on the axes, legend excluded."""
    from matplotlib.colors import to_hex

    return sum(
        len(line.get_xdata())
        for line in ax.get_lines()
        if line.get_marker() == marker and (colour is None or to_hex(line.get_color()) == colour)
    )


RED = "#d62728"


def test_a_message_diagram_marks_its_own_events_only() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.report.plots import sequence_diagram

    busy = scenario(**merge(BUSY, {"delivery": {"pattern": "pubsub"}}))
    trace = sim.simulate(busy, 3, trace=True).trace
    struck = trace[(trace["event"] == "crash") & (trace["message"] >= 0)]
    lost = trace[trace["event"] == "lost"]
    message = int(struck["message"].iloc[0])
    mine = trace[trace["message"] == message]
    fig, ax = plt.subplots()
    sequence_diagram(trace, message=message, ax=ax)
    crashes = mine["event"].isin(["crash", "wiped"]).sum()
    assert crashes >= 1
    assert marks(ax, "X") == crashes  # not every crash of the run: only the ones it suffered
    applied = mine[mine["event"] == "applied"]
    assert marks(ax, "o", "#000000") == (applied["detail"] == 1).sum()
    assert marks(ax, "o", RED) == (applied["detail"] > 1).sum()
    assert marks(ax, "x") <= (lost["message"] == message).sum()
    plt.close(fig)


def test_a_slice_diagram_marks_every_component_crash_in_it() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.report.plots import sequence_diagram

    busy = scenario(**merge(BUSY, {"delivery": {"pattern": "pubsub"}}))
    trace = sim.simulate(busy, 3, trace=True).trace
    crashes = trace[(trace["event"] == "crash") & (trace["message"] < 0)]
    start, end = float(crashes["time"].iloc[0]) - 0.05, float(crashes["time"].iloc[0]) + 0.3
    fig, ax = plt.subplots()
    sequence_diagram(trace, start=start, end=end, ax=ax)
    inside = crashes[(crashes["time"] >= start) & (crashes["time"] <= end)]
    assert marks(ax, "X") == len(inside) >= 1
    plt.close(fig)


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_a_poison_message_is_dead_lettered_after_its_deliveries(pattern: str) -> None:
    result = traced(
        workload={"arrival": "constant", "rate": 1.0, "poison": 1.0},
        delivery={"pattern": pattern, "max_deliveries": 3, "dead_letter": True},
    )
    text = story(result.trace, 0)
    assert text.count("a poison message: billing") == 3
    assert "dead-lettered after 3 deliveries to billing" in text
    assert text.endswith("Outcome: billing: dead-lettered after 3 deliveries, never applied.")
    assert result.rows[0]["dead_lettered"] == 1


def test_a_poison_message_without_a_dead_letter_queue_is_dropped_at_the_limit() -> None:
    result = traced(
        workload={"arrival": "constant", "rate": 1.0, "poison": 1.0},
        delivery={"pattern": "pubsub", "max_deliveries": 2},
    )
    text = story(result.trace, 0)
    assert "after 2 deliveries to billing (the delivery limit; no dead-letter queue)" in text
    assert text.endswith(f"billing: lost, because {LOSS_CAUSES.describe('delivery_limit')}.")


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_the_trace_reproduces_the_tallies_with_limits_and_poison(pattern: str) -> None:
    result = sim.simulate(
        scenario(
            **merge(
                BUSY,
                {
                    "workload": {"poison": 0.05},
                    "delivery": {"pattern": pattern, "max_deliveries": 2, "dead_letter": True},
                },
            )
        ),
        3,
        trace=True,
    )
    trace = result.trace
    for row in result.rows:
        outcome = trace[(trace["group"] == row["group"]) & (trace["event"] == "outcome")]
        assert (outcome["detail"] == 3).sum() == row["dead_lettered"] > 0
        assert (outcome["detail"] == 2).sum() == row["lost"]
