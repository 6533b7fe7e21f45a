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
    name: str
    description: str
    values: dict[str, dict[str, Any]]
    """Scenario sections and the keys the preset fills in (in TOML's terms)."""
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
                },
                "broker": {
                    "durability": "durable",
                    "retention": 7 * 24 * 3600.0,  # log.retention.hours
                    "prefetch": 500,  # max.poll.records
                },
            },
            source="Apache Kafka documentation, Producer, Consumer and Broker Configs "
            "(kafka.apache.org/documentation): acks=all and enable.idempotence=true by "
            "default since 3.0; retries, max.in.flight.requests.per.connection, "
            "request.timeout.ms, retry.backoff.ms, retry.backoff.max.ms (KIP-580), "
            "max.poll.records, log.retention.hours",
            note="delivery.timeout.ms (120 s) is not modelled: retries are unlimited. Commits "
            "follow each record (enable.auto.commit commits every 5 s in Kafka).",
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
                },
                "broker": {"durability": "durable", "prefetch": 10_000},  # basic.qos: unlimited
            },
            source="RabbitMQ documentation, 'Consumer Acknowledgements and Publisher "
            "Confirms' and 'Consumers' (consumer_timeout, 30 minutes since 3.8.15)",
            note="basic.qos prefetch is unlimited by default; the preset uses 10,000. RabbitMQ "
            "redelivers at once when a consumer's connection closes; the model waits for "
            "the ack deadline.",
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
                },
                "broker": {
                    "durability": "durable",
                    "retention": 4 * 24 * 3600.0,  # 4 days
                    "prefetch": 10,  # ReceiveMessage: at most 10 messages per call
                },
            },
            source="Amazon SQS Developer Guide: FIFO queues (exactly-once processing, 5-minute "
            "deduplication interval), visibility timeout (30 s default), message "
            "retention (4 days default), ReceiveMessage MaxNumberOfMessages (up to 10)",
            note="SNS fan-out to one queue per group is modelled as one subscription per "
            "group; the in-flight quota is per queue, the model applies it per consumer "
            "instance.",
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
            note="MaxDeliver -1 (unlimited redelivery) is the model's behaviour anyway.",
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
            "library retry and flow-control defaults",
            note="The publish retry multiplier of Google's client libraries is 1.3.",
        ),
    ],
)
"""Every preset, in the order the docs list them."""
