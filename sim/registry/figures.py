"""The figures a run reports (SPEC section 2, and section 3 for architecture comparisons):
one entry per ``runs.csv`` column, with what it means and how a chart's axis names it.

The loss and duplicate cause columns (``lost_<cause>``, ``dup_<cause>``) follow the cause
registries and are not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.registry.base import Registry

LATENCY_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
"""The latency percentiles every delivery run reports (``latency_p50`` ...)."""


@dataclass(frozen=True)
class Figure:
    """One figure a run reports: its name in the tables, what it means and its unit."""

    name: str
    description: str
    unit: str
    """``messages``, ``share`` (of 1; charts show it in percent), ``seconds`` or ``count``."""
    label: str = ""
    """How a chart's axis names it (empty: the name, spaced)."""

    @property
    def percent(self) -> bool:
        """Whether charts show the figure in percent (a share of 1)."""
        return self.unit == "share"

    @property
    def axis(self) -> str:
        """How a chart's axis names the figure."""
        return self.label or self.name.replace("_", " ")


def _latencies(prefix: str, what: str, label: str) -> list[Figure]:
    return [
        Figure(f"{prefix}_mean", f"{what}: mean", "seconds", f"mean {label} (s)"),
        *(
            Figure(
                f"{prefix}_{q}",
                f"{what}: {int(level * 1000) / 10:g}th percentile",
                "seconds",
                f"{q} {label} (s)" if q != "p50" else f"median {label} (s)",
            )
            for q, level in LATENCY_PERCENTILES.items()
        ),
    ]


DELIVERY_FIGURES: Registry[Figure] = Registry(
    "figure",
    [
        Figure("produced", "messages created and accepted by a producer", "messages"),
        Figure(
            "refused",
            "messages the application handed over while its producer was down (not produced)",
            "messages",
        ),
        Figure(
            "eligible",
            "produced messages this group should apply (pattern and join_at decide)",
            "messages",
        ),
        Figure("delivered", "eligible messages whose effect was applied at least once", "messages"),
        Figure(
            "pending",
            "eligible messages still in the system at the end, neither delivered "
            "nor lost (non-zero: drain was too short)",
            "messages",
            "pending at the end (messages)",
        ),
        Figure(
            "lost",
            "eligible - delivered - pending - dead_lettered: no copy of them exists any more",
            "messages",
        ),
        Figure(
            "dead_lettered",
            "eligible messages that ended in the group's dead-letter queue, never applied",
            "messages",
            "dead-lettered (messages)",
        ),
        Figure(
            "dead_lettered_after_apply",
            "messages dead-lettered after their effect was applied (counted as delivered)",
            "messages",
        ),
        Figure(
            "duplicates", "effect applications beyond the first, summed over messages", "messages"
        ),
        Figure(
            "broker_duplicates", "copies the broker stored beyond each message's first", "messages"
        ),
        Figure("loss_rate", "lost / eligible", "share", "lost (% of eligible messages)"),
        Figure(
            "dup_rate", "duplicates / eligible", "share", "duplicate applications (% of eligible)"
        ),
        Figure(
            "broker_dup_rate",
            "broker_duplicates / produced",
            "share",
            "broker duplicates (% of produced)",
        ),
        Figure(
            "dead_letter_rate",
            "dead_lettered / eligible",
            "share",
            "dead-lettered (% of eligible messages)",
        ),
        Figure(
            "reordered",
            "effect applications of a message whose sequence number is below "
            "one already applied from the same producer",
            "messages",
        ),
        *_latencies("latency", "end-to-end latency, created to first effect", "end-to-end latency"),
        *_latencies(
            "publish_latency",
            "publish latency, created to the producer seeing the "
            "ack (0 under at-most-once: the application is told at once)",
            "publish latency",
        ),
        Figure("attempts", "publish attempts sent by every producer", "count"),
        Figure(
            "redeliveries",
            "copies the broker sent this group again (redelivered after a "
            "deadline, or re-read after a rewind)",
            "count",
        ),
        Figure(
            "wire_messages",
            "messages on the wire: publishes and publish acks of the run, "
            "deliveries and consumer acks of this group",
            "count",
        ),
        Figure(
            "broker_deduplicated",
            "publish attempts the broker recognised as stored and dropped (idempotent publish)",
            "count",
        ),
        Figure(
            "consumer_deduplicated",
            "copies the group's processed-id store recognised and skipped",
            "count",
        ),
        Figure(
            "publish_rejected", "negative acks: publishes refused for capacity or order", "count"
        ),
        Figure("producer_crashes", "producer crashes in the run", "count"),
        Figure("broker_crashes", "broker crashes in the run", "count"),
        Figure("consumer_crashes", "crashes of this group's consumer instances", "count"),
    ],
)
"""The figures of a delivery study, in ``runs.csv`` column order (before the cause columns)."""

ARCHITECTURE_FIGURES: Registry[Figure] = Registry(
    "architecture figure",
    [
        Figure("requests", "user requests made", "count"),
        Figure("succeeded", "requests the user was told succeeded", "count"),
        Figure(
            "success_rate",
            "succeeded / requests (the availability the user sees)",
            "share",
            "requests that succeeded (%)",
        ),
        Figure(
            "user_latency_mean",
            "the user's wait, mean over answered requests",
            "seconds",
            "mean user latency (s)",
        ),
        Figure("user_latency_p50", "the user's wait, median", "seconds", "median user latency (s)"),
        Figure(
            "user_latency_p90",
            "the user's wait, 90th percentile",
            "seconds",
            "p90 user latency (s)",
        ),
        Figure(
            "user_latency_p99",
            "the user's wait, 99th percentile",
            "seconds",
            "p99 user latency (s)",
        ),
        Figure(
            "inconsistent", "requests some services applied and some never did, at the end", "count"
        ),
        Figure(
            "inconsistent_rate", "inconsistent / requests", "share", "inconsistent requests (%)"
        ),
        Figure(
            "unsettled",
            "requests still propagating at the end",
            "count",
            "still propagating at the end (requests)",
        ),
        Figure(
            "agree_time_mean",
            "time until every service has the change, mean over the requests all applied",
            "seconds",
            "mean time until all agree (s)",
        ),
        Figure(
            "agree_time_p50",
            "time until every service has the change, median",
            "seconds",
            "median time until all agree (s)",
        ),
        Figure(
            "agree_time_p99",
            "time until every service has the change, 99th percentile",
            "seconds",
            "p99 time until all agree (s)",
        ),
        Figure(
            "duplicates",
            "applications beyond the first downstream",
            "count",
            "duplicate applications (per run)",
        ),
    ],
)
"""The figures of an architecture comparison, per approach, in ``runs.csv`` column order."""
