"""The shipped scenarios (``scenarios/*.toml``, the package's ``sim/scenarios``): each one
validates, runs at a small size with the invariant holding, states its question, and tells the
story it was written for. Also ``dsim list`` and running or validating a scenario by name.

The story checks run shrunk copies (shorter workload and drain, fewer replications, through
``load_scenario`` overrides); what they assert was first observed on the full-size runs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
import sim.scenario.catalog
from sim.cli import app
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.scenario.catalog import shipped_folder, shipped_scenarios

runner = CliRunner(env={"COLUMNS": "300"})
ANSI = re.compile(r"\x1b\[[0-9;]*m")

FOLDER = shipped_folder()
FILES = sorted(FOLDER.glob("*.toml"))
CATALOG = [
    "default",
    "orders",
    "fire-and-forget",
    "location-updates",
    "anomaly-detection",
    "subscription-broadcast",
    "traffic-spike",
    "delivery-semantics",
]
"""The scenarios the seed's use cases asked for (issue 5), plus the built-in comparison."""


def plain(text: str) -> str:
    return ANSI.sub("", text)


def run_small(name: str, **overrides: Any) -> pd.DataFrame:
    """Runs of a shipped scenario shrunk by ``overrides`` (dotted keys), invariant checked."""
    values = {"replications": 2, **{k.replace("__", "."): v for k, v in overrides.items()}}
    scenario = sim.load_scenario(FOLDER / f"{name}.toml", values)
    runs = sim.run(scenario, jobs=1).runs
    check_invariants(runs)
    return runs


def check_invariants(runs: pd.DataFrame) -> None:
    assert not runs.empty
    if "approach" in runs:  # an architecture comparison
        assert (runs["requests"] >= runs["succeeded"]).all()
        assert (runs["inconsistent"] + runs["unsettled"] <= runs["requests"]).all()
        return
    balance = runs["delivered"] + runs["lost"] + runs["pending"]
    assert (runs["eligible"] == balance).all(), runs[runs["eligible"] != balance]
    causes = runs[[c for c in runs.columns if c.startswith("lost_")]].sum(axis=1)
    assert (causes == runs["lost"]).all()


def mean(runs: pd.DataFrame, figure: str, **where: Any) -> float:
    rows = runs
    for column, value in where.items():
        rows = rows[rows[column.replace("__", ".")] == value]
    assert not rows.empty, where
    return float(rows[figure].mean())


# --- every shipped scenario --------------------------------------------------------------------


def test_the_catalogue_is_shipped():
    assert {p.stem for p in FILES} >= set(CATALOG)
    assert [s.path for s in shipped_scenarios()] == FILES


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_shipped_scenario_states_its_question_and_runs(path: Path):
    scenario = sim.load_scenario(path)
    assert scenario.name == path.stem  # `dsim run NAME` finds it by either
    assert len(scenario.description.split()) >= 10, "the description states the question"
    if path.stem != "default":  # the built-in comparison states what it compares
        assert "?" in scenario.description
    runs = run_small(path.stem, duration=3.0, drain=3.0, replications=1)
    if scenario.architecture is not None:
        assert set(runs["approach"]) == set(scenario.architecture.approaches)
        assert (runs["requests"] > 0).all()
        return
    assert set(runs["group"]) == {c.name for c in scenario.consumers}
    assert (runs["eligible"] > 0).all()


# --- the stories ---------------------------------------------------------------------------------


def test_orders_exactly_once_charges_nothing_twice_where_at_least_once_does():
    runs = run_small("orders", duration=10.0, drain=10.0, consumers__analytics__join_at=5.0)
    assert set(runs["semantics"]) == {"at-least-once", "exactly-once"}
    assert runs["lost"].sum() == 0 and runs["pending"].sum() == 0
    assert mean(runs, "dup_rate", semantics="at-least-once", group="billing") > 0.05
    assert mean(runs, "duplicates", semantics="exactly-once") == 0


def test_fire_and_forget_at_most_once_loses_some_and_saves_traffic():
    runs = run_small("fire-and-forget", duration=10.0, drain=5.0)
    amo, alo = {"semantics": "at-most-once"}, {"semantics": "at-least-once"}
    assert mean(runs, "loss_rate", **amo) > 0.005
    assert mean(runs, "lost", **alo) == 0
    assert mean(runs, "duplicates", **amo) == 0 < mean(runs, "duplicates", **alo)
    assert mean(runs, "wire_messages", **amo) < 0.85 * mean(runs, "wire_messages", **alo)
    assert mean(runs, "attempts", **amo) < mean(runs, "attempts", **alo)
    assert mean(runs, "publish_latency_p99", **amo) == 0 < mean(runs, "publish_latency_p99", **alo)


def test_location_updates_at_most_once_trades_a_few_updates_for_freshness():
    runs = run_small("location-updates", duration=25.0, drain=5.0)  # the outage is at 20-22 s
    amo, alo = {"semantics": "at-most-once"}, {"semantics": "at-least-once"}
    assert mean(runs, "produced", **amo) > 0 and (runs["eligible"] == runs["produced"]).all()
    assert mean(runs, "loss_rate", **amo) > 0.03
    assert mean(runs, "lost_publish_lost", **amo) == mean(runs, "lost", **amo)
    assert mean(runs, "lost", **alo) == 0
    assert mean(runs, "latency_p99", **alo) > 5 * mean(runs, "latency_p99", **amo)


def test_anomaly_detection_late_group_replays_history_retention_has_cut():
    runs = run_small(
        "anomaly-detection",
        duration=12.0,
        drain=10.0,
        consumers__detector__join_at=8.0,
        broker__retention=4.0,
    )
    scenario = sim.load_scenario(FOLDER / "anomaly-detection.toml")
    detector = next(c for c in scenario.consumers if c.name == "detector")
    assert detector.join_at > 0 and detector.start == "earliest"
    assert math.isfinite(scenario.broker.retention)
    rate = scenario.workload.producers * scenario.workload.rate
    # earliest: everything is eligible, also what was produced before the group joined ...
    assert mean(runs, "eligible", group="detector") > 1.2 * rate * 4.0
    # ... part of which retention deleted first, the rest replayed, far behind the live group
    assert mean(runs, "lost_retention", group="detector") > 0
    assert mean(runs, "lost", group="detector") == mean(runs, "lost_retention", group="detector")
    assert mean(runs, "delivered", group="detector") > 0
    assert mean(runs, "lost", group="dashboard") == 0
    assert mean(runs, "latency_p50", group="detector") > 10 * mean(
        runs, "latency_p99", group="dashboard"
    )


def test_subscription_broadcast_reaches_every_service_and_isolates_the_crashing_one():
    runs = run_small("subscription-broadcast", duration=30.0, drain=10.0)  # crm down 20-25 s
    groups = ["billing", "email", "analytics", "crm"]
    for _, point in runs.groupby(["semantics", "replication"]):
        assert sorted(point["group"]) == sorted(groups)  # one row per group
    assert runs["lost"].sum() == 0 and runs["pending"].sum() == 0
    crashes = runs.groupby("group")["consumer_crashes"].sum()
    assert crashes["crm"] > 0 and crashes.drop("crm").sum() == 0
    p99 = runs.groupby("group")["latency_p99"].mean()
    assert p99["crm"] > p99["email"] > p99["billing"]  # crashing, slow, the others
    alo = runs[runs["semantics"] == "at-least-once"].groupby("group")["duplicates"].mean()
    assert alo["crm"] > alo["billing"]
    assert mean(runs, "duplicates", semantics="exactly-once") == 0


def test_traffic_spike_is_absorbed_and_drained_at_each_groups_pace():
    runs = run_small("traffic-spike", duration=30.0, drain=20.0, replications=1)  # spike 20-25 s
    assert runs["lost"].sum() == 0 and runs["pending"].sum() == 0
    assert mean(runs, "latency_p99", group="indexer") > 3.0  # the backlog it works through
    assert mean(runs, "latency_p99", group="fraud") < 1.0


def test_delivery_semantics_one_failure_point_at_a_time():
    runs = run_small("delivery-semantics", duration=10.0, drain=10.0)
    labels = [
        "none",
        "publish lost",
        "publish ack lost",
        "crash before process",
        "crash after process",
        "consume ack lost",
    ]
    assert list(dict.fromkeys(runs["failure_point"])) == labels
    systems = len(SEMANTICS) * len(PATTERNS)  # the scenario sweeps every one ("*")
    assert len(runs.groupby(["semantics", "pattern", "failure_point"])) == systems * 6
    assert runs["pending"].sum() == 0
    table = runs.groupby(["semantics", "pattern", "failure_point"])[["lost", "duplicates"]].sum()
    none = table.xs("none", level="failure_point")
    assert (none == 0).all().all()  # no failure, nothing lost or applied twice
    for pattern in PATTERNS.names:
        amo = table.loc[("at-most-once", pattern)]
        alo = table.loc[("at-least-once", pattern)]
        eo = table.loc[("exactly-once", pattern)]
        assert (amo["duplicates"] == 0).all()
        assert amo.loc["publish lost", "lost"] > 0
        assert amo.loc["crash before process", "lost"] > 0
        assert amo.loc["publish ack lost", "lost"] == amo.loc["consume ack lost", "lost"] == 0
        assert (alo["lost"] == 0).all() and (eo["lost"] == 0).all()
        assert (eo["duplicates"] == 0).all()
        duplicating = {"publish ack lost", "crash after process"}
        if pattern == "pubsub":  # a lost ack is a redelivery; streaming commits are cumulative
            duplicating.add("consume ack lost")
        assert {p for p in labels if alo.loc[p, "duplicates"] > 0} == duplicating


# --- the command line ----------------------------------------------------------------------------


def test_dsim_list_shows_every_shipped_scenario():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    stdout = plain(result.stdout)
    for shipped in shipped_scenarios():
        assert shipped.name in stdout
        assert shipped.path.name in stdout
        assert shipped.description.split()[0] in stdout


def test_dsim_run_and_validate_take_a_shipped_name(tmp_path):
    out = tmp_path / "o"
    args = ["run", "orders", "--out", str(out), "--replications", "1", "--no-charts", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["scenario"]) == {"orders"}
    assert set(runs["semantics"]) == {"at-least-once", "exactly-once"}
    result = runner.invoke(app, ["validate", "delivery-semantics"])
    assert result.exit_code == 0, result.output
    assert "valid scenario 'delivery-semantics'" in plain(result.stdout)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_an_unknown_name_is_refused_with_the_known_names(tmp_path, command):
    extra = ["--out", str(tmp_path / "out")] if command == "run" else []
    result = runner.invoke(app, [command, "no-such-scenario", *extra])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    stderr = plain(result.stderr)
    assert "no-such-scenario" in stderr and "Traceback" not in result.output
    for name in CATALOG:
        assert name in stderr
    assert not (tmp_path / "out").exists()


TINY = 'name = "{name}"\ndescription = "A tiny one?"\nduration = 1.0\ndrain = 1.0\n'


def test_a_path_that_exists_wins_and_names_match_by_stem_or_name(tmp_path, monkeypatch):
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "stem.toml").write_text(TINY.format(name="inner-name"))
    monkeypatch.setattr(sim.scenario.catalog, "shipped_folder", lambda: folder)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for given in ("stem", "inner-name"):
        result = runner.invoke(app, ["validate", given])
        assert result.exit_code == 0, result.output
        assert "valid scenario 'inner-name'" in plain(result.stdout)
    (work / "stem").write_text(TINY.format(name="local"))  # a file of that name, here
    result = runner.invoke(app, ["validate", "stem"])
    assert result.exit_code == 0, result.output
    assert "valid scenario 'local'" in plain(result.stdout)
    result = runner.invoke(app, ["validate", "missing.toml"])  # a path: says what is wrong
    assert result.exit_code == 2
    assert "no such file" in plain(result.stderr)


def test_the_summary_title_names_no_single_semantics_when_they_are_swept(tmp_path):
    out = tmp_path / "o"
    args = ["run", "fire-and-forget", "--out", str(out), "--no-charts"]
    result = runner.invoke(app, [*args, "--replications", "1", "--set", "duration=2.0"])
    assert result.exit_code == 0, result.output
    title = plain(result.stdout).splitlines()[0]
    assert title.startswith("fire-and-forget, pubsub, group mailer: mean ±95% CI"), title
    assert "at-most-once" not in title and "at-least-once" not in title
