"""Real brokers as presets: ``[delivery] preset = "kafka"`` fills in that broker's documented
defaults and mechanisms; anything the scenario sets itself wins over the preset.

A preset does not choose the semantics: it configures the mechanisms the semantics uses (the
idempotency key and window, the timeouts, how acks and redelivery work). Values that a broker
leaves unlimited and the model needs finite are stated in ``NOTES``; every value's source is
in ``SOURCES`` (the README prints both).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "kafka": {
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
            "prefetch": 500,
        },  # max.poll.records
    },
    "rabbitmq": {
        "delivery": {
            "pattern": "pubsub",  # a queue per consumer group (fan-out exchange)
            "dedup_window": 0.0,  # no built-in deduplication
            "ack_deadline": 1800.0,  # consumer_timeout = 30 minutes
        },
        "broker": {"durability": "durable", "prefetch": 10_000},  # basic.qos: unlimited
    },
    "sqs-fifo": {
        "delivery": {
            "pattern": "pubsub",  # one queue per consumer group
            "dedup": "id",  # MessageDeduplicationId
            "dedup_window": 300.0,  # the 5-minute deduplication interval
            "ack_deadline": 30.0,  # default visibility timeout
        },
        "broker": {
            "durability": "durable",
            "retention": 4 * 24 * 3600.0,  # 4 days
            "prefetch": 10,
        },  # ReceiveMessage: at most 10 messages per call
    },
    "nats-jetstream": {
        "delivery": {
            "pattern": "pubsub",  # a stream with per-message acks by each consumer
            "dedup": "id",  # Nats-Msg-Id header
            "dedup_window": 120.0,  # Duplicates: 2 minutes
            "ack_deadline": 30.0,  # AckWait
        },
        "broker": {
            "durability": "durable",
            "retention": math.inf,  # MaxAge 0: unlimited
            "prefetch": 1000,
        },  # MaxAckPending
    },
    "gcp-pubsub": {
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
            "prefetch": 1000,
        },  # flow control: 1,000 outstanding messages
    },
}

SOURCES = {
    "kafka": "Apache Kafka documentation, Producer, Consumer and Broker Configs "
    "(kafka.apache.org/documentation): acks=all and enable.idempotence=true by "
    "default since 3.0; retries, max.in.flight.requests.per.connection, "
    "request.timeout.ms, retry.backoff.ms, retry.backoff.max.ms (KIP-580), "
    "max.poll.records, log.retention.hours",
    "rabbitmq": "RabbitMQ documentation, 'Consumer Acknowledgements and Publisher "
    "Confirms' and 'Consumers' (consumer_timeout, 30 minutes since 3.8.15)",
    "sqs-fifo": "Amazon SQS Developer Guide: FIFO queues (exactly-once processing, 5-minute "
    "deduplication interval), visibility timeout (30 s default), message "
    "retention (4 days default), ReceiveMessage MaxNumberOfMessages (up to 10)",
    "nats-jetstream": "NATS documentation, JetStream streams and consumers: Duplicates window "
    "(2 minutes), AckWait (30 s), MaxDeliver (-1: unlimited), "
    "MaxAckPending (1,000), MaxAge (0: unlimited)",
    "gcp-pubsub": "Google Cloud Pub/Sub documentation: subscription ack deadline (10 s "
    "default), message retention (7 days), publisher retries and duplicates "
    "(a retried publish can be stored again, as a new message id), client "
    "library retry and flow-control defaults",
}

NOTES = {
    "kafka": "delivery.timeout.ms (120 s) is not modelled: retries are unlimited. Commits "
    "follow each record (enable.auto.commit commits every 5 s in Kafka).",
    "rabbitmq": "basic.qos prefetch is unlimited by default; the preset uses 10,000. RabbitMQ "
    "redelivers at once when a consumer's connection closes; the model waits for "
    "the ack deadline.",
    "sqs-fifo": "SNS fan-out to one queue per group is modelled as one subscription per group; "
    "the in-flight quota is per queue, the model applies it per consumer instance.",
    "nats-jetstream": "MaxDeliver -1 (unlimited redelivery) is the model's behaviour anyway.",
    "gcp-pubsub": "The publish retry multiplier of Google's client libraries is 1.3.",
}


def apply_preset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw scenario data with its preset's values filled in under what it sets itself."""
    data = dict(raw)
    delivery = data.get("delivery")
    name = delivery.get("preset") if isinstance(delivery, Mapping) else None
    if not isinstance(name, str) or name not in PRESETS:
        return data  # no preset, or one that validation will refuse
    return _under(copy.deepcopy(PRESETS[name]), data)


def _under(preset: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` over ``preset``, table by table."""
    out = dict(preset)
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _under(out[key], dict(value))
        else:
            out[key] = value
    return out


def describe() -> str:
    """The presets as a Markdown table, for the README (a test keeps the two in agreement)."""
    lines = ["| preset | values it fills in | source | note |", "| --- | --- | --- | --- |"]
    for name, sections in PRESETS.items():
        values = "; ".join(
            f"`{section}.{key} = {_toml(value)}`"
            for section, table in sections.items()
            for key, value in table.items()
        )
        lines.append(f"| `{name}` | {values} | {SOURCES[name]} | {NOTES[name]} |")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return repr(value)
