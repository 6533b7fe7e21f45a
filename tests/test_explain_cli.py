"""``dsim run --trace`` and ``dsim explain``: the trace file beside the results, stories and
causes read from it that agree with ``runs.csv``, sequence diagrams, and clear refusals
(exit code 2, no traceback) for an untraced, damaged or ambiguous result directory."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.report.explain import representatives, story
from sim.study.files import TRACE
from tests.test_cli import dsim, plain, run_ok, table, write

TRACED = """
name = "traced"
seed = 5
duration = 4.0
drain = 3.0

[workload]
rate = 40.0

[network]
loss = 0.05

[delivery]
semantics = "at-least-once"
pattern = "pubsub"

[[consumers]]
name = "billing"
crash_after_process = 0.03

[[consumers]]
name = "analytics"

[[faults]]
target = "broker"
kind = "crash"
at = 2.0
duration = 0.25

[sweep]
"delivery.semantics" = ["at-most-once", "at-least-once"]
"""
AT_LEAST_ONCE = ["--at", "semantics=at-least-once"]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A traced study of two points (at-most-once and at-least-once), one replication."""
    folder = tmp_path_factory.mktemp("traced")
    directory = folder / "out"
    run_ok(write(folder, TRACED), "--out", directory, "--replications", "1", "--trace")
    return directory


def explain(*args: str | Path):
    return dsim("explain", *args)


def refused(result, *words: str) -> str:
    """The error of a refused command: exit code 2, no traceback, every word in it."""
    assert result.exit_code == 2, plain(result.output)
    assert "Traceback" not in result.output
    text = " ".join(plain(result.stderr).split())
    for word in words:
        assert word in text, text
    return text


def trace_of(directory: Path, semantics: str) -> pd.DataFrame:
    trace = pd.read_parquet(directory / TRACE)
    return trace[trace["semantics"] == semantics]


def test_the_trace_is_written_beside_the_results_and_holds_every_point(traced: Path) -> None:
    trace = pd.read_parquet(traced / TRACE)
    assert set(trace["semantics"]) == {"at-most-once", "at-least-once"}
    assert set(trace["replication"]) == {0}
    for column in ("time", "event", "message", "group", "component", "detail", "cause"):
        assert column in trace.columns


@pytest.mark.parametrize("semantics", ["at-most-once", "at-least-once"])
def test_the_trace_on_disk_reproduces_runs_csv(traced: Path, semantics: str) -> None:
    """Losses and duplicates per group and cause, counted from trace.parquet alone, are the
    figures runs.csv has for replication 0 of the same point."""
    trace = trace_of(traced, semantics)
    rows = [
        r
        for r in table(traced / "runs.csv")
        if r["semantics"] == semantics and r["replication"] == "0"
    ]
    assert {r["group"] for r in rows} == {"billing", "analytics"}
    for row in rows:
        mine = trace[trace["group"] == row["group"]]
        lost = representatives(mine, "lost")
        dups = representatives(mine, "duplicated")
        assert lost["count"].sum() == int(row["lost"])
        assert dups["count"].sum() == int(row["duplicates"])
        for cause in LOSS_CAUSES:
            found = lost.loc[lost["cause"] == cause.name.lower(), "count"].sum()
            assert found == int(row[cause.column]), cause
        for cause in DUP_CAUSES:
            found = dups.loc[dups["cause"] == cause.name.lower(), "count"].sum()
            assert found == int(row[cause.column]), cause
    at_least_once = [r for r in table(traced / "runs.csv") if r["semantics"] == "at-least-once"]
    assert sum(int(r["duplicates"]) for r in at_least_once) > 0  # the test has something to see


def test_a_message_story_is_the_api_story(traced: Path) -> None:
    trace = trace_of(traced, "at-least-once")
    message = int(representatives(trace, "duplicated")["example"].iloc[0])
    result = explain(traced, "--message", str(message), *AT_LEAST_ONCE)
    assert result.exit_code == 0, plain(result.output)
    assert " ".join(story(trace, message).split()) in " ".join(plain(result.stdout).split())
    assert "applied again" in result.stdout


def test_a_message_in_several_points_asks_which(traced: Path) -> None:
    text = refused(explain(traced, "--message", "0"), "message 0 is in 2 points")
    assert "--at semantics=at-most-once" in text
    assert "--at semantics=at-least-once" in text


def test_group_keeps_one_groups_story(traced: Path) -> None:
    result = explain(traced, "--message", "0", *AT_LEAST_ONCE, "--group", "analytics")
    assert result.exit_code == 0, plain(result.output)
    assert "analytics" in result.stdout
    assert "billing" not in result.stdout
    refused(explain(traced, "--message", "0", *AT_LEAST_ONCE, "--group", "nope"), "'nope'")


@pytest.mark.parametrize("flag, kind", [("--lost", "lost"), ("--duplicated", "duplicated")])
def test_causes_with_counts_and_a_story_each(traced: Path, flag: str, kind: str) -> None:
    trace = trace_of(traced, "at-least-once" if kind == "duplicated" else "at-most-once")
    expected = representatives(trace, kind)
    assert not expected.empty
    point = "at-least-once" if kind == "duplicated" else "at-most-once"
    result = explain(traced, flag, "--at", f"semantics={point}")
    assert result.exit_code == 0, plain(result.output)
    out = plain(result.stdout)
    for cause, count, example in expected[["cause", "count", "example"]].itertuples(index=False):
        line = next(line for line in out.splitlines() if f" {cause} " in line)
        assert f" {count} " in line and f" {example} " in line, line
        assert f"{cause}, for example:" in out
        assert f"Message {example}:" in out


def test_causes_of_every_point_in_one_table(traced: Path) -> None:
    result = explain(traced, "--lost")
    assert result.exit_code == 0, plain(result.output)
    out = plain(result.stdout)
    assert "at-most-once" in out and "--at KEY=VALUE" in out
    assert "delivery.semantics" not in out  # the swept key repeats semantics: shown once


def test_at_refuses_what_names_no_point(traced: Path) -> None:
    refused(explain(traced, "--lost", "--at", "colour=red"), "'colour'", "semantics")
    refused(explain(traced, "--lost", "--at", "semantics=at-most"), "at-most-once, at-least-once")
    refused(explain(traced, "--lost", "--at", "semantics"), "KEY=VALUE")


def test_a_message_that_is_not_there(traced: Path) -> None:
    refused(explain(traced, "--message", "999999", *AT_LEAST_ONCE), "message 999999")


def test_explain_needs_something_to_explain(traced: Path) -> None:
    refused(explain(traced), "--message ID, --lost, --duplicated")
    refused(explain(traced, "--start", "1", "--end", "2"), "add --diagram")
    refused(explain(traced, "--diagram", *AT_LEAST_ONCE, "--start", "2"), "--end")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_a_message_diagram(traced: Path) -> None:
    result = explain(traced, "--message", "3", *AT_LEAST_ONCE, "--diagram")
    assert result.exit_code == 0, plain(result.output)
    path = traced / "diagrams" / "message-3-semantics_at-least-once.png"
    assert f"diagram: {path}" in " ".join(plain(result.stdout).split())
    width, height = png_size(path)
    assert width > 500 and height > 500
    assert path.stat().st_size > 20_000


def test_a_time_slice_diagram_in_svg_with_the_fault_window(traced: Path) -> None:
    result = explain(
        traced, "--diagram", *AT_LEAST_ONCE, "--start", "1.9", "--end", "2.4", "--format", "svg"
    )
    assert result.exit_code == 0, plain(result.output)
    path = traced / "diagrams" / "slice-1.9-2.4-semantics_at-least-once.svg"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml")
    assert "broker crash" in text  # the fault window is labelled
    assert "consumer:billing:0" in text and "producer:0" in text  # the lanes


def test_a_slice_of_several_points_asks_which(traced: Path) -> None:
    refused(
        explain(traced, "--diagram", "--start", "1", "--end", "2"), "in 2 points", "--at semantics"
    )


def test_an_untraced_result_says_how_to_trace(tmp_path: Path) -> None:
    directory = tmp_path / "out"
    run_ok(write(tmp_path, TRACED), "--out", directory, "--replications", "1")
    assert not (directory / TRACE).exists()
    refused(explain(directory, "--lost"), "trace.parquet is missing", "--trace")


def test_an_untraced_run_removes_an_earlier_trace(tmp_path: Path) -> None:
    directory = tmp_path / "out"
    scenario = write(tmp_path, TRACED)
    run_ok(scenario, "--out", directory, "--replications", "1", "--trace")
    assert (directory / TRACE).exists()
    run_ok(scenario, "--out", directory, "--replications", "1")
    assert not (directory / TRACE).exists()


@pytest.mark.parametrize("damage", ["truncated", "text", "columns"])
def test_a_damaged_trace_is_named(traced: Path, tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("runs.csv", "summary.csv", "meta.json"):
        (copy / name).write_bytes((traced / name).read_bytes())
    data = (traced / TRACE).read_bytes()
    if damage == "truncated":
        (copy / TRACE).write_bytes(data[: len(data) // 2])
    elif damage == "text":
        (copy / TRACE).write_text("time,event\n1,created\n", encoding="utf-8")
    else:
        pd.DataFrame({"time": [0.0]}).to_parquet(copy / TRACE)
    refused(explain(copy, "--lost"), "trace.parquet is damaged")


def test_a_missing_directory(tmp_path: Path) -> None:
    refused(explain(tmp_path / "nowhere", "--lost"), "no such directory")


def test_an_architecture_comparison_is_not_traced(tmp_path: Path) -> None:
    result = dsim("run", "subscription", "--out", tmp_path / "out", "--trace", "--no-charts")
    refused(result, "--trace", "architecture")
