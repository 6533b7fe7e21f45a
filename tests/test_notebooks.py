"""The notebooks run top to bottom, and what is committed is what notebooks/build.py builds,
with its outputs (so a reader sees the charts without running anything)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def _builder():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


@pytest.mark.parametrize("name", list(BUILD.NOTEBOOKS))
def test_the_committed_notebook_is_built_and_carries_its_charts(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    committed = [(c.cell_type, c.source) for c in notebook.cells]
    built = [("markdown" if kind == "md" else "code", text) for kind, text in BUILD.NOTEBOOKS[name]]
    assert committed == built, f"run `python notebooks/build.py {name}` and commit it"
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.parametrize("name", list(BUILD.NOTEBOOKS))
def test_the_notebook_runs_top_to_bottom_in_under_two_minutes(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    assert time.perf_counter() - started < 120  # a cell that raised has failed the test
