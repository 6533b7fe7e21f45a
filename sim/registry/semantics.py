"""Delivery semantics: what every component does differently, one entry per semantics.

Each entry is a set of flags the producer, the broker, the delivery patterns and the consumers
consult; no component compares semantics names. Adding a semantics is one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.registry.base import Registry, Style


@dataclass(frozen=True)
class Semantics:
    """One delivery semantics: its name and style, and the mechanisms the engine switches on
    for it."""

    name: str
    description: str
    style: Style
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

    def sequenced(self, dedup: str) -> bool:
        """Whether the broker deduplicates by producer sequence number: idempotent publish
        with the ``dedup = "sequence"`` mechanism (the producer then numbers its messages and
        holds a resend back behind its predecessor; the broker refuses a gap)."""
        return self.idempotent_publish and dedup == "sequence"


SEMANTICS: Registry[Semantics] = Registry(
    "semantics",
    [
        Semantics(
            "at-most-once",
            "The producer sends each message once and the consumer acks it on receipt: "
            "whatever a failure destroys stays lost, and nothing is applied twice.",
            Style("#d62728"),
            producer_retries=False,
            idempotent_publish=False,
            ack_before_process=True,
            broker_redelivers=False,
            consumer_dedup=False,
        ),
        Semantics(
            "at-least-once",
            "The producer resends until the broker acks, and the broker redelivers until the "
            "consumer acks after processing: nothing is lost that a retry can save, and a "
            "lost ack applies an effect twice.",
            Style("#1f77b4"),
            producer_retries=True,
            idempotent_publish=False,
            ack_before_process=False,
            broker_redelivers=True,
            consumer_dedup=False,
        ),
        Semantics(
            "idempotent-consumer",
            "At-least-once delivery (the producer resends without an idempotency id, the "
            "broker stores every copy it gets) and a consumer that deduplicates by the "
            "message's own id (the application's key, such as the order id) in its "
            "processed-id store, atomically with the effect or not (atomic_dedup): the "
            "semantics most teams run, with state kept outside the broker.",
            Style("#ff7f0e"),
            producer_retries=True,
            idempotent_publish=False,
            ack_before_process=False,
            broker_redelivers=True,
            consumer_dedup=True,
        ),
        Semantics(
            "exactly-once",
            "At-least-once with an idempotency id on every publish attempt (the broker drops "
            "a copy it has stored within its dedup window) and a processed-id store at the "
            "consumer (it skips an id it has applied, in the effect's transaction when "
            "atomic_dedup is on).",
            Style("#2ca02c"),
            producer_retries=True,
            idempotent_publish=True,
            ack_before_process=False,
            broker_redelivers=True,
            consumer_dedup=True,
        ),
    ],
)
"""Every semantics, in the order tables and charts show them."""
