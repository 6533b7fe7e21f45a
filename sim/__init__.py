"""delivery-sim: a discrete-event simulator of message delivery semantics under failure.

The public API::

    import sim
    scenario = sim.load_scenario("scenarios/orders.toml")
    results = sim.run(scenario, replications=10, seed=7)
    results.runs      # one row per replication and consumer group
    results.summary   # mean, sd and 95% interval per figure
    sim.sweep(scenario, {"network.publish_ack.loss": [0, 0.1]}, replications="auto", jobs=2)
"""

from sim.ledger import Cause
from sim.model import FIGURES, RunResult, Simulation, simulate
from sim.runner import Results, run, sweep
from sim.scenario import Scenario, ScenarioError, load_scenario, validate

__all__ = [
    "FIGURES",
    "Cause",
    "Results",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "load_scenario",
    "run",
    "simulate",
    "sweep",
    "validate",
]
