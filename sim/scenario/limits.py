"""Limits: input that is well-formed but that no run could finish, or that would need absurd
memory, is refused up front rather than left to run for days."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sim.registry.patterns import PATTERNS
from sim.scenario.errors import Problem, describe_value
from sim.scenario.files import MAX_DEPTH
from sim.scenario.messages import format_path
from sim.scenario.schema import Scenario, mean_of

MAX_MESSAGES = 10**8
"""Expected messages per replication (``workload.producers`` x rate x ``duration``, spikes
included): at about 45,000 simulated messages a second and 120 bytes a message, 10^8 is
already 40 minutes and 12 GB per replication."""
MAX_EVENTS = 10**8
"""Expected timer events per replication that no message causes: polls, random crashes."""
MAX_TIMELINE_SAMPLES = 10**6
"""Timeline samples per run (``duration + drain`` over ``timeline_step``)."""
MAX_POINTS = 10_000
"""Points of a sweep (the product of its dimensions)."""
MAX_INSTANCES = 10_000
"""Consumer instances in one group (also what an architecture service may start)."""


def sweep_size(s: Scenario) -> list[Problem]:
    """A sweep of more than :data:`MAX_POINTS` points is refused, with the product that makes it."""
    if not s.sweep:
        return []
    sizes = [len(options) for _, options in s.sweep_dimensions()]
    points = math.prod(sizes)
    if points <= MAX_POINTS:
        return []
    detail = " x ".join(str(n) for n in sizes)
    return [
        Problem(
            "sweep",
            f"a sweep of {points:,} points ({detail} values); at most {MAX_POINTS:,} are run: "
            "sweep fewer values, or split the study",
        )
    ]


def shape_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Nesting deeper than :data:`MAX_DEPTH` and text that is not valid Unicode (lone
    surrogates, from a command line that was not UTF-8), found without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(raw, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            return [
                Problem(
                    format_path(loc[:MAX_DEPTH], tags=False),
                    f"nested deeper than {MAX_DEPTH} levels",
                )
            ]
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(key, str) and not _encodable(key):
                    return [
                        Problem(
                            format_path(loc, tags=False),
                            f"a key is not valid UTF-8 text: {key!r}",
                        )
                    ]
                stack.append((value, (*loc, key)))
        elif isinstance(node, list | tuple):
            stack.extend((value, (*loc, i)) for i, value in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return [
                Problem(
                    format_path(loc, tags=False), f"not valid UTF-8 text: {describe_value(node)}"
                )
            ]
    return []


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expected_messages(s: Scenario) -> float:
    """Messages the producers are expected to create in one replication."""
    segments = s.workload.rate_segments(s.duration)
    return sum(rate * (end - start) for start, end, rate in segments) * s.workload.producers


def timer_events(s: Scenario) -> list[tuple[float, str, str]]:
    """Expected timer events of one replication that no message causes (polls, random
    crashes and fault windows), each with the key that sets it and what it is."""
    horizon = s.duration + s.drain
    events: list[tuple[float, str, str]] = []
    readers = sum(c.instances for c in s.consumers)
    polls = PATTERNS[s.delivery.pattern].poll_events(readers, horizon, s.delivery.poll_interval)
    if polls:
        events.append(
            (
                polls,
                "delivery.poll_interval",
                f"{readers} reader(s) polling every {s.delivery.poll_interval:g} s",
            )
        )
    for i, c in enumerate(s.consumers):
        if math.isfinite(c.mtbf):
            events.append(
                (
                    2 * c.instances * horizon / (c.mtbf + c.mttr),
                    f"consumers[{i}].mtbf",
                    f"{c.instances} instance(s) crashing every {c.mtbf:g} s",
                )
            )
    for i, f in enumerate(s.faults):
        if f.mtbf is not None and f.mttr is not None:
            events.append(
                (
                    2 * horizon / (f.mtbf + f.mttr),
                    f"faults[{i}].mtbf",
                    f"a fault every {f.mtbf:g} s",
                )
            )
    return events


def event_budget(s: Scenario) -> int:
    """The simulated events a replication may take (``max_events``, or when 0: 1,000 per
    expected message, 10 per expected timer event, plus 10^7: a message takes about 10)."""
    if s.max_events:
        return s.max_events
    timers = sum(n for n, _, _ in timer_events(s))
    return int(min(2**62, 1000 * expected_messages(s) + 10 * timers + 10**7))


def limit_problems(s: Scenario) -> list[Problem]:
    """Runs that could not finish or would not fit in memory, each named by the key to
    change (see :data:`MAX_MESSAGES`, :data:`MAX_EVENTS`, :data:`MAX_TIMELINE_SAMPLES`)."""
    problems = []
    horizon = s.duration + s.drain
    messages = expected_messages(s)
    if not messages <= MAX_MESSAGES:
        problems.append(
            Problem(
                "workload.rate",
                f"about {messages:.3g} messages per replication (workload.producers = "
                f"{s.workload.producers} x workload.rate = {s.workload.rate:g}/s x duration = "
                f"{s.duration:g} s, workload.spikes included); at most {MAX_MESSAGES:.0e} are "
                "simulated: lower the rate, the producers, the spikes or the duration",
            )
        )
    events = timer_events(s)
    total = sum(n for n, _, _ in events)
    if not total <= MAX_EVENTS:
        _, path, what = max(events)
        problems.append(
            Problem(
                path,
                f"about {total:.3g} timer events per replication ({what}, over duration + "
                f"drain = {horizon:g} s); at most {MAX_EVENTS:.0e} are simulated: use a longer "
                "interval or a shorter run",
            )
        )
    if s.timeline_step > 0 and not horizon / s.timeline_step <= MAX_TIMELINE_SAMPLES:
        problems.append(
            Problem(
                "timeline_step",
                f"{horizon / s.timeline_step:.3g} timeline samples over duration + drain = "
                f"{horizon:g} s; at most {MAX_TIMELINE_SAMPLES:.0e}: use a step of at least "
                f"{horizon / MAX_TIMELINE_SAMPLES:.3g} s, or 0 for 200 samples",
            )
        )
    if s.architecture is not None:
        peak = s.workload.peak_rate
        for i, service in enumerate(s.architecture.services[1:], start=1):
            if service.instances:
                continue
            mean = mean_of(service.latency)
            need = 2 * peak * mean
            if not (math.isfinite(mean) and need <= MAX_INSTANCES):
                problems.append(
                    Problem(
                        f"architecture.services[{i}].instances",
                        f"0 (automatic) would start {need:.3g} consumer instances (2 x peak "
                        f"rate {peak:g}/s x mean latency {mean:g} s); at most {MAX_INSTANCES}: "
                        "set instances, or lower the rate or the latency",
                    )
                )
    return problems
