"""Presets chosen per point through the command line: ``--sweep delivery.preset=...``, a
file's ``[sweep]`` and ``--set delivery.preset=...`` each run every point with its preset's
values, and the resolved ``scenario.toml`` they write reproduces those values point by point.

A scenario of just a name and its timing leaves every key to the preset; the bug this guards
against ran every point with the defaults (streaming, ack_timeout 0.2, prefetch 1), only the
label changing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.registry.presets import PRESETS
from sim.scenario import Scenario, load_scenario, validate
from sim.scenario.points import points_of
from tests.conftest import tables

BARE = 'name = "p"\nduration = 1.0\ndrain = 1.0\n[workload]\nrate = 5.0\n'
OPTIONS = ["--replications", "1", "--jobs", "1", "--quiet", "--no-charts"]


def dsim(*args: Any):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, [str(a) for a in args])


def expected(name: str) -> Scenario:
    """What a scenario that sets nothing but the preset runs with."""
    return validate({"name": "p", "delivery": {"preset": name}})


def assert_runs_with_the_preset(point: Scenario, name: str) -> None:
    want = expected(name)
    for section, values in PRESETS[name].values.items():
        for mine, theirs in zip(
            tables(getattr(point, section)), tables(getattr(want, section)), strict=False
        ):
            for key in values:
                assert getattr(mine, key) == getattr(theirs, key), (name, section, key)


def patterns_by_preset(out: Path) -> dict[str, set[str]]:
    with (out / "runs.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row.get("delivery.preset", "-"), set()).add(row["pattern"])
    return found


def assert_each_point_reproduces(out: Path) -> None:
    """The resolved scenario.toml, loaded again, gives every point its preset's values."""
    _, points = points_of(load_scenario(out / "scenario.toml"))
    assert len(points) == len(PRESETS)
    for _, point in points:
        name = point.delivery.preset
        assert name is not None
        assert_runs_with_the_preset(point, name)


def test_every_preset_through_sweep_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BARE)
    out = tmp_path / "out"
    ran = dsim(
        "run", path, "--out", out, "--sweep", f"delivery.preset={','.join(PRESETS.names)}", *OPTIONS
    )
    assert ran.exit_code == 0, ran.output
    assert patterns_by_preset(out) == {
        p.name: {str(p.values["delivery"]["pattern"])} for p in PRESETS
    }
    assert_each_point_reproduces(out)


def test_every_preset_through_a_file_sweep(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    names = ", ".join(f'"{n}"' for n in PRESETS.names)
    path.write_text(BARE + f'[sweep]\n"delivery.preset" = [{names}]\n')
    out = tmp_path / "out"
    ran = dsim("run", path, "--out", out, *OPTIONS)
    assert ran.exit_code == 0, ran.output
    assert patterns_by_preset(out) == {
        p.name: {str(p.values["delivery"]["pattern"])} for p in PRESETS
    }
    assert_each_point_reproduces(out)


@pytest.mark.parametrize("name", PRESETS.names)
def test_every_preset_through_set(tmp_path: Path, name: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BARE)
    out = tmp_path / "out"
    ran = dsim("run", path, "--out", out, "--set", f"delivery.preset={name}", *OPTIONS)
    assert ran.exit_code == 0, ran.output
    assert patterns_by_preset(out) == {"-": {str(PRESETS[name].values["delivery"]["pattern"])}}
    assert_runs_with_the_preset(load_scenario(out / "scenario.toml"), name)


def test_what_the_file_sets_wins_over_every_swept_preset(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BARE + "[delivery]\nack_timeout = 0.7\n")
    out = tmp_path / "out"
    ran = dsim("run", path, "--out", out, "--sweep", "delivery.preset=kafka,sqs-fifo", *OPTIONS)
    assert ran.exit_code == 0, ran.output
    _, points = points_of(load_scenario(out / "scenario.toml"))
    assert [p.delivery.ack_timeout for _, p in points] == [0.7, 0.7]
    assert [p.delivery.pattern for _, p in points] == ["streaming", "pubsub"]
