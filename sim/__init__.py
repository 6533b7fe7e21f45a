"""delivery-sim: a discrete-event simulator of message delivery semantics under failure.

The public API::

    import sim
    scenario = sim.load_scenario("scenarios/orders.toml")
    results = sim.run(scenario, replications=10, seed=7)
    results.runs      # one row per replication and consumer group
    results.summary   # mean, sd and 95% interval per figure
    sim.sweep(scenario, {"network.publish_ack.loss": [0, 0.1]}, replications="auto", jobs=2)

    from sim import explain, plots   # stories of messages; charts of result tables

Names are imported when first used, so that ``import sim`` (and the ``dsim`` command's start)
does not pay for numpy, pandas and matplotlib before they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.engine.figures import FIGURES
    from sim.engine.simulation import RunResult, Simulation, simulate
    from sim.registry.causes import Cause
    from sim.report import explain, plots
    from sim.scenario import Scenario, ScenarioError, load_scenario, validate
    from sim.study.results import Results
    from sim.study.runner import run, sweep

_WHERE = {
    "FIGURES": "sim.engine.figures",
    "RunResult": "sim.engine.simulation",
    "Simulation": "sim.engine.simulation",
    "simulate": "sim.engine.simulation",
    "Cause": "sim.registry.causes",
    "Results": "sim.study.results",
    "run": "sim.study.runner",
    "sweep": "sim.study.runner",
    "Scenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
    "load_scenario": "sim.scenario",
    "validate": "sim.scenario",
}
_MODULES = {"plots": "sim.report.plots", "explain": "sim.report.explain"}

__all__ = [
    "FIGURES",
    "Cause",
    "Results",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "explain",
    "load_scenario",
    "plots",
    "run",
    "simulate",
    "sweep",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
