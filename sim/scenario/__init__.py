"""The scenario layer: what a user writes (SPEC section 5), validated before anything runs.

Nothing here simulates; the engine, the studies and the reports read a :class:`Scenario`.
"""

from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.loading import load_scenario, read_toml, validate
from sim.scenario.schema import (
    BrokerSettings,
    Constant,
    ConsumerGroup,
    Delivery,
    Distribution,
    Exponential,
    LogNormal,
    Normal,
    Scenario,
    Uniform,
    Workload,
)

__all__ = [
    "BrokerSettings",
    "Constant",
    "ConsumerGroup",
    "Delivery",
    "Distribution",
    "Exponential",
    "LogNormal",
    "Normal",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Uniform",
    "Workload",
    "load_scenario",
    "read_toml",
    "validate",
]
