"""The figures of SPEC section 2, from what happened to each message: one definition of each.

Whoever watched a run (the simulator's ledger, or the harness of ``dsim calibrate`` watching a
real broker) describes it in the same per-message arrays, :class:`RunFacts` and one
:class:`GroupFacts` per consumer group; :func:`figures` turns them into one row per group.
A figure therefore cannot mean one thing for a simulated run and another for a real one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.registry.figures import DELIVERY_FIGURES, LATENCY_PERCENTILES

PERCENTILES = LATENCY_PERCENTILES

SHARED_COUNTS = (
    "refused",
    "attempts",
    "broker_deduplicated",
    "publish_rejected",
    "producer_crashes",
    "broker_crashes",
)
"""Counts of the whole run (the same in every group's row)."""
GROUP_COUNTS = (
    "reordered",
    "redeliveries",
    "wire_messages",
    "consumer_deduplicated",
    "consumer_crashes",
)
"""Counts of one consumer group."""

FIGURES = [
    *DELIVERY_FIGURES.names,
    *(c.column for c in LOSS_CAUSES),
    *(c.column for c in DUP_CAUSES),
]
"""Every per-group figure of a run, in ``runs.csv`` column order (SPEC section 2 and extras)."""

DEAD_LETTERED, DEAD_LETTERED_AFTER_APPLY = 1, 2
"""How a message's copy reached its group's dead-letter queue (``GroupFacts.dead_letter``)."""


@dataclass
class GroupFacts:
    """What happened to every message in one consumer group (arrays indexed by message)."""

    name: str
    eligible: np.ndarray
    """The group should apply the message (the pattern and ``join_at`` decide)."""
    effects: np.ndarray
    """How many times the group's effect store applied the message."""
    first_effect: np.ndarray
    """When it was first applied (NaN: never)."""
    alive: np.ndarray
    """A copy of it still exists at the end (in a retry loop, the broker or a consumer)."""
    cause: np.ndarray | None = None
    """The :class:`~sim.registry.causes.Cause` of each loss; None where nobody can know it
    (a real broker's run), which leaves the ``lost_<cause>`` figures undefined."""
    dup_causes: Sequence[int] | None = None
    """Duplicates per :class:`~sim.registry.causes.DupCause` (indexed by its value)."""
    counts: Mapping[str, float] = field(default_factory=dict)
    """The :data:`GROUP_COUNTS` (a missing one is undefined: NaN)."""
    dead_letter: np.ndarray | None = None
    """Whether a copy of the message ended in the group's dead-letter queue: 0 never,
    :data:`DEAD_LETTERED` before its effect was applied, :data:`DEAD_LETTERED_AFTER_APPLY`
    after; None when nothing was dead-lettered."""

    @cached_property
    def delivered(self) -> np.ndarray:
        """Eligible and applied at least once."""
        return self.eligible & (self.effects > 0)

    @cached_property
    def dead_lettered(self) -> np.ndarray:
        """Eligible, never applied, and in the dead-letter queue: neither lost nor pending."""
        if self.dead_letter is None:
            return np.zeros(len(self.eligible), dtype=bool)
        return self.eligible & ~self.delivered & (self.dead_letter > 0)

    @cached_property
    def dead_lettered_after_apply(self) -> np.ndarray:
        """Dead-lettered once its effect existed: delivered, and counted so."""
        if self.dead_letter is None:
            return np.zeros(len(self.eligible), dtype=bool)
        return self.eligible & (self.dead_letter == DEAD_LETTERED_AFTER_APPLY)

    @cached_property
    def pending(self) -> np.ndarray:
        """Eligible, not applied yet, and still alive somewhere (it may yet be delivered)."""
        return self.eligible & ~self.delivered & ~self.dead_lettered & self.alive

    @cached_property
    def lost(self) -> np.ndarray:
        """Eligible, never applied, and no copy left anywhere."""
        return self.eligible & ~self.delivered & ~self.dead_lettered & ~self.alive


@dataclass
class RunFacts:
    """What happened to every message of one run, before and at the broker."""

    created: np.ndarray
    """When the application handed each produced message over (seconds from the start)."""
    stored: np.ndarray
    """Copies of each message the broker stored."""
    acked_at: np.ndarray | None
    """When the producer saw the broker's ack (NaN: never); None when the application is told
    "success" at once (at-most-once), which makes every publish latency 0."""
    groups: list[GroupFacts]
    counts: Mapping[str, float] = field(default_factory=dict)
    """The :data:`SHARED_COUNTS` (a missing one is undefined: NaN)."""


def describe(
    prefix: str, values: np.ndarray, percentiles: Sequence[str] = tuple(PERCENTILES)
) -> dict[str, float]:
    """``<prefix>_mean`` and ``<prefix>_<percentile>`` (``p50``, ``p99`` ...) of ``values``
    (NaN when there are none)."""
    if len(values) == 0:
        return {f"{prefix}_mean": math.nan, **{f"{prefix}_{q}": math.nan for q in percentiles}}
    qs = np.quantile(values, [PERCENTILES[q] for q in percentiles])
    return {
        f"{prefix}_mean": float(values.mean()),
        **{f"{prefix}_{q}": float(v) for q, v in zip(percentiles, qs, strict=True)},
    }


def publish_latencies(run: RunFacts) -> np.ndarray:
    """Seconds from creation to the producer's ack, of every acked message."""
    if run.acked_at is None:
        return np.zeros(len(run.created))  # the application is told "success" at once
    return (run.acked_at - run.created)[~np.isnan(run.acked_at)]


def end_to_end_latencies(run: RunFacts, group: GroupFacts) -> np.ndarray:
    """Seconds from creation to the first effect, of every delivered message."""
    return (group.first_effect - run.created)[group.delivered]


def figures(run: RunFacts) -> list[dict[str, Any]]:
    """One row of :data:`FIGURES` per consumer group, each with its ``group`` name first."""
    produced = len(run.created)
    broker_duplicates = int(np.maximum(run.stored - 1, 0).sum())
    shared: dict[str, Any] = {
        "produced": produced,
        "broker_duplicates": broker_duplicates,
        "broker_dup_rate": broker_duplicates / produced if produced else 0.0,
        **{k: run.counts.get(k, math.nan) for k in SHARED_COUNTS},
        **describe("publish_latency", publish_latencies(run)),
    }
    rows = []
    for group in run.groups:
        eligible = int(group.eligible.sum())
        lost = int(group.lost.sum())
        dead_lettered = int(group.dead_lettered.sum())
        duplicates = int(np.maximum(group.effects[group.eligible] - 1, 0).sum())
        row = {
            **shared,
            "eligible": eligible,
            "delivered": int(group.delivered.sum()),
            "pending": int(group.pending.sum()),
            "lost": lost,
            "dead_lettered": dead_lettered,
            "dead_letter_rate": dead_lettered / eligible if eligible else 0.0,
            "dead_lettered_after_apply": int(group.dead_lettered_after_apply.sum()),
            "duplicates": duplicates,
            "loss_rate": lost / eligible if eligible else 0.0,
            "dup_rate": duplicates / eligible if eligible else 0.0,
            **describe("latency", end_to_end_latencies(run, group)),
            **{k: group.counts.get(k, math.nan) for k in GROUP_COUNTS},
            **_loss_causes(group),
            **_dup_causes(group),
        }
        rows.append({"group": group.name, **{k: row[k] for k in FIGURES}})
    return rows


def _loss_causes(group: GroupFacts) -> dict[str, float]:
    if group.cause is None:
        return {c.column: math.nan for c in LOSS_CAUSES}
    counts = np.bincount(group.cause[group.lost], minlength=len(LOSS_CAUSES) + 1)
    return {c.column: int(counts[c.code]) for c in LOSS_CAUSES}


def _dup_causes(group: GroupFacts) -> dict[str, float]:
    if group.dup_causes is None:
        return {c.column: math.nan for c in DUP_CAUSES}
    return {c.column: group.dup_causes[c.code] for c in DUP_CAUSES}


def check(rows: list[dict[str, Any]]) -> None:
    """The invariants of SPEC section 2, for a run whose every loss and duplicate has a cause:
    ``eligible = delivered + lost + pending + dead_lettered`` and the causes add up. Raises
    AssertionError."""
    for row in rows:
        name = row["group"]
        outcomes = row["delivered"] + row["lost"] + row["pending"] + row["dead_lettered"]
        if row["eligible"] != outcomes:
            raise AssertionError(
                f"eligible != delivered + lost + pending + dead_lettered in group {name!r}"
            )
        if sum(row[c.column] for c in LOSS_CAUSES) != row["lost"]:
            raise AssertionError(f"losses without a cause in group {name!r}")
        if sum(row[c.column] for c in DUP_CAUSES) != row["duplicates"]:
            raise AssertionError(f"duplicates without a cause in group {name!r}")
