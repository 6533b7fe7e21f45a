"""The compiled engine and the pure-Python one are the same model: every shipped scenario gives
the same tables, byte for byte, from both (setup.py compiles the engine with mypyc; the
sources are its fallback, and what an editable install runs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.engine import build
from sim.scenario.catalog import shipped_scenarios
from tests.conftest import SOURCE


def digests(seconds: float = 15.0) -> dict[str, str]:
    """The SHA-256 of every table of two replications of each shipped scenario, shortened to
    ``seconds`` of simulated time (an architecture comparison keeps its own length)."""
    out = {}
    for entry in shipped_scenarios():
        scenario = sim.load_scenario(entry.path)
        if scenario.architecture is None:
            scenario = scenario.with_values({"duration": seconds}, source="test")
        results = sim.run(scenario, replications=2, seed=11)
        for name, table in sorted(results.tables().items()):
            text = table.to_csv(index=False, float_format=repr)
            out[f"{entry.name}/{name}"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def pure_digests() -> dict[str, str]:
    """:func:`digests` computed in a fresh interpreter that imports the source tree."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from sim.engine import build; assert build() == 'python', build(); "
        "from tests.test_build import digests; print(json.dumps(digests()))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result: dict[str, str] = json.loads(child.stdout)
    return result


def test_the_source_tree_is_pure_python() -> None:
    """The fallback is really there: no compiled module in the sources."""
    assert not list((SOURCE / "sim").rglob("*.so"))


@pytest.mark.skipif(build() != "mypyc", reason="the installed engine is the pure-Python one")
def test_the_compiled_engine_gives_the_tables_of_the_pure_one() -> None:
    assert Path(sim.__file__).parent != SOURCE / "sim"
    compiled = digests()
    assert len(compiled) > 40
    assert compiled == pure_digests()
