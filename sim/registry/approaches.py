"""How a change reaches N services (SPEC section 3): one entry per approach compared."""

from __future__ import annotations

from dataclasses import dataclass

from sim.registry.base import Registry, Style


@dataclass(frozen=True)
class Approach:
    """One way to tell services about a change, as the architecture comparison names and
    draws it."""

    name: str
    description: str
    style: Style
    """A colour and a line style: chain and orchestration often coincide in a chart, and one
    must not hide the other."""
    implementation: str
    """The engine's request handler, as ``"module:function"``."""
    through_broker: bool
    """The approach publishes an event through the broker model of SPEC section 1."""


APPROACHES: Registry[Approach] = Registry(
    "approach",
    [
        Approach(
            "chain",
            "A chain of synchronous requests: the services are called one after another and "
            "the user waits for all; one failure fails the request and leaves the services "
            "already called changed, unless compensate undoes them.",
            Style("#8c564b", line="-"),
            "sim.engine.architectures:chain",
            through_broker=False,
        ),
        Approach(
            "orchestration",
            "An orchestrator calls every service at once and the user waits for the slowest; "
            "a failure denies the request (require = all), or only a critical service's does "
            "and the others are retried in the background.",
            Style("#9467bd", line=(0.0, (5.0, 3.0))),
            "sim.engine.architectures:orchestration",
            through_broker=False,
        ),
        Approach(
            "event-driven",
            "The first service applies the change, answers the user at once and publishes one "
            "event through the broker (the scenario's semantics, pattern, network and "
            "faults); every other service consumes it as a consumer group.",
            Style("#17becf", line="-."),
            "sim.engine.architectures:event_driven",
            through_broker=True,
        ),
    ],
)
"""Every approach, in the order tables and charts show them."""
