"""Every chart, in one namespace (``from sim import plots``): the pure functions that draw
result tables on an Axes, and :func:`draw_all`, which writes a result directory's chart files.

The functions live in :mod:`sim.report.delivery_charts`, :mod:`sim.report.architecture_charts`,
:mod:`sim.report.sequence` and :mod:`sim.report.charts`; styles in :mod:`sim.report.styles`.
"""

from sim.report.architecture_charts import (
    approach_bars,
    approach_cdf,
    approach_curve,
    approach_legend,
)
from sim.report.charts import draw_all, plan, safe_name
from sim.report.delivery_charts import (
    at_point,
    backlog,
    cause_bars,
    damage,
    latency_cdf,
    price_bars,
    rate_bars,
    shade_faults,
    sweep_columns,
    sweep_curve,
    system_legend,
    throughput,
)
from sim.report.sequence import sequence_diagram
from sim.report.styles import semantics_colour, systems_of

__all__ = [
    "approach_bars",
    "approach_cdf",
    "approach_curve",
    "approach_legend",
    "at_point",
    "backlog",
    "cause_bars",
    "damage",
    "draw_all",
    "latency_cdf",
    "plan",
    "price_bars",
    "rate_bars",
    "safe_name",
    "semantics_colour",
    "sequence_diagram",
    "shade_faults",
    "sweep_columns",
    "sweep_curve",
    "system_legend",
    "systems_of",
    "throughput",
]
