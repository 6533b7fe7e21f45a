"""The ``dsim`` command, through typer's CliRunner: result files, determinism, overrides and
refusals of bad input (exit code 2, file and key path named, no traceback).

This typer (0.29, with its own copy of click) keeps ``result.stdout`` and ``result.stderr``
apart and mixes both into ``result.output``. Errors must go to stderr. Rich sizes its output
from ``COLUMNS`` when it is not writing to a terminal, so the runner sets a wide one: the
content checks then do not depend on line wrapping, which has a test of its own.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.engine.streams import replication_seeds
from sim.registry.semantics import SEMANTICS
from sim.scenario.loading import load_scenario
from sim.study.files import version

runner = CliRunner(env={"COLUMNS": "300"})

TINY = """
name = "tiny"
seed = 3
replications = 2
duration = 2.0
drain = 2.0

[workload]
rate = 20.0

[network.publish_ack]
loss = 0.1

[[consumers]]
name = "billing"
crash_after_process = 0.05

[[consumers]]
name = "analytics"

[[faults]]
target = "broker"
kind = "crash"
at = 1.0
duration = 0.25
"""

ID_COLUMNS = ["scenario", "semantics", "pattern", "group", "replication", "seed"]
SPEC_FIGURES = [
    *["produced", "eligible", "delivered", "pending", "lost", "duplicates"],
    *["broker_duplicates", "loss_rate", "dup_rate", "reordered"],
    *[f"latency_{s}" for s in ("mean", "p50", "p90", "p99", "p999")],
    *[f"publish_latency_{s}" for s in ("mean", "p50", "p90", "p99", "p999")],
    *["attempts", "redeliveries", "wire_messages"],
]
"""SPEC section 2 (``latency_*``: mean, p50, p90, p99, p999)."""
SPEC_CAUSES = [
    *["publish_lost", "rejected", "producer_gave_up", "producer_crash"],
    *["broker_crash", "retention", "deliver_lost", "consumer_crash"],
]
RESULT_FILES = {
    "runs.csv",
    "summary.csv",
    "faults.csv",
    "latency.csv",
    "timeline.csv",
    "scenario.toml",
    "meta.json",
    "parts",
}
"""The result files, and the journal of finished runs (parts/) that --resume reads."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def write(directory: Path, text: str = TINY, name: str = "tiny.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def dsim(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def table(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def run_ok(*args: str | Path):
    """``dsim run`` that must succeed; charts are left to tests/test_plots.py (they cost a
    second or two per run)."""
    result = dsim("run", *args, "--no-charts")
    assert result.exit_code == 0, plain(result.output)
    assert result.exception is None
    return result


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    return write(tmp_path)


@pytest.fixture
def out(scenario_file: Path) -> Path:
    """The result directory of one run of the tiny scenario (two replications)."""
    directory = scenario_file.parent / "out"
    run_ok(scenario_file, "--out", directory, "--replications", "2")
    return directory


# ---------------------------------------------------------------------------------------------
# dsim run: what it prints and writes


def test_run_prints_a_summary_and_writes_every_result_file(scenario_file, tmp_path):
    directory = tmp_path / "results"
    result = run_ok(scenario_file, "--out", directory, "--replications", "2")
    stdout = plain(result.stdout)
    assert "tiny, at-least-once, streaming: mean ±95% CI over 2 replication(s)" in stdout
    for word in ("group", "eligible", "lost", "duplicated", "pending", "billing", "analytics"):
        assert word in stdout
    assert f"results in {directory}/" in stdout
    assert {p.name for p in directory.iterdir()} == RESULT_FILES
    assert "Traceback" not in result.output


def test_quiet_prints_nothing_and_still_writes(scenario_file, tmp_path):
    directory = tmp_path / "results"
    result = run_ok(scenario_file, "--out", directory, "--replications", "2", "--quiet")
    assert result.stdout == ""
    assert {p.name for p in directory.iterdir()} == RESULT_FILES


def test_figures_name_every_spec_figure_and_loss_cause():
    assert set(SPEC_FIGURES) <= set(sim.FIGURES)
    causes = [f"lost_{c}" for c in SPEC_CAUSES]
    assert set(causes) <= set(sim.FIGURES)
    assert {c.column for c in sim.Cause if c is not sim.Cause.NONE} <= set(sim.FIGURES)
    assert len(set(sim.FIGURES)) == len(sim.FIGURES)


def test_runs_csv_has_one_row_per_replication_and_group(out):
    assert header(out / "runs.csv") == [*ID_COLUMNS, *sim.FIGURES]
    rows = table(out / "runs.csv")
    assert sorted((r["replication"], r["group"]) for r in rows) == [
        ("0", "analytics"),
        ("0", "billing"),
        ("1", "analytics"),
        ("1", "billing"),
    ]
    assert {(r["scenario"], r["semantics"], r["pattern"]) for r in rows} == {
        ("tiny", "at-least-once", "streaming")
    }
    meta = json.loads((out / "meta.json").read_text())
    assert [int(r["seed"]) for r in rows if r["group"] == "billing"] == meta["replication_seeds"]
    for r in rows:  # SPEC section 2: eligible = delivered + lost + pending, one cause a loss
        n = {k: float(r[k]) for k in ("eligible", "delivered", "lost", "pending", "produced")}
        assert n["produced"] > 0
        assert n["eligible"] == n["delivered"] + n["lost"] + n["pending"]
        assert n["lost"] == sum(float(r[f"lost_{c}"]) for c in SPEC_CAUSES)


def test_summary_csv_has_an_interval_per_figure(out):
    assert header(out / "summary.csv") == [
        "scenario",
        "semantics",
        "pattern",
        "group",
        "figure",
        "n",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
    ]
    summary = table(out / "summary.csv")
    runs = table(out / "runs.csv")
    for group in ("billing", "analytics"):
        rows = {r["figure"]: r for r in summary if r["group"] == group}
        assert list(rows) == sim.FIGURES
        assert {r["n"] for r in rows.values()} == {"2"}
        for figure, r in rows.items():
            mean, low, high = float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])
            assert low <= mean <= high, figure
            values = [float(x[figure]) for x in runs if x["group"] == group]
            assert mean == pytest.approx(sum(values) / len(values)), figure


def test_faults_csv_records_the_scheduled_window(out):
    rows = table(out / "faults.csv")
    assert header(out / "faults.csv") == [
        "scenario",
        "semantics",
        "pattern",
        "replication",
        "target",
        "kind",
        "start",
        "end",
        "origin",
    ]
    windows = sorted(
        (r["replication"], r["target"], r["kind"], float(r["start"]), float(r["end"])) for r in rows
    )
    assert windows == [("0", "broker", "crash", 1.0, 1.25), ("1", "broker", "crash", 1.0, 1.25)]


def test_meta_json_has_version_seeds_and_wall_time(out):
    meta = json.loads((out / "meta.json").read_text())
    assert meta["version"] == version() != "unknown"
    assert meta["scenario"] == "tiny"
    assert meta["seed"] == 3
    assert meta["replications"] == 2
    assert meta["replication_seeds"] == replication_seeds(3, 2)  # derived from the seed, 3
    assert isinstance(meta["wall_time_seconds"], float | int)
    assert 0 <= meta["wall_time_seconds"] < 60


def test_scenario_toml_reloads_to_the_scenario_that_ran(scenario_file, tmp_path):
    overrides = [
        "workload.rate=30",
        "consumers.analytics.instances=2",
        "network.deliver.loss=0.01",
        "delivery.semantics=exactly-once",
    ]
    sets = [a for o in overrides for a in ("--set", o)]
    run_ok(scenario_file, "--out", tmp_path / "o", *sets)
    ran = load_scenario(scenario_file, overrides)
    reloaded = load_scenario(tmp_path / "o" / "scenario.toml")
    assert reloaded.resolved() == ran.resolved()  # the same values in effect


def test_scenario_toml_reproduces_the_run(out, tmp_path):
    again = tmp_path / "again"
    run_ok(out / "scenario.toml", "--out", again, "--quiet")
    assert (again / "runs.csv").read_bytes() == (out / "runs.csv").read_bytes()


# ---------------------------------------------------------------------------------------------
# Determinism and the --seed, --replications and --set options


def test_the_same_seed_gives_byte_identical_results(scenario_file, tmp_path):
    for name in ("a", "b"):
        run_ok(scenario_file, "--out", tmp_path / name, "--replications", "2", "--quiet")
    for name in ("runs.csv", "summary.csv", "faults.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_another_seed_gives_other_results(scenario_file, tmp_path):
    run_ok(scenario_file, "--out", tmp_path / "a", "--quiet")
    run_ok(scenario_file, "--out", tmp_path / "b", "--seed", "4", "--quiet")
    a, b = table(tmp_path / "a" / "runs.csv"), table(tmp_path / "b" / "runs.csv")
    assert {r["seed"] for r in a}.isdisjoint({r["seed"] for r in b})
    figures = [{k: v for k, v in r.items() if k != "seed"} for r in a]
    assert figures != [{k: v for k, v in r.items() if k != "seed"} for r in b]


def test_seed_and_replications_options_override_the_file(tmp_path):
    in_file = write(tmp_path, TINY.replace("seed = 3", "seed = 11"), "eleven.toml")
    run_ok(in_file, "--out", tmp_path / "file", "--quiet")
    other = write(tmp_path, TINY.replace("replications = 2", "replications = 5"), "five.toml")
    run_ok(other, "--out", tmp_path / "flags", "--seed", "11", "--replications", "2", "--quiet")
    flags = (tmp_path / "flags" / "runs.csv").read_bytes()
    assert flags == (tmp_path / "file" / "runs.csv").read_bytes()
    assert len(table(tmp_path / "flags" / "runs.csv")) == 2 * 2


def test_seed_and_replications_options_are_recorded(tmp_path):
    # scenario.toml "runs as it is" and meta.json says which seed made the results: both must
    # carry the values the run used, not the file's.
    path = write(tmp_path, TINY.replace("replications = 2", "replications = 5"))
    run_ok(path, "--out", tmp_path / "o", "--seed", "11", "--replications", "2", "--quiet")
    meta = json.loads((tmp_path / "o" / "meta.json").read_text())
    reloaded = load_scenario(tmp_path / "o" / "scenario.toml")
    recorded = {
        "meta.json": (meta["seed"], meta["replications"]),
        "scenario.toml": (reloaded.seed, reloaded.replications),
    }
    assert recorded == {"meta.json": (11, 2), "scenario.toml": (11, 2)}


def test_set_changes_the_run(scenario_file, tmp_path):
    run_ok(
        scenario_file,
        "--out",
        tmp_path / "o",
        "--quiet",
        "--set",
        "delivery.semantics=at-most-once",
        "--set",
        "delivery.pattern=pubsub",
        "--set",
        "consumers.billing.crash_after_process=0",
        "--set",
        "workload.rate=25",
    )
    rows = table(tmp_path / "o" / "runs.csv")
    assert {(r["semantics"], r["pattern"]) for r in rows} == {("at-most-once", "pubsub")}


def test_set_to_a_bad_value_in_a_later_option_still_refuses(scenario_file, tmp_path):
    result = dsim(
        "run",
        scenario_file,
        "--out",
        tmp_path / "o",
        "--set",
        "workload.rate=30",
        "--set",
        "network.loss=1.5",
    )
    assert result.exit_code == 2
    assert "  network.loss: expected a value <= 1" in plain(result.stderr)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# dsim validate


def test_validate_accepts_a_good_file(scenario_file):
    result = dsim("validate", scenario_file)
    assert result.exit_code == 0, plain(result.output)
    assert plain(result.stdout).strip() == (
        f"{scenario_file}: valid scenario 'tiny' (at-least-once, streaming, "
        "2 consumer group(s), 1 fault(s))"
    )
    assert result.stderr == ""


def test_validate_applies_set(scenario_file):
    result = dsim(
        "validate",
        scenario_file,
        "--set",
        "delivery.semantics=exactly-once",
        "--set",
        "delivery.pattern=pubsub",
    )
    assert result.exit_code == 0, plain(result.output)
    assert "(exactly-once, pubsub," in plain(result.stdout)


def test_validate_accepts_the_shipped_scenarios():
    shipped = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.toml"))
    assert shipped
    for path in shipped:
        result = dsim("validate", path)
        assert result.exit_code == 0, plain(result.output)


# ---------------------------------------------------------------------------------------------
# Bad input: exit code 2, the file and the key path named, no traceback

BAD = {
    "unknown-key": (
        TINY.replace("[workload]", "[workload]\nrat = 5.0"),
        [],
        "workload.rat",
        "did you mean 'rate'?",
    ),
    "wrong-type": (
        TINY.replace("duration = 2.0", 'duration = "2"'),
        [],
        "duration",
        "expected a number",
    ),
    "number-for-bool": (
        TINY + "[delivery]\natomic_dedup = 0\n",
        [],
        "delivery.atomic_dedup",
        "expected true or false",
    ),
    "probability-out-of-range": (
        TINY.replace("loss = 0.1", "loss = 1.1"),
        [],
        "network.publish_ack.loss",
        "expected a value <= 1",
    ),
    "negative-time": (
        TINY.replace("drain = 2.0", "drain = -2.0"),
        [],
        "drain",
        "expected a value >= 0",
    ),
    "unknown-distribution": (
        TINY.replace(
            'name = "analytics"', 'name = "analytics"\nservice_time = { dist = "weibull", k = 1.0 }'
        ),
        [],
        "consumers[1].service_time",
        "unknown distribution 'weibull'",
    ),
    "duplicate-consumer-name": (
        TINY.replace('"analytics"', '"billing"'),
        [],
        "consumers[1].name",
        "already used by consumers[0]",
    ),
    "missing-fault-target": (
        TINY.replace('target = "broker"', 'target = "consumer:billng"'),
        [],
        "faults[0].target",
        "no such target 'consumer:billng'",
    ),
    "wrong-fault-kind": (
        TINY.replace('kind = "crash"', 'kind = "partition"'),
        [],
        "faults[0].kind",
        "takes kind = 'crash'",
    ),
    "invalid-toml": (TINY.replace("seed = 3", "seed = = 3"), [], None, "invalid TOML"),
    "set-without-equals": (TINY, ["--set", "workload.rate"], "--set", "expected KEY=VALUE"),
    "set-into-a-number": (TINY, ["--set", "duration.x=1"], "duration.x", "not a table"),
    "set-unknown-consumer": (
        TINY,
        ["--set", "consumers.nope.instances=2"],
        "consumers.nope.instances",
        "no entry named 'nope'",
    ),
    "set-bad-value": (
        TINY,
        ["--set", "delivery.semantics=twice"],
        "delivery.semantics",
        "expected "
        + ", ".join(f"'{n}'" for n in SEMANTICS.names[:-1])
        + f" or '{SEMANTICS.names[-1]}'",
    ),
}


def assert_refused(result, path: Path | str, key: str | None, says: str) -> None:
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, plain(result.output)
    stderr = plain(result.stderr)
    assert result.stdout == ""  # errors go to stderr
    assert f"error: {path}: invalid scenario" in stderr
    problem = next((line for line in stderr.splitlines() if says in line), None)
    assert problem is not None, f"{says!r} not in {stderr!r}"
    if key is not None:
        assert problem.startswith(f"  {key}: "), problem


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("text, options, key, says", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_with_exit_code_2(tmp_path, command, text, options, key, says):
    path = write(tmp_path, text, "bad.toml")
    extra = ["--out", tmp_path / "out"] if command == "run" else []
    result = dsim(command, path, *extra, *options)
    assert_refused(result, path, key, says)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("kind", ["missing-file", "directory"])
def test_an_unreadable_path_is_refused_with_exit_code_2(tmp_path, command, kind):
    path = tmp_path / "nowhere.toml" if kind == "missing-file" else tmp_path
    extra = ["--out", tmp_path / "out"] if command == "run" else []
    result = dsim(command, path, *extra)
    says = "no such file" if kind == "missing-file" else "is a directory"
    assert_refused(result, path, None, says)
    assert not (tmp_path / "out").exists()


def test_errors_are_not_hard_wrapped_when_stderr_is_not_a_terminal(tmp_path):
    # Piped into a log or a CI page, the error must still name the file on one line that can
    # be searched for and copied; rich wraps at 80 columns unless told otherwise.
    directory = tmp_path / "a-directory-with-a-long-name-as-ci-checkouts-often-have"
    directory.mkdir()
    path = write(directory, TINY.replace("drain = 2.0", "drain = -2.0"), "scenario.toml")
    result = CliRunner(env={"COLUMNS": None}).invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    stderr = plain(result.stderr)
    assert f"error: {path}: invalid scenario" in stderr, stderr
    assert "  drain: expected a value >= 0" in stderr


def test_a_sweep_runs_every_point_on_the_same_replication_seeds(tmp_path):
    text = TINY + '\n[sweep]\n"delivery.semantics" = ["at-most-once", "at-least-once"]\n'
    text += '"network.publish_ack.loss" = [0.0, 0.3]\n'
    out = tmp_path / "o"
    run_ok(write(tmp_path, text), "--out", out, "--replications", "2", "--quiet")
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns[:5]) == [
        "scenario",
        "semantics",
        "pattern",
        "delivery.semantics",
        "network.publish_ack.loss",
    ]
    points = runs.groupby(["delivery.semantics", "network.publish_ack.loss"])
    assert points.ngroups == 4
    assert {tuple(sorted(g["seed"].unique())) for _, g in points} == {
        tuple(sorted(runs["seed"].unique()))
    }  # common random numbers across points
    assert (runs["semantics"] == runs["delivery.semantics"]).all()
    summary = pd.read_csv(out / "summary.csv")
    assert "network.publish_ack.loss" in summary.columns


def test_help_shows_every_default_as_written() -> None:
    """Help texts say ``[default: ...]`` in brackets, which rich markup would swallow."""
    run_help = " ".join(plain(dsim("run", "--help").stdout).split())
    assert "Processes to run on [default: all cores]" in run_help
    assert "The consumer group the charts show [default: the first]" in run_help
    explain_help = " ".join(plain(dsim("explain", "--help").stdout).split())
    assert "Only this consumer group [default: all]" in explain_help
