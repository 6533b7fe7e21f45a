"""Real brokers as presets: ``[delivery] preset = "kafka"`` fills in that broker's documented
defaults and mechanisms under what the scenario sets itself.

A preset does not choose the semantics: it configures the mechanisms the semantics uses (the
idempotency key and window, the timeouts, how acks and redelivery work). Every value's source
is in the entry's ``source``; what the model does differently from the broker, or a value a
broker leaves unlimited and the model needs finite, is in its ``note``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sim.registry.base import Registry


@dataclass(frozen=True)
class Preset:
    """A real broker's documented defaults, filled in under what a scenario sets itself."""

    name: str
    description: str
    values: dict[str, dict[str, Any]]
    """Scenario sections and the keys the preset fills in (in TOML's terms); the
    ``consumers`` table is filled into every ``[[consumers]]`` table."""
    source: str
    note: str


PRESETS: Registry[Preset] = Registry(
    "preset",
    [
        Preset(
            "kafka",
            "Apache Kafka: a partitioned log, an idempotent producer (producer id and sequence "
            "numbers), consumer groups committing offsets.",
            {
                "delivery": {
                    "pattern": "streaming",  # a log with cumulative offset commits
                    "dedup": "sequence",  # idempotent producer: producer id + sequence numbers
                    "max_in_flight": 5,  # max.in.flight.requests.per.connection
                    "ack_timeout": 30.0,  # request.timeout.ms = 30000 (acks=all)
                    "max_attempts": 0,  # retries = 2147483647
                    "backoff": {
                        "kind": "exponential",
                        "base": 0.1,
                        "cap": 1.0,
                        "multiplier": 2.0,
                        "jitter": True,
                    },  # retry.backoff.ms = 100, retry.backoff.max.ms = 1000
                    "max_deliveries": 0,  # no delivery limit: the consumer's error handler decides
                    "dead_letter": False,  # no dead-letter queue in Kafka itself
                },
                "broker": {
                    "durability": "durable",
                    "retention": 7 * 24 * 3600.0,  # log.retention.hours
                    "prefetch": 500,  # max.poll.records
                },
                "consumers": {
                    "commit_interval": 5.0,  # enable.auto.commit, auto.commit.interval.ms = 5000
                    "session_timeout": 45.0,  # session.timeout.ms = 45000 (since 3.0)
                },
            },
            source="Apache Kafka documentation, Producer, Consumer and Broker Configs "
            "(kafka.apache.org/documentation): acks=all and enable.idempotence=true by "
            "default since 3.0; retries, max.in.flight.requests.per.connection, "
            "request.timeout.ms, retry.backoff.ms, retry.backoff.max.ms (KIP-580), "
            "max.poll.records, log.retention.hours, enable.auto.commit and "
            "auto.commit.interval.ms (5 s), session.timeout.ms (45 s since 3.0, KIP-735)",
            note="delivery.timeout.ms (120 s) is not modelled: retries are unlimited. Kafka "
            "has no delivery limit or dead-letter queue of its own (frameworks such as Kafka "
            "Connect and Spring Kafka add dead-letter topics): the preset sets none. How long "
            "a rebalance pauses the group depends on the group's size and the protocol; the "
            "preset leaves rebalance_time at 0.",
        ),
        Preset(
            "rabbitmq",
            "RabbitMQ: a queue per consumer group behind a fan-out exchange, publisher "
            "confirms and consumer acks, no built-in deduplication.",
            {
                "delivery": {
                    "pattern": "pubsub",  # a queue per consumer group (fan-out exchange)
                    "dedup_window": 0.0,  # no built-in deduplication
                    "ack_deadline": 1800.0,  # consumer_timeout = 30 minutes
                    "max_deliveries": 20,  # quorum queues' delivery-limit, 20 since 4.0
                    "dead_letter": False,  # no dead-letter exchange unless one is configured
                },
                "broker": {"durability": "durable", "prefetch": 10_000},  # basic.qos: unlimited
            },
            source="RabbitMQ documentation, 'Consumer Acknowledgements and Publisher "
            "Confirms' and 'Consumers' (consumer_timeout, 30 minutes since 3.8.15), "
            "'Quorum Queues' (poison message handling: a delivery-limit of 20 by default "
            "since 4.0) and 'Dead Letter Exchanges'",
            note="basic.qos prefetch is unlimited by default; the preset uses 10,000. RabbitMQ "
            "redelivers at once when a consumer's connection closes; the model waits for "
            "the ack deadline. The delivery limit is the quorum queues' (classic queues have "
            "none); a message over it is dropped unless the queue has a dead-letter exchange "
            "(then set delivery.dead_letter = true).",
        ),
        Preset(
            "sqs-fifo",
            "Amazon SQS FIFO queues: a deduplication id kept for five minutes, a visibility "
            "timeout before redelivery.",
            {
                "delivery": {
                    "pattern": "pubsub",  # one queue per consumer group
                    "dedup": "id",  # MessageDeduplicationId
                    "dedup_window": 300.0,  # the 5-minute deduplication interval
                    "ack_deadline": 30.0,  # default visibility timeout
                    "max_deliveries": 0,  # no redrive policy by default
                    "dead_letter": False,  # no dead-letter queue by default
                },
                "broker": {
                    "durability": "durable",
                    "retention": 4 * 24 * 3600.0,  # 4 days
                    "prefetch": 10,  # ReceiveMessage: at most 10 messages per call
                },
            },
            source="Amazon SQS Developer Guide: FIFO queues (exactly-once processing, 5-minute "
            "deduplication interval), visibility timeout (30 s default), message "
            "retention (4 days default), ReceiveMessage MaxNumberOfMessages (up to 10), "
            "dead-letter queues (a redrive policy's maxReceiveCount, 1 to 1,000)",
            note="SNS fan-out to one queue per group is modelled as one subscription per "
            "group; the in-flight quota is per queue, the model applies it per consumer "
            "instance. A queue has no dead-letter queue unless a redrive policy names one: "
            "then set delivery.max_deliveries to its maxReceiveCount and "
            "delivery.dead_letter = true.",
        ),
        Preset(
            "nats-jetstream",
            "NATS JetStream: a stream with a duplicate window on the Nats-Msg-Id header, "
            "durable consumers with explicit acks, AckWait and MaxAckPending.",
            {
                "delivery": {
                    "pattern": "pubsub",  # a stream with per-message acks by each consumer
                    "dedup": "id",  # Nats-Msg-Id header
                    "dedup_window": 120.0,  # Duplicates: 2 minutes
                    "ack_deadline": 30.0,  # AckWait
                    "max_deliveries": 0,  # MaxDeliver -1: unlimited
                    "dead_letter": False,  # no dead-letter queue (an advisory at MaxDeliver)
                },
                "broker": {
                    "durability": "durable",
                    "retention": math.inf,  # MaxAge 0: unlimited
                    "prefetch": 1000,  # MaxAckPending
                },
            },
            source="NATS documentation, JetStream streams and consumers: Duplicates window "
            "(2 minutes), AckWait (30 s), MaxDeliver (-1: unlimited), "
            "MaxAckPending (1,000), MaxAge (0: unlimited)",
            note="JetStream has no dead-letter queue: with a MaxDeliver set, a message that "
            "reaches it is no longer delivered and an advisory is published (set "
            "delivery.max_deliveries; the model counts it as dropped).",
        ),
        Preset(
            "gcp-pubsub",
            "Google Cloud Pub/Sub: subscriptions with an ack deadline; a retried publish is "
            "stored again as a new message with a new id.",
            {
                "delivery": {
                    "pattern": "pubsub",
                    "dedup_window": 0.0,  # no publish-side deduplication
                    "retry_new_id": True,  # a retried publish is a new message, with a new id
                    "ack_deadline": 10.0,  # default ack deadline
                    "max_deliveries": 0,  # no dead-letter policy by default
                    "dead_letter": False,  # no dead-letter topic by default
                    "backoff": {
                        "kind": "exponential",
                        "base": 0.1,
                        "cap": 60.0,
                        "multiplier": 1.3,
                        "jitter": True,
                    },  # client publish retry: 100 ms x 1.3, max 60 s
                },
                "broker": {
                    "durability": "durable",
                    "retention": 7 * 24 * 3600.0,  # 7 days
                    "prefetch": 1000,  # flow control: 1,000 outstanding messages
                },
            },
            source="Google Cloud Pub/Sub documentation: subscription ack deadline (10 s "
            "default), message retention (7 days), publisher retries and duplicates "
            "(a retried publish can be stored again, as a new message id), client "
            "library retry and flow-control defaults, dead-letter topics "
            "(DeadLetterPolicy.max_delivery_attempts: 5 to 100, 5 by default)",
            note="The publish retry multiplier of Google's client libraries is 1.3. A "
            "subscription has no dead-letter topic by default; with one, set "
            "delivery.max_deliveries = 5 (its default max_delivery_attempts) and "
            "delivery.dead_letter = true.",
        ),
    ],
)
"""Every preset, in the order the docs list them."""
