"""Charts: every one renders from a small saved result, carries its labels, and `dsim plot`
redraws exactly what `dsim run` drew."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from typer.testing import CliRunner

matplotlib.use("Agg")

from matplotlib.figure import Figure

from sim import plots
from sim.cli import app
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.scenario.catalog import default_scenario
from sim.study.files import read_tables

CHARTS = [
    "loss_and_duplicates",
    "latency",
    "sweep_failure_rate",
    "timeline_streaming",
    "timeline_pubsub",
    "causes",
    "price",
]


def dsim(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in comparison, shortened: every semantics, pattern and failure level."""
    out = tmp_path_factory.mktemp("default")
    ran = dsim(
        "run",
        "--out",
        out,
        "--replications",
        "2",
        "--jobs",
        "1",
        "--quiet",
        "--set",
        "duration=6",
        "--set",
        "drain=4",
        "--set",
        "faults[0].at=2",
    )
    assert ran.exit_code == 0, ran.output
    return out


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_every_chart_is_written_and_is_a_real_image(result: Path) -> None:
    for stem in CHARTS:
        path = result / "charts" / f"{stem}.png"
        assert path.exists(), stem
        assert path.stat().st_size > 30_000, f"{stem} looks empty"
        width, height = png_size(path)
        assert width > 600 and height > 300


def test_plot_redraws_the_same_chart_files(result: Path, tmp_path: Path) -> None:
    drawn = {p.name: p.read_bytes() for p in (result / "charts").glob("*.png")}
    replot = dsim("plot", result)
    assert replot.exit_code == 0, replot.output
    assert {p.name: p.read_bytes() for p in (result / "charts").glob("*.png")} == drawn


def test_charts_drawn_in_parallel_are_the_files_drawn_one_by_one(
    result: Path, tmp_path: Path
) -> None:
    tables = read_tables(result)
    written = []

    def meanwhile() -> None:
        written.append("results")

    serial = plots.draw_all(tables, tmp_path / "serial", jobs=1)
    parallel = plots.draw_all(tables, tmp_path / "parallel", jobs=2, meanwhile=meanwhile)
    assert [p.name for p in serial] == [p.name for p in parallel] == [f"{s}.png" for s in CHARTS]
    assert [p.read_bytes() for p in serial] == [p.read_bytes() for p in parallel]
    assert written == ["results"]  # the caller's work, done while the charts were drawn


def test_svg_on_request(result: Path) -> None:
    replot = dsim("plot", result, "--format", "svg")
    assert replot.exit_code == 0, replot.output
    for stem in CHARTS:
        text = (result / "charts" / f"{stem}.svg").read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert dsim("plot", result, "--format", "gif").exit_code == 2


def test_plot_refuses_a_directory_without_results(tmp_path: Path) -> None:
    replot = dsim("plot", tmp_path)
    assert replot.exit_code == 2
    assert "not a readable dsim result directory" in replot.stderr
    assert "Traceback" not in replot.output


def tables(result: Path) -> dict[str, pd.DataFrame]:
    return read_tables(result)


def test_bars_carry_labels_intervals_and_one_colour_per_semantics(result: Path) -> None:
    t = tables(result)
    point, where = plots.at_point(t["summary"], plots.sweep_columns(t["summary"]))
    assert where == " (at failure_rate = 0.1)"
    ax = plots.rate_bars(point, "loss_rate", Figure().subplots())
    assert ax.get_ylabel() == "lost (% of eligible messages)"
    bars = ax.patches
    assert len(bars) == len(SEMANTICS) * len(PATTERNS)  # the default compares every one
    assert {bar.get_facecolor()[:3] for bar in bars} == {
        matplotlib.colors.to_rgb(s.style.colour) for s in SEMANTICS
    }
    assert [t.get_text() for t in ax.get_xticklabels()] == list(PATTERNS.names) * len(SEMANTICS)
    assert len(ax.lines) + len(ax.collections) > 0  # the interval error bars


def test_sweep_curves_lines_bands_and_axes(result: Path) -> None:
    t = tables(result)
    others = [c for c in plots.sweep_columns(t["summary"]) if c != "failure_rate"]
    sliced, _ = plots.at_point(t["summary"], others)
    ax = plots.sweep_curve(sliced, "failure_rate", "dup_rate", Figure().subplots())
    assert ax.get_xlabel() == "failure_rate"
    assert ax.get_ylabel() == "duplicate applications (% of eligible)"
    systems = len(SEMANTICS) * len(PATTERNS)
    assert len(ax.lines) == systems  # a line per semantics and pattern
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.lines}
    assert len(styles) == systems


def test_latency_cdf_is_a_distribution_on_a_log_axis(result: Path) -> None:
    t = tables(result)
    latency, _ = plots.at_point(t["latency"], plots.sweep_columns(t["summary"]))
    ax = plots.latency_cdf(latency, "end_to_end", Figure().subplots())
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "latency (s, log scale)"
    curves = [line for line in ax.lines if len(line.get_xdata()) > 2]
    assert curves
    for line in curves:
        y = line.get_ydata()
        assert (y[1:] >= y[:-1]).all() and y.max() <= 1.0


def test_timeline_panels_shade_the_fault_windows(result: Path) -> None:
    t = tables(result)
    columns = plots.sweep_columns(t["summary"])
    timeline, _ = plots.at_point(t["timeline"], columns)
    faults, _ = plots.at_point(t["faults"], columns)
    one = timeline[(timeline.semantics == "at-least-once") & (timeline.pattern == "streaming")]
    windows = faults[
        (faults.semantics == "at-least-once")
        & (faults.pattern == "streaming")
        & (faults.replication == 0)
    ]
    fig = Figure()
    top, middle, bottom = fig.subplots(3, 1)
    plots.throughput(one, top, faults=windows)
    plots.backlog(one, middle, faults=windows)
    plots.damage(one, bottom, faults=windows)
    assert top.get_ylabel() == "messages / s"
    assert bottom.get_xlabel() == "simulated time (s)"
    assert any("broker crash" in text.get_text() for text in top.texts)
    assert len(top.patches) == len(windows) >= 1  # one shaded span per window


def test_cause_and_price_bars(result: Path) -> None:
    t = tables(result)
    columns = plots.sweep_columns(t["summary"])
    point, _ = plots.at_point(t["summary"], columns)
    ax = plots.cause_bars(point, Figure().subplots())
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "publish lost" in legend
    runs, _ = plots.at_point(t["runs"], columns)
    ax = plots.price_bars(runs, "wire_messages", "delivered", Figure().subplots())
    assert ax.get_ylabel() == "wire messages per delivered message"
    heights = [bar.get_height() for bar in ax.patches]
    assert all(h > 1 for h in heights)  # every delivered message costs several network trips


def test_the_built_in_comparison_is_the_shipped_default() -> None:
    assert default_scenario().name == "default.toml"
    shipped = Path(__file__).parents[1] / "scenarios" / "default.toml"
    assert default_scenario().read_text() == shipped.read_text()


def test_charts_of_another_group_and_a_study_without_faults(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        'name = "two"\nduration = 4.0\ndrain = 2.0\n'
        '[[consumers]]\nname = "first"\n[[consumers]]\nname = "second"\n'
        '[sweep]\n"network.publish_ack.loss" = [0.0, 0.1]\n'
    )
    out = tmp_path / "out"
    ran = dsim(
        "run",
        path,
        "--out",
        out,
        "--replications",
        "2",
        "--jobs",
        "1",
        "--quiet",
        "--group",
        "second",
    )
    assert ran.exit_code == 0, ran.output
    assert (out / "charts" / "sweep_network_publish_ack_loss.png").exists()
    wrong = dsim("plot", out, "--group", "third")
    assert wrong.exit_code == 2 and "groups: first, second" in wrong.stderr


def test_dead_letters_get_a_panel_and_rebalances_are_shaded(tmp_path: Path) -> None:
    path = tmp_path / "dlq.toml"
    path.write_text(
        'name = "dlq"\nduration = 4.0\ndrain = 2.0\n'
        "[workload]\nrate = 50.0\npoison = 0.05\n"
        "[delivery]\nmax_deliveries = 2\n"
        '[[consumers]]\nname = "c"\ninstances = 2\nsession_timeout = 0.5\n'
        "commit_interval = 0.2\nrebalance_time = 0.1\n"
        '[[faults]]\ntarget = "consumer:c:1"\nat = 1.0\nduration = 2.0\n'
        '[sweep]\n"delivery.dead_letter" = [false, true]\n'
    )
    out = tmp_path / "out"
    ran = dsim("run", path, "--out", out, "--replications", "2", "--jobs", "1", "--quiet")
    assert ran.exit_code == 0, ran.output
    t = tables(out)
    view, planned = plots.plan(t)
    drawn = {p.stem: p.figure(t, view) for p in planned}
    titles = [ax.get_title() for ax in drawn["loss_and_duplicates"].axes]
    assert "How many end in the dead-letter queue?" in titles
    sweep = [ax for ax in drawn["sweep_delivery_dead_letter"].axes if ax.get_visible()]
    assert len(sweep) == 5 and "dead-lettered" in " ".join(ax.get_ylabel() for ax in sweep)
    assert len(drawn["causes"].axes) == 3
    shading = [text.get_text() for ax in drawn["timeline_streaming"].axes for text in ax.texts]
    assert "consumer:c rebalance" in shading
