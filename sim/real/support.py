"""What a real broker can reproduce of a scenario, and what it cannot.

A calibration that silently ignored a key would compare a different system with the model.
Every key a scenario sets away from its default is therefore either reproduced by the harness
on that broker, or refused here with its key path and why: the command exits with code 2.
``broker.service_time`` and ``broker.servers`` are the real broker's own (it has its own
service time and one server here): setting them is refused, and the prediction uses the
measured latency with no service time instead (the output says so).
"""

from __future__ import annotations

from typing import Any

from sim.real.injection import LINKS
from sim.registry.semantics import SEMANTICS
from sim.scenario.schema import ConsumerGroup, Scenario

COMMON = {
    "name",
    "description",
    "seed",
    "replications",
    "duration",
    "drain",
    "timeline_step",
    "max_events",
    "workload.producers",
    "workload.arrival",
    "workload.rate",
    "workload.spikes",
    "delivery.semantics",
    "delivery.pattern",
    "delivery.ack_timeout",
    "delivery.ack_deadline",
    "delivery.max_attempts",
    "delivery.backoff",
    "delivery.atomic_dedup",
    "broker.durability",
    "broker.prefetch",
    "network.latency",
    "network.loss",
    *(f"network.{link}.{key}" for link in LINKS for key in ("latency", "loss")),
    "consumers.name",
    "consumers.service_time",
    "consumers.crash_before_process",
    "consumers.crash_after_process",
    "consumers.restart_time",
    "consumers.mtbf",
    "consumers.mttr",
}
"""Keys both harnesses reproduce (``consumers.<key>`` stands for every group's key)."""
BY_BROKER = {
    ("nats", "pubsub"): COMMON
    | {
        "delivery.dedup_window",
        "consumers.instances",
        "delivery.max_deliveries",
        "delivery.dead_letter",
        "workload.poison",
    },
    ("redis", "streaming"): COMMON - {"delivery.ack_deadline"},
    ("redis", "pubsub"): COMMON | {"consumers.instances"},
}
"""Keys each broker's harness reproduces, per pattern (NATS pub/sub: a durable consumer per
subscription, MaxDeliver for the delivery limit, its advisory for the dead-letter queue, a
negative ack for a poison message; Redis streaming: a stream read from each group's committed
offset; Redis pub/sub: stream consumer groups)."""
OWN = {
    "broker.service_time": "the real broker's service time is its own (it is measured with "
    "the latency in the warm-up)",
    "broker.servers": "the real broker runs as one server here",
}
"""Keys the real broker sets of its own."""


def _changed(value: Any, default: Any, path: str) -> list[str]:
    """Dotted paths where ``value`` differs from ``default`` (distributions, lists and
    backoff tables are compared whole)."""
    if value == default:
        return []
    whole = path in ("delivery.backoff", "workload.spikes")
    if isinstance(value, dict) and isinstance(default, dict) and "dist" not in value and not whole:
        out = []
        for key in value:
            out += _changed(value[key], default.get(key), f"{path}.{key}" if path else key)
        return out
    return [path]


def refusals(scenario: Scenario, broker: str) -> list[tuple[str, str]]:
    """(key path, why) of everything in ``scenario`` (one point of a study: its sweep is
    already expanded) that ``broker`` cannot reproduce."""
    problems: list[tuple[str, str]] = []
    if scenario.architecture is not None:
        return [("architecture", "dsim calibrate runs one broker, not an architecture")]
    pattern = scenario.delivery.pattern
    mapped = [p for b, p in BY_BROKER if b == broker]
    if (broker, pattern) not in BY_BROKER:
        problems.append(
            (
                "delivery.pattern",
                f"the {broker} harness maps {' and '.join(mapped)} only; got {pattern!r}",
            )
        )
        pattern = mapped[0]
    allowed = BY_BROKER[(broker, pattern)]
    if broker == "redis" and SEMANTICS[scenario.delivery.semantics].idempotent_publish:
        problems.append(
            (
                "delivery.semantics",
                "Redis streams have no idempotent append (no dedup by id or sequence); "
                "calibrate an idempotent publish on NATS",
            )
        )
    dump = scenario.model_dump(mode="python")
    dump.pop("sweep")
    default = Scenario(name=scenario.name).model_dump(mode="python")
    default.pop("sweep")
    groups = dump.pop("consumers")
    default.pop("consumers")
    faults = dump.pop("faults")
    default.pop("faults")
    for path in _changed(dump, default, ""):
        if path in OWN:
            problems.append((path, f"set by the broker: {OWN[path]}"))
        elif path not in allowed:
            problems.append((path, f"the {broker} harness cannot reproduce it"))
    for group in groups:
        base = ConsumerGroup(name=group["name"]).model_dump(mode="python")
        for key in _changed(group, base, ""):
            if f"consumers.{key}" not in allowed:
                problems.append(
                    (
                        f"consumers.{group['name']}.{key}",
                        f"the {broker} harness cannot reproduce it",
                    )
                )
    for k, fault in enumerate(faults):
        target, kind = fault["target"], fault["kind"]
        fine = (
            (target == "broker" and kind == "crash")
            or (target.startswith("consumer:") and kind == "crash")
            or (target.startswith("link:") and kind == "partition")
        )
        if not fine:
            problems.append(
                (
                    f"faults[{k}].target",
                    f"a {kind} of {target!r}: the harness injects broker and consumer crashes "
                    "and link partitions",
                )
            )
    return problems
