"""The points of a sweep: one validated scenario per combination of the swept values."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sim.scenario.errors import ScenarioError
from sim.scenario.schema import Scenario

SweepTable = Mapping[str, Sequence[Any] | Mapping[str, Sequence[Any]]]
"""A sweep as a scenario's ``[sweep]`` holds it: ``"dotted.key" = [values]`` dimensions, or
linked ones (a table of ``"dotted.key" = [values]`` moving in step, with a ``label``)."""


def points_of(
    scenario: Scenario,
    sweep: SweepTable | None = None,
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Scenario]]]:
    """The sweep table and its points: (column values, the point's scenario), every point
    validated up front so that a bad value fails before anything runs."""
    if sweep is not None:
        scenario = scenario.with_values(
            {
                "sweep": {
                    k: dict(v) if isinstance(v, Mapping) else list(v) for k, v in sweep.items()
                }
            },
            source="sweep",
        )
    base = scenario.model_copy(update={"sweep": {}})
    dimensions = scenario.sweep_dimensions()
    points = []
    for combination in itertools.product(*(options for _, options in dimensions)):
        columns = {
            name: label for (name, _), (label, _) in zip(dimensions, combination, strict=True)
        }
        values = {k: v for _, keys in combination for k, v in keys.items()}
        try:
            points.append((columns, base.with_values(values, source="sweep") if values else base))
        except ScenarioError as exc:
            detail = [f'sweep."{k}" = {v!r}' for k, v in columns.items()]
            raise ScenarioError(f"{scenario.name} ({', '.join(detail)})", exc.problems) from None
    return dict(scenario.sweep), points
