"""Results on disk: where ``dsim run`` may write, what the result directory records, and how
``dsim plot`` reports a damaged one (exit code 2, the file named, never a traceback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

import sim.study.files
import sim.study.journal
from sim.cli import app, directory_name
from sim.study.files import DamagedResults, is_result_directory, read_tables
from tests.test_cli import RESULT_FILES, dsim, runner

SCENARIO = """
name = "small"
seed = 5
replications = 2
duration = 1.0
drain = 1.0

[workload]
rate = 20.0

[network.publish_ack]
loss = 0.1

[[consumers]]
name = "billing"

[[faults]]
target = "broker"
at = 0.5
duration = 0.1
"""
CSV_FILES = ["summary.csv", "runs.csv", "latency.csv", "timeline.csv", "faults.csv"]


def no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def run(path: Path, out: Path, *more: str | Path):
    return dsim("run", path, "--out", out, "--jobs", "1", "--quiet", "--no-charts", *more)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One result directory, written once; tests damage copies of it."""
    base = tmp_path_factory.mktemp("intact")
    path = base / "small.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    result = run(path, base / "out")
    assert result.exit_code == 0, result.output
    return base / "out"


@pytest.fixture
def copy(intact: Path, tmp_path: Path) -> Path:
    target = tmp_path / "results"
    shutil.copytree(intact, target)
    return target


# ---------------------------------------------------------------------------------------------
# Where dsim run may write


def test_a_directory_of_other_files_is_refused(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious", encoding="utf-8")
    result = run(scenario, out)
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{out} exists and is not a delivery-sim result directory" in result.stderr
    assert "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["chapter1.tex"]  # nothing written


def test_force_writes_into_it_anyway(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious", encoding="utf-8")
    result = run(scenario, out, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "chapter1.tex").read_text(encoding="utf-8") == "precious"
    assert {p.name for p in out.iterdir()} >= RESULT_FILES
    assert is_result_directory(out)


@pytest.mark.parametrize(
    "meta",
    ['{"tool": "something-else"}', "{not json", '["delivery-sim"]', ""],
    ids=["another-tool", "garbled", "not-an-object", "empty"],
)
def test_a_meta_json_that_is_not_ours_is_refused(scenario: Path, tmp_path: Path, meta: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "meta.json").write_text(meta, encoding="utf-8")
    result = run(scenario, out)
    no_traceback(result)
    assert result.exit_code == 2
    assert "not a delivery-sim result directory" in result.stderr


def test_a_new_or_empty_directory_is_fine(scenario: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(scenario, empty).exit_code == 0
    assert run(scenario, tmp_path / "new" / "deeper").exit_code == 0
    assert is_result_directory(empty) and is_result_directory(tmp_path / "new" / "deeper")


def test_a_result_directory_is_overwritten(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(scenario, out).exit_code == 0
    (out / "charts").mkdir()  # what the earlier run drew stays beside the new files
    again = run(scenario, out, "--seed", "9", "--set", "workload.rate=30")
    assert again.exit_code == 0, again.output
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["seed"] == 9
    assert "rate = 30.0" in (out / "scenario.toml").read_text(encoding="utf-8")


def test_an_interrupted_study_can_be_resumed(scenario: Path, tmp_path: Path) -> None:
    """A study killed before it wrote meta.json left only its journal: still ours."""
    out = tmp_path / "out"
    assert run(scenario, out).exit_code == 0
    for path in out.iterdir():
        if path.name != "parts":
            path.unlink()
    assert is_result_directory(out)
    resumed = run(scenario, out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "meta.json").read_text(encoding="utf-8"))["reused_runs"] == 2


def test_out_pointing_at_a_file_is_refused(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.txt"
    out.write_text("not a directory", encoding="utf-8")
    result = run(scenario, out)
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{out} is a file, not a directory" in result.stderr
    assert out.read_text(encoding="utf-8") == "not a directory"


def test_out_below_a_file_is_refused(scenario: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = run(scenario, blocker / "out")
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{blocker / 'out'}" in result.stderr
    assert "Not a directory" in result.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_place_is_refused(scenario: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run(scenario, locked / "out")
    finally:
        locked.chmod(0o700)
    no_traceback(result)
    assert result.exit_code == 2
    assert "Permission denied" in result.stderr


def refuse_writes(*_: object, **__: object) -> None:
    raise PermissionError(13, "Permission denied", "/somewhere/runs.csv")


def test_an_error_writing_the_result_files_is_reported(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim.study.files, "write_atomic", refuse_writes)
    result = run(scenario, tmp_path / "out")
    no_traceback(result)
    assert result.exit_code == 2
    assert f"cannot write results to {tmp_path / 'out'}" in result.stderr
    assert "Permission denied: /somewhere/runs.csv" in result.stderr


def test_an_error_writing_the_journal_is_reported(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim.study.journal, "write_atomic", refuse_writes)
    result = run(scenario, tmp_path / "out")
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{tmp_path / 'out'}" in result.stderr and "Permission denied" in result.stderr


@pytest.mark.parametrize(
    "name, expected",
    [
        ("orders", "orders"),
        ("../../escape", "_.._escape"),
        ("/etc", "_etc"),
        ("..", "_"),
        ("a\x00b\nc", "a_b_c"),
        ('what? "this" <is> a|b:c*d', "what_ _this_ _is_ a_b_c_d"),
        ("é" * 200, "é" * 60),
    ],
)
def test_the_default_directory_is_one_safe_name(name: str, expected: str) -> None:
    assert directory_name(name) == expected


def test_a_scenario_name_cannot_send_results_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "s.toml").write_text(
        SCENARIO.replace('name = "small"', 'name = "../../outside"'), encoding="utf-8"
    )
    monkeypatch.chdir(work)
    result = dsim("run", "s.toml", "--jobs", "1", "--quiet", "--no-charts")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (work / "results").iterdir()] == ["_.._outside"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


# ---------------------------------------------------------------------------------------------
# What the result directory records


def test_meta_records_the_exact_command_tool_and_version(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(scenario), "--out", str(out), "--jobs", "1", "--quiet", "--no-charts"]
    args += ["--set", "workload.rate=25", "--seed", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["command"] == ["dsim", *args]
    assert meta["tool"] == "delivery-sim"
    assert meta["version"] == metadata.version("delivery-sim") != "unknown"


def test_meta_records_the_command_line_of_a_real_process(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(scenario), "--out", str(out), "--replications", "1", "--quiet"]
    args += ["--no-charts", "--jobs", "1"]
    subprocess.run([sys.executable, "-m", "sim.cli", *args], check=True)
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["command"] == ["dsim", *args]


def test_result_files_follow_the_umask(intact: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for name in [*CSV_FILES, "scenario.toml", "meta.json"]:
        assert (intact / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


# ---------------------------------------------------------------------------------------------
# dsim plot on damaged results


def test_plot_redraws_intact_results(copy: Path) -> None:
    result = dsim("plot", copy)
    assert result.exit_code == 0, result.output
    assert (copy / "charts" / "loss_and_duplicates.png").exists()


def test_plot_draws_an_architecture_comparison(tmp_path: Path) -> None:
    """Its timeline.csv holds no columns at all (there is no timeline): that is not damage."""
    out = tmp_path / "arch"
    made = dsim(
        "run",
        "subscription",
        "--out",
        out,
        *("--set", "duration=1", "--set", "drain=1", "--replications", "1"),
        *("--jobs", "1", "--quiet", "--no-charts"),
    )
    assert made.exit_code == 0, made.output
    result = dsim("plot", out)
    assert result.exit_code == 0, result.output
    assert (out / "charts" / "architectures.png").exists()


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def half_last_line(path: Path) -> None:
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: data.rfind(b"\n") + 1 + (len(data) - data.rfind(b"\n")) // 2])


def header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes().split(b"\n")[0] + b"\n")


def drop_column(column: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        at = lines[0].split(",").index(column)
        kept = [",".join(c for i, c in enumerate(line.split(",")) if i != at) for line in lines]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")

    return damage


def text_in_column(column: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        at = lines[0].split(",").index(column)
        cells = lines[1].split(",")
        cells[at] = "oops"
        lines[1] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return damage


def extra_field(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] += ",surplus"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    **{f"missing-{n}": (n, Path.unlink, "missing") for n in CSV_FILES},
    **{f"empty-{n}": (n, lambda p: p.write_bytes(b""), "empty") for n in CSV_FILES},
    **{f"half-{n}": (n, cut_in_half, "") for n in CSV_FILES if n != "faults.csv"},
    **{f"half-line-{n}": (n, half_last_line, "cut short") for n in CSV_FILES},
    "header-only-summary": ("summary.csv", header_only, "a header line and no rows"),
    "header-only-runs": ("runs.csv", header_only, "a header line and no rows"),
    "binary-summary": ("summary.csv", lambda p: p.write_bytes(bytes(range(256)) * 4), "not text"),
    "binary-latency": ("latency.csv", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe"), ""),
    "nul-bytes-runs": ("runs.csv", lambda p: p.write_bytes(b"a,b\n\x00\x00\n"), "NUL"),
    "prose-timeline": ("timeline.csv", lambda p: p.write_text("hello world\n"), "missing column"),
    "no-mean-column": ("summary.csv", drop_column("mean"), "missing column(s): mean"),
    "no-group-column": ("runs.csv", drop_column("group"), "missing column(s): group"),
    "no-seconds-column": ("latency.csv", drop_column("seconds"), "missing column(s): seconds"),
    "no-time-column": ("timeline.csv", drop_column("time"), "missing column(s): time"),
    "text-for-a-number": ("summary.csv", text_in_column("mean"), "'oops', not a number"),
    "text-for-a-quantile": ("latency.csv", text_in_column("quantile"), "not a number"),
    "a-row-too-long": ("runs.csv", extra_field, "row 2 has"),
    "duplicate-header": ("faults.csv", lambda p: p.write_text("a,a\n1,2\n"), "header"),
}


@pytest.mark.parametrize("name, damage, says", DAMAGE.values(), ids=DAMAGE.keys())
def test_plot_names_the_damaged_file(
    copy: Path, name: str, damage: Callable[[Path], None], says: str
) -> None:
    damage(copy / name)
    result = dsim("plot", copy)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    state = "missing" if says == "missing" else "damaged"
    assert f"error: {copy}: not a readable dsim result directory: {name} is {state}" in (
        result.stderr
    )
    assert says in result.stderr
    assert not (copy / "charts").exists()  # nothing drawn from it


def test_plot_of_a_missing_directory(tmp_path: Path) -> None:
    result = dsim("plot", tmp_path / "nowhere")
    no_traceback(result)
    assert result.exit_code == 2
    assert "no such directory" in result.stderr


def test_rows_that_do_not_fit_together_are_reported(copy: Path) -> None:
    """Every file reads, but the summary names a scenario no other table has: drawing fails
    somewhere in the charts, and that is reported as well (exit code 2)."""
    summary = copy / "summary.csv"
    lines = summary.read_text(encoding="utf-8").splitlines()
    summary.write_text(lines[0] + "\n" + "\n".join(lines[1:2]) + "\n", encoding="utf-8")
    result = dsim("plot", copy)
    no_traceback(result)
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert "do not fit together" in result.stderr


def test_read_tables_raises_damaged_results_with_the_path(copy: Path) -> None:
    assert set(read_tables(copy)) == {"summary", "runs", "latency", "timeline", "faults"}
    (copy / "faults.csv").unlink()
    with pytest.raises(DamagedResults) as caught:
        read_tables(copy)
    assert caught.value.path == copy / "faults.csv"
