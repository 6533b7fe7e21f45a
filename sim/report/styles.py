"""How every chart draws a system: the registries' styles, with the order they give.

One colour stands for each semantics and one line style, hatch and marker for each pattern, in
every chart; causes and approaches have a colour (and approaches a line style) each. A name no
registry entry has still gets a style (see :meth:`sim.registry.base.Registry.style`), so it is
drawn, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import pandas as pd
from matplotlib.typing import LineStyleType

from sim.registry.approaches import APPROACHES
from sim.registry.base import Style
from sim.registry.figures import ARCHITECTURE_FIGURES, DELIVERY_FIGURES
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS

MARKERS = {"p50": "o", "p99": "^"}
"""How a latency CDF marks its median and its 99th percentile."""


def semantics_colour(name: str) -> str:
    """The colour of a semantics in every chart."""
    return SEMANTICS.style(name).colour


def pattern_style(name: str) -> Style:
    """The line style, hatch and marker of a pattern in every chart."""
    return PATTERNS.style(name)


def approach_style(name: str) -> Style:
    """The colour and line style of an approach in every chart."""
    return APPROACHES.style(name)


def pattern_line(name: str) -> LineStyleType:
    """The line style of a pattern (solid, dashed ...), as matplotlib takes it."""
    return cast("LineStyleType", PATTERNS.style(name).line)


def approach_line(name: str) -> LineStyleType:
    """The line style of an approach, as matplotlib takes it."""
    return cast("LineStyleType", APPROACHES.style(name).line)


def systems_of(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The (semantics, pattern) pairs present, in the registries' order (names no entry has
    come last, as they appear)."""
    present = list(dict.fromkeys(zip(table["semantics"], table["pattern"], strict=True)))
    semantics = SEMANTICS.order(s for s, _ in present)
    patterns = PATTERNS.order(p for _, p in present)
    return [(s, p) for s in semantics for p in patterns if (s, p) in present]


def approaches_of(names: Iterable[str]) -> list[str]:
    """The approaches present, in the registry's order."""
    return APPROACHES.order(names)


def axis_label(figure: str, architecture: bool = False) -> str:
    """How an axis names a figure of a delivery study (or of an architecture comparison)."""
    registry = ARCHITECTURE_FIGURES if architecture else DELIVERY_FIGURES
    return registry[figure].axis if figure in registry else figure.replace("_", " ")


def percent(figure: str, architecture: bool = False) -> bool:
    """Whether a figure is a share, drawn in percent."""
    registry = ARCHITECTURE_FIGURES if architecture else DELIVERY_FIGURES
    return figure in registry and registry[figure].percent
