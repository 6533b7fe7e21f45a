"""Delivery patterns: how stored copies reach consumer groups and how their acks come back.

A pattern is a strategy with two sides (the :class:`~sim.engine.shapes.Pattern` Protocol).
The broker side stores copies (``append``), loses them in a crash (``wipe``) and expires them
(retention). The consumer side is each instance's *session* with the broker: fetches and
offset commits for streaming, pushed copies and acks for pub/sub. Consumer instances only
process what they are given and report it processed.

One module per pattern (:mod:`~sim.engine.patterns.streaming`,
:mod:`~sim.engine.patterns.pubsub`); the pattern registry names the class of each, so a new
pattern is one new module here and one entry in :mod:`sim.registry.patterns`.
"""

from __future__ import annotations

from sim.engine.clock import Clock
from sim.engine.ledger import Ledger
from sim.engine.network import Link
from sim.engine.shapes import Pattern
from sim.registry.base import load
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import Semantics
from sim.scenario.schema import Scenario


def make_pattern(
    clock: Clock,
    scenario: Scenario,
    semantics: Semantics,
    ledger: Ledger,
    deliver: list[Link],
    commit: list[Link],
) -> Pattern:
    """The scenario's delivery pattern, built from the class its registry entry names."""
    kind = load(PATTERNS[scenario.delivery.pattern].implementation)
    pattern: Pattern = kind(clock, scenario, semantics, ledger, deliver, commit)
    return pattern
