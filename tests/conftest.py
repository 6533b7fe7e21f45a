"""Shared helpers: tiny scenarios built from a dict of overrides; the hypothesis profile; and
the choice of which ``sim`` the suite tests."""

from __future__ import annotations

import copy
import importlib
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

SOURCE = Path(__file__).resolve().parents[1]
"""The source tree, which pytest (and ``python -m``) put first on ``sys.path``."""


def _import_installed() -> None:
    """The suite tests the installed package, not the source tree beside it: ``pip install .``
    compiles the engine (setup.py), and the compiled engine is the one users run and the
    benchmarks measure. Once ``sim`` is imported from where it is installed, every ``sim.*``
    module comes from there. An editable install maps back to the sources; with nothing
    installed, the source tree is what there is."""
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != SOURCE]
    try:
        importlib.import_module("sim")
    except ImportError:
        sys.path[:] = saved
        importlib.import_module("sim")
    sys.path[:] = saved


_import_installed()

from sim import Scenario, simulate, validate  # noqa: E402
from sim.engine import build  # noqa: E402
from sim.registry.patterns import PATTERNS  # noqa: E402
from sim.registry.semantics import SEMANTICS  # noqa: E402


def pytest_report_header() -> str:
    """Which package and which engine build the tests run on, at the top of every run."""
    import sim

    return f"delivery-sim: {Path(sim.__file__).parent}, engine {build()}"


settings.register_profile("repeatable", derandomize=True)
settings.register_profile("search", derandomize=False)
settings.load_profile(os.environ.get("DSIM_HYPOTHESIS", "repeatable"))
"""The property and fuzz tests draw the same examples on every run, so that CI passes or fails
on the code alone; ``DSIM_HYPOTHESIS=search`` draws new ones on each run (with
``DSIM_EXAMPLES`` for more of them), which is how the found inputs of tests/test_fuzz.py
were found."""

CONST = {"dist": "constant"}


def const(value: float) -> dict[str, Any]:
    return {**CONST, "value": value}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario(**sections: Any) -> Scenario:
    """A scenario from keyword sections, over a quiet default (no faults)."""
    return validate(merge({"name": "test"}, sections))


def run_one(s: Scenario, seed: int = 1, group: int = 0) -> dict[str, Any]:
    """The figures of one replication for one consumer group, with the invariant checked."""
    result = simulate(s, seed)
    for row in result.rows:
        check_invariants(row)
    return result.rows[group]


def check_invariants(row: dict[str, Any]) -> None:
    outcomes = row["delivered"] + row["lost"] + row["pending"] + row["dead_lettered"]
    assert row["eligible"] == outcomes, row
    causes = sum(v for k, v in row.items() if k.startswith("lost_"))
    assert causes == row["lost"], row
    for k, v in row.items():
        if isinstance(v, float) and not k.startswith(("latency", "publish_latency")):
            assert not math.isnan(v), (k, row)
        if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
            assert v >= 0, (k, row)


def tables(settings: Any) -> list[Any]:
    """A scenario section as a list of tables: ``[[consumers]]`` is one already, others are one
    table (a preset's ``consumers`` values fill every group)."""
    return settings if isinstance(settings, list) else [settings]


def within(observed: float, expected: float, se: float, k: float = 4.0) -> None:
    """``observed`` lies within ``k`` standard errors of ``expected``."""
    assert abs(observed - expected) <= k * se, (
        f"observed {observed:.6g}, expected {expected:.6g} ± {k}×{se:.3g}"
    )


ALL_SEMANTICS = list(SEMANTICS.names)
"""Every semantics of the registry: tests about all of them read it, never a list of names."""
RETRYING = [s.name for s in SEMANTICS if s.producer_retries]
"""The semantics whose producer resends until the broker acks."""
ALL_PATTERNS = list(PATTERNS.names)


@pytest.fixture(params=ALL_PATTERNS)
def pattern(request: pytest.FixtureRequest) -> str:
    return request.param
