"""Delivery semantics as strategies that the producer, broker and consumers consult.

Each semantics is one frozen value saying what every component does differently; no component
compares semantics names. A fourth semantics (say, at-least-once with consumer dedup only) is
one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Semantics:
    name: str
    producer_retries: bool
    """The producer keeps a message until the broker acks it and resends after ``ack_timeout``;
    the application waits for that ack (the publish latency)."""
    idempotent_publish: bool
    """Every attempt carries the same idempotency id (or producer sequence number) and the
    broker drops copies it has already stored."""
    ack_before_process: bool
    """The consumer acks (commits) on receipt, before applying the effect."""
    broker_redelivers: bool
    """The broker resends a copy whose consumer ack did not come back in time."""
    consumer_dedup: bool
    """The consumer looks each message id up in its processed-id store before applying it."""


AT_MOST_ONCE = Semantics(
    "at-most-once",
    producer_retries=False,
    idempotent_publish=False,
    ack_before_process=True,
    broker_redelivers=False,
    consumer_dedup=False,
)
AT_LEAST_ONCE = Semantics(
    "at-least-once",
    producer_retries=True,
    idempotent_publish=False,
    ack_before_process=False,
    broker_redelivers=True,
    consumer_dedup=False,
)
EXACTLY_ONCE = Semantics(
    "exactly-once",
    producer_retries=True,
    idempotent_publish=True,
    ack_before_process=False,
    broker_redelivers=True,
    consumer_dedup=True,
)

SEMANTICS: dict[str, Semantics] = {s.name: s for s in (AT_MOST_ONCE, AT_LEAST_ONCE, EXACTLY_ONCE)}
