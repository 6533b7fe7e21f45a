"""Sweeps, replications and executors: the same tables whatever runs them, results that
survive an interruption, and replication counts chosen by the precision they give."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.study.runner import AUTO_TARGETS
from tests.conftest import merge, scenario

SMALL = {
    "duration": 5.0,
    "drain": 3.0,
    "workload": {"rate": 50.0},
    "network": {"publish_ack": {"loss": 0.1}, "latency": {"dist": "exponential", "mean": 0.002}},
    "consumers": [
        {
            "name": "c",
            "crash_after_process": 0.02,
            "restart_time": {"dist": "constant", "value": 0.02},
        }
    ],
    "faults": [{"target": "broker", "mtbf": 2.0, "mttr": 0.1}],
}
SWEEP = {
    "delivery.semantics": ["at-most-once", "exactly-once"],
    "network.publish_ack.loss": [0.0, 0.2],
}


def small(**extra):
    return scenario(**merge(SMALL, extra))


def tables(results: sim.Results) -> tuple[str, str, str]:
    return (
        results.runs.to_csv(index=False),
        results.summary.to_csv(index=False),
        results.faults.to_csv(index=False),
    )


def test_serial_process_pool_and_dask_give_identical_tables() -> None:
    pytest.importorskip("distributed")
    serial = sim.sweep(small(), SWEEP, replications=3, jobs=1)
    pool = sim.sweep(small(), SWEEP, replications=3, jobs=2)
    dask = sim.sweep(small(), SWEEP, replications=3, jobs=2, executor="dask")
    assert (serial.executor, pool.executor, dask.executor) == ("serial", "processes", "dask")
    assert tables(serial) == tables(pool) == tables(dask)
    assert len(serial.runs) == 4 * 3
    assert not serial.faults.empty


def test_an_existing_dask_scheduler_takes_the_work() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = sim.sweep(small(), SWEEP, replications=2, scheduler=cluster.scheduler_address)
    local = sim.sweep(small(), SWEEP, replications=2)
    assert remote.executor == "dask"
    assert tables(remote) == tables(local)


def test_points_share_replication_seeds() -> None:
    results = sim.sweep(small(), SWEEP, replications=3)
    seeds = results.runs.groupby(list(SWEEP))["seed"].apply(tuple)
    assert seeds.nunique() == 1
    # common random numbers: every point saw the same arrivals
    assert results.runs.groupby("replication")["produced"].nunique().eq(1).all()


def test_a_study_extends_with_resume_without_redoing_work(tmp_path: Path) -> None:
    first = sim.sweep(small(), SWEEP, replications=2, out=tmp_path)
    more = sim.sweep(small(), SWEEP, replications=4, out=tmp_path, resume=True)
    fresh = sim.sweep(small(), SWEEP, replications=4)
    assert (first.reused, more.reused) == (0, 4 * 2)
    assert tables(more) == tables(fresh)


def test_resume_refuses_the_runs_of_another_scenario(tmp_path: Path) -> None:
    sim.sweep(small(), SWEEP, replications=2, out=tmp_path)
    with pytest.raises(sim.study.journal.StudyMismatch):
        sim.sweep(small(workload={"rate": 60.0}), SWEEP, replications=2, out=tmp_path, resume=True)


def test_a_killed_study_resumes_to_the_tables_of_an_uninterrupted_one(tmp_path: Path) -> None:
    """Kill the CLI (SIGKILL: no chance to clean up) after some runs finished."""
    path = tmp_path / "s.toml"
    path.write_text(small().model_copy(update={"sweep": SWEEP}).to_toml(), encoding="utf-8")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "sim.cli",
        "run",
        str(path),
        "--out",
        str(out),
        "--replications",
        "6",
        "--jobs",
        "1",
        "--quiet",
    ]
    child = subprocess.Popen(command, cwd=Path(__file__).parents[1])
    parts = out / "parts"
    deadline = time.monotonic() + 60
    while len(list(parts.glob("*.json"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = len(list(parts.glob("*.json")))
    assert 5 <= kept < 24, "the study should have been killed halfway"
    assert not (out / "runs.csv").exists()
    for part in parts.glob("*.json"):  # no half-written part (a .tmp file may be left over)
        json.loads(part.read_text(encoding="utf-8"))

    finish = subprocess.run(
        [*command, "--resume"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finish.returncode == 0, finish.stderr
    assert not list(parts.glob(".*.tmp"))  # the leftovers of the killed process are gone
    meta = json.loads((out / "meta.json").read_text())
    assert meta["reused_runs"] == kept
    again = tmp_path / "again"
    subprocess.run(
        [*command[:6], str(again), *command[7:]], cwd=Path(__file__).parents[1], check=True
    )
    for name in ("runs.csv", "summary.csv", "faults.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_ctrl_c_keeps_finished_runs_and_says_how_to_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        small(duration=20.0).model_copy(update={"sweep": SWEEP}).to_toml(), encoding="utf-8"
    )
    out = tmp_path / "out"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "run",
            str(path),
            "--out",
            str(out),
            "--replications",
            "10",
            "--jobs",
            "2",
        ],
        cwd=Path(__file__).parents[1],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list((out / "parts").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    started = time.monotonic()
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130, stderr
    assert time.monotonic() - started < 1.0  # the "within a second" (0.3 to 0.5 s here)
    assert "--resume" in stderr and "Traceback" not in stderr
    assert len(list((out / "parts").glob("*.json"))) >= 3


# --- replications = "auto" -----------------------------------------------------------------


def test_auto_replications_stop_once_every_interval_is_precise() -> None:
    results = sim.run(small(faults=[]), replications="auto", precision=0.1, max_replications=100)
    n = len(results.seeds)
    assert results.precise is True
    assert 5 < n < 100
    summary = results.summary[results.summary["figure"].isin(AUTO_TARGETS)]
    half = (summary["ci_high"] - summary["ci_low"]) / 2
    assert (half <= 0.1 * summary["mean"].abs() + 1e-12).all()
    assert (summary["n"] == n).all()


def test_auto_replications_stop_at_the_cap_and_say_so() -> None:
    results = sim.run(small(), replications="auto", precision=0.001, max_replications=7)
    assert len(results.seeds) == 7
    assert results.precise is False


@pytest.mark.slow
def test_auto_replication_intervals_cover_the_true_value() -> None:
    """At-most-once with publish loss p: the loss rate is p. Over 60 independent studies the
    sequentially chosen 95% interval must contain p about 95% of the time (the bound allows
    3.5 standard deviations of a binomial count below that)."""
    p, studies = 0.1, 60
    s = scenario(
        duration=10.0,
        drain=1.0,
        network={"publish": {"loss": p}},
        delivery={"semantics": "at-most-once"},
    )
    covered = 0
    for study in range(studies):
        results = sim.run(s, replications="auto", seed=1000 + study, precision=0.1)
        row = results.summary[results.summary["figure"] == "loss_rate"].iloc[0]
        covered += row["ci_low"] <= p <= row["ci_high"]
    bound = 0.95 * studies - 3.5 * np.sqrt(studies * 0.95 * 0.05)
    assert covered >= bound, f"{covered}/{studies} intervals cover p"


# --- the command line ------------------------------------------------------------------------


def dsim(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_cli_sweep_values_are_read_as_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(small().to_toml(), encoding="utf-8")
    out = tmp_path / "o"
    result = dsim(
        "run",
        path,
        "--out",
        out,
        "--replications",
        "2",
        "--jobs",
        "1",
        "--sweep",
        "delivery.semantics=at-most-once,exactly-once",
        "--sweep",
        'network.publish_ack.latency={ dist = "constant", value = 0.01 }',
        "--sweep",
        "broker.capacity=inf,100",
    )
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["delivery.semantics"].tolist().count("exactly-once") == 2 * 2
    assert sorted(runs["broker.capacity"].unique()) == [100.0, np.inf]
    assert "runs (" in result.stderr  # plain progress lines when not on a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "delivery.semantics"], "expected KEY=VALUE,VALUE"),
        (["--sweep", "delivery.semantics=sometimes"], 'sweep."delivery.semantics"[0]'),
        (["--replications", "many"], "expected a number or 'auto'"),
        (["--executor", "threads"], "unknown executor"),
    ],
)
def test_cli_refuses_bad_study_options(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(small().to_toml(), encoding="utf-8")
    result = dsim("run", path, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_says_what_to_install_when_dask_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    path = tmp_path / "s.toml"
    path.write_text(small().to_toml(), encoding="utf-8")
    result = dsim("run", path, "--out", tmp_path / "o", "--executor", "dask")
    assert result.exit_code == 2
    assert "pip install 'delivery-sim[dask]'" in result.stderr


def test_cli_resume_of_another_scenario_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(small().to_toml(), encoding="utf-8")
    out = tmp_path / "o"
    assert dsim("run", path, "--out", out, "--replications", "2", "--quiet").exit_code == 0
    result = dsim(
        "run", path, "--out", out, "--replications", "2", "--resume", "--set", "workload.rate=70"
    )
    assert result.exit_code == 2
    assert "different scenario" in result.stderr


def test_meta_records_the_study(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(small().to_toml(), encoding="utf-8")
    out = tmp_path / "o"
    dsim(
        "run",
        path,
        "--out",
        out,
        "--replications",
        "auto",
        "--precision",
        "0.2",
        "--jobs",
        "1",
        "--sweep",
        "delivery.semantics=at-least-once,exactly-once",
        "--quiet",
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["executor"] == "serial"
    assert meta["sweep"] == {"delivery.semantics": ["at-least-once", "exactly-once"]}
    assert meta["replications"] == len(meta["replication_seeds"]) >= 5
    assert meta["precision_reached"] is True
    assert meta["wall_time_seconds"] > 0
    reloaded = sim.load_scenario(out / "scenario.toml")
    assert reloaded.sweep == meta["sweep"]
    assert reloaded.replications == meta["replications"]
