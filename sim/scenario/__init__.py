"""The scenario layer: what a user writes (SPEC section 5), validated before anything runs.

Nothing here simulates; the engine, the studies and the reports read a :class:`Scenario`.
Names are imported when first used (pydantic's schema takes a moment to build), so that
commands which only list or read files start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.scenario.errors import Problem, ScenarioError
    from sim.scenario.files import read_toml
    from sim.scenario.loading import load_scenario, validate
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

_WHERE = {
    "Problem": "sim.scenario.errors",
    "ScenarioError": "sim.scenario.errors",
    "read_toml": "sim.scenario.files",
    "load_scenario": "sim.scenario.loading",
    "validate": "sim.scenario.loading",
    **dict.fromkeys(
        [
            "BrokerSettings",
            "Constant",
            "ConsumerGroup",
            "Delivery",
            "Distribution",
            "Exponential",
            "LogNormal",
            "Normal",
            "Scenario",
            "Uniform",
            "Workload",
        ],
        "sim.scenario.schema",
    ),
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sim.scenario' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
