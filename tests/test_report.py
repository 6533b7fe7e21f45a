"""The HTML report (``dsim report DIR``, ``dsim run --report``): one self-contained page that
holds, in order, the question, the answer in words, the summary table, every chart inline,
causes with their stories, the fault windows, the resolved scenario, the command and versions,
and what it does not show; for delivery studies, sweeps, architecture comparisons and
calibration results. A real browser loads it too (skipped, with its reason, where there is
none)."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sim.registry.semantics import SEMANTICS
from sim.study.calibrate import CALIBRATION_COLUMNS
from sim.study.files import REPORT
from tests.test_cli import dsim

STUDY = """
name = "two-groups"
description = "Orders under lost acks and a broker crash: what do billing and analytics see?"
seed = 5
replications = 2
duration = 3.0
drain = 3.0

[workload]
rate = 40.0

[network]
loss = 0.02

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
duration = 0.3
"""

DELIVERY_SECTIONS = [
    "question",
    "answer",
    "summary",
    "charts",
    "causes",
    "faults",
    "scenario",
    "reproduce",
    "not-shown",
]
"""The sections of a delivery study's report, in the issue's order."""


class Page(HTMLParser):
    """What a report holds, as a parser sees it: sections in order, tables, charts, and
    every attribute that could load something."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.tags: list[str] = []
        self.charts: list[str] = []
        self.svgs = 0
        self.tables: list[dict[str, object]] = []
        self.addresses: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.within: dict[str, list[str]] = {}
        self._section: str | None = None
        self._table: dict[str, object] | None = None
        self._in_th = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if values.get("id"):
            self.ids.append(str(values["id"]))
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                self.addresses.append(value or "")
        if tag == "section":
            self.sections.append(values.get("id") or "")
            self._section = self.sections[-1]
        if tag == "figure" and "chart" in (values.get("class") or ""):
            self.charts.append((values.get("id") or "").removeprefix("chart-"))
        if tag == "svg" and values.get("role") == "img":
            self.svgs += 1
        if tag == "table":
            self._table = {"section": self.sections[-1], "headers": [], "rows": 0}
            self.tables.append(self._table)
        if tag == "tr" and self._table is not None:
            self._table["rows"] = int(str(self._table["rows"])) + 1
        self._in_th = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        if tag == "table":
            self._table = None
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._section is not None:
            self.within.setdefault(self._section, []).append(data)
        if self._in_th and self._table is not None:
            headers = self._table["headers"]
            assert isinstance(headers, list)
            headers.append(data.strip())

    def words(self) -> str:
        return " ".join("".join(self.text).split())

    def section(self, ident: str) -> str:
        """The words of one section."""
        return " ".join("".join(self.within.get(ident, [])).split())

    def tables_in(self, section: str) -> list[dict[str, object]]:
        return [t for t in self.tables if t["section"] == section]


def read(directory: Path) -> tuple[str, Page]:
    text = (directory / REPORT).read_text(encoding="utf-8")
    return text, Page(text)


def self_contained(text: str, page: Page) -> None:
    """Nothing on the page loads from elsewhere: no scripts, style sheets, frames or
    objects; every address is a fragment of the page or inline data."""
    for tag in ("script", "link", "iframe", "object", "embed", "base"):
        assert tag not in page.tags, tag
    for address in page.addresses:
        assert address.startswith(("#", "data:")), address
    assert len(page.ids) == len(set(page.ids))  # one page of many charts: no id twice
    for address in page.addresses:
        if address.startswith("#"):
            assert address[1:] in page.ids, address  # every reference finds its element
    assert "@import" not in text
    assert "url(" not in text.replace("url(#", "")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A traced delivery study of two groups with a broker crash, run with --report."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "s.toml").write_text(STUDY, encoding="utf-8")
    out = folder / "out"
    ran = dsim("run", folder / "s.toml", "--out", out, "--trace", "--report", "--jobs", "1")
    assert ran.exit_code == 0, ran.output
    assert f"report: {out / REPORT}" in " ".join(ran.stdout.split())
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untraced sweep of every semantics, both patterns and two loss levels."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "s.toml").write_text(STUDY, encoding="utf-8")
    out = folder / "out"
    ran = dsim(
        "run",
        folder / "s.toml",
        "--out",
        out,
        "--jobs",
        "1",
        "--quiet",
        "--sweep",
        "delivery.semantics=*",
        "--sweep",
        "delivery.pattern=*",
        "--sweep",
        "network.publish_ack.loss=0,0.2",
    )
    assert ran.exit_code == 0, ran.output
    made = dsim("report", out)
    assert made.exit_code == 0, made.output
    return out


def test_a_delivery_study_holds_every_section_in_order(study: Path) -> None:
    text, page = read(study)
    assert page.sections == DELIVERY_SECTIONS
    self_contained(text, page)
    words = page.words()
    assert "two-groups" in words
    assert "Orders under lost acks and a broker crash" in words  # the question
    assert page.tags.count("nav") == 1


def test_the_answer_speaks_in_words_per_group_with_intervals(study: Path) -> None:
    _, page = read(study)
    answer = page.section("answer")
    assert "at-least-once, streaming:" in answer
    assert "billing: loses" in answer and "analytics: loses" in answer
    assert re.search(r"p99 latency [0-9.]+ (µs|ms|s) \([0-9.]+–[0-9.]+ (µs|ms|s)\)", answer)
    assert "applies" in answer and "twice" in answer


def test_the_summary_table_has_a_row_per_group_with_intervals(study: Path) -> None:
    text, page = read(study)
    table = page.tables_in("summary")[0]
    assert table["rows"] == 1 + 2  # the header and one row per group
    headers = table["headers"]
    assert isinstance(headers, list)
    assert headers[:3] == ["group", "eligible", "lost (%)"]
    assert any(h in headers for h in ("p99 (µs)", "p99 (ms)", "p99 (s)")), headers
    assert "<details><summary>Every figure of summary.csv" in text


def test_every_chart_file_is_drawn_inline_with_a_caption(study: Path) -> None:
    text, page = read(study)
    files = sorted(p.stem for p in (study / "charts").glob("*.png"))
    assert sorted(page.charts) == files
    assert page.svgs == len(files)
    assert text.count("<figcaption>") == len(files)
    assert "What each guarantee costs" in page.words()  # the price chart's caption


def test_causes_come_with_one_story_each_from_the_trace(study: Path) -> None:
    _, page = read(study)
    causes = page.section("causes")
    assert "publish_ack_lost" in causes
    assert "Outcome: billing: applied 2 times, a duplicate caused by a lost publish ack" in causes
    assert "One story per cause" in causes


def test_faults_scenario_command_and_versions(study: Path) -> None:
    text, page = read(study)
    faults = page.tables_in("faults")[0]
    assert faults["rows"] == 2  # the header and the broker crash
    assert '1.000</td><td class="n">1.300' in text
    words = page.words()
    assert 'name = "two-groups"' in words  # the resolved scenario
    meta = json.loads((study / "meta.json").read_text(encoding="utf-8"))
    assert meta["command"][:2] == ["dsim", "run"]
    assert "dsim run " in words and "--report" in words
    assert meta["version"] in words and meta["python"] in words
    assert f"simpy {meta['packages']['simpy']}, numpy {meta['packages']['numpy']}" in words
    assert "parts/" in page.section("not-shown")


def test_a_sweep_report_has_every_point_and_the_sweep_chart(sweep: Path) -> None:
    text, page = read(sweep)
    assert page.sections == DELIVERY_SECTIONS
    self_contained(text, page)
    table = page.tables_in("summary")[0]
    points = len(SEMANTICS) * 2 * 2
    assert table["rows"] == 1 + points * 2  # every point, both groups
    assert "sweep_network_publish_ack_loss" in page.charts
    words = page.words()
    assert "At network.publish_ack.loss = 0.2 (the sweep's last value" in words
    for semantics in SEMANTICS:
        assert f"{semantics.name}, pubsub:" in words
    assert "the study was not traced" in words  # no stories, and it says why


ARCHITECTURE = """
name = "two-services"
description = "Chain, orchestration or an event: what does the user wait, as b is down longer?"
seed = 2
replications = 2
duration = 6.0
drain = 3.0

[workload]
rate = 10.0

[architecture]
call_timeout = 0.5

[[architecture.services]]
name = "a"

[[architecture.services]]
name = "b"
failure = 0.05

[[faults]]
target = "service:b"
at = 2.0
duration = 1.0

[sweep]
"faults[0].duration" = [0.0, 2.0]
"""


def test_an_architecture_comparison(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(ARCHITECTURE, encoding="utf-8")
    out = tmp_path / "arch"
    ran = dsim("run", tmp_path / "a.toml", "--out", out, "--jobs", "1", "--quiet", "--report")
    assert ran.exit_code == 0, ran.output
    text, page = read(out)
    assert page.sections == DELIVERY_SECTIONS
    self_contained(text, page)
    words = page.words()
    for approach in ("chain", "orchestration", "event-driven"):
        assert f"{approach}:" in words
    assert "of requests succeed" in words
    assert sorted(page.charts) == sorted(p.stem for p in (out / "charts").glob("*.png"))
    assert "An architecture comparison counts no causes" in words
    headers = page.tables_in("summary")[0]["headers"]
    assert isinstance(headers, list) and "success (%)" in headers


def calibration_directory(folder: Path) -> Path:
    """A calibration result directory as dsim calibrate writes it (issue 14): real runs,
    calibration.csv, its chart, the scenario and meta.json."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    folder.mkdir()
    (folder / "scenario.toml").write_text(
        'name = "ack-loss"\ndescription = "Publish-ack loss under at-least-once, on NATS."\n',
        encoding="utf-8",
    )
    meta = {"tool": "delivery-sim", "version": "0.1.0", "broker": "nats", "python": "3.11.7"}
    meta["command"] = ["dsim", "calibrate", "ack-loss", "--broker", "nats"]
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "real_runs.csv").write_text(
        "scenario,semantics,pattern,group,replication,seed,produced,loss_rate\n"
        "ack-loss,at-least-once,pubsub,billing,0,1,200,0.0\n"
        "ack-loss,at-least-once,pubsub,billing,1,2,200,0.0\n",
        encoding="utf-8",
    )
    rows = [
        ("produced", "billing", 200, 200, 200, 200, 200, 200, 0, "True", "harness"),
        ("dup_rate", "billing", 0.11, 0.09, 0.13, 0.111, 0.1, 0.12, -0.001, "True", "harness"),
        ("latency_p99", "billing", 0.012, 0.01, 0.014, 0.004, 0.0039, 0.004, 0.008, "0", "broker"),
    ]
    lines = [",".join(CALIBRATION_COLUMNS), *(",".join(map(str, r)) for r in rows)]
    (folder / "calibration.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "charts").mkdir()
    fig = Figure(figsize=(4, 3))
    fig.subplots().bar([0, 1], [1, 2])
    fig.savefig(folder / "charts" / "calibration.png")
    return folder


def test_a_calibration_directory_sets_observed_beside_predicted(tmp_path: Path) -> None:
    folder = calibration_directory(tmp_path / "cal")
    made = dsim("report", folder)
    assert made.exit_code == 0, made.output
    text, page = read(folder)
    assert page.sections == [
        "question",
        "answer",
        "calibration",
        "charts",
        "scenario",
        "reproduce",
        "not-shown",
    ]
    self_contained(text, page)
    words = page.words()
    assert "2 of 3 figures on nats agree" in words
    assert "latency_p99 (billing, decided by broker): observed 12 ms (10–14 ms)" in words
    table_words = page.section("calibration")
    assert "8 ms" in table_words and "-0.1 points" in table_words  # in the figure's unit
    assert "1 of the 3 figures is decided by the broker" in page.section("answer")
    table = page.tables_in("calibration")[0]
    assert table["rows"] == 1 + 3
    assert text.count('<tr class="disagree">') == 1
    assert page.charts == ["calibration"]
    assert any(a.startswith("data:image/png;base64,") for a in page.addresses)
    assert "dsim calibrate ack-loss --broker nats" in words


def test_what_cannot_be_shown_is_said(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(study, copy)
    (copy / "latency.csv").write_text("scenario,semantics\nx", encoding="utf-8")  # cut short
    (copy / "notes.txt").write_text("mine", encoding="utf-8")
    (copy / "charts" / "sweep_gone.png").write_bytes(b"a chart of an older study")
    (copy / "trace.parquet").write_bytes(b"not parquet")
    made = dsim("report", copy)
    assert made.exit_code == 0, made.output
    _, page = read(copy)
    words = page.words()
    assert "Charts that need latency.csv are left out" in words
    not_shown = page.section("not-shown")
    assert "latency.csv: the last line is cut short (truncated?)" in not_shown
    assert "notes.txt: not a file this page knows how to show" in not_shown
    charts = not_shown[not_shown.index("charts/:") :].split(".png: ", 1)[0]
    assert "sweep_gone" in charts  # and the charts left out with latency.csv
    assert "chart files this page does not draw" in not_shown
    assert "trace.parquet: not a readable Parquet file" in not_shown
    assert "No stories: trace.parquet could not be read" in words


def with_dead_letters(summary_csv: Path) -> None:
    """Set the ``dead_lettered`` figure (delivery limits and dead-letter queues, issue 15) of
    every row of a summary: 12 messages (10 to 14) per replication."""
    import pandas as pd

    summary = pd.read_csv(summary_csv)
    summary = summary[summary["figure"] != "dead_lettered"]
    extra = summary[summary["figure"] == "lost"].assign(
        figure="dead_lettered", mean=12.0, sd=1.0, ci_low=10.0, ci_high=14.0
    )
    pd.concat([summary, extra]).to_csv(summary_csv, index=False)


def test_dead_letters_are_shown_once_results_have_them(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(study, copy)
    with_dead_letters(copy / "summary.csv")
    assert dsim("report", copy).exit_code == 0
    _, page = read(copy)
    assert "dead-letters 12 (10–14) messages" in page.section("answer")
    headers = page.tables_in("summary")[0]["headers"]
    assert isinstance(headers, list) and "dead-lettered" in headers


def test_a_chart_file_the_page_does_not_draw_is_named(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(study, copy)
    (copy / "charts" / "sweep_gone.png").write_bytes(b"a chart of an older study")
    assert dsim("report", copy).exit_code == 0
    _, page = read(copy)
    assert "charts/: sweep_gone.png: chart files this page does not draw" in page.section(
        "not-shown"
    )


def test_a_directory_without_results_is_refused(tmp_path: Path) -> None:
    made = dsim("report", tmp_path)
    assert made.exit_code == 2
    assert "summary.csv is missing" in " ".join(made.stderr.split())
    made = dsim("report", tmp_path / "nowhere")
    assert made.exit_code == 2 and "no such directory" in made.stderr


def test_a_group_the_results_lack_is_refused(study: Path) -> None:
    made = dsim("report", study, "--group", "shipping")
    assert made.exit_code == 2
    assert "no consumer group 'shipping'" in made.stderr


# ---------------------------------------------------------------------------------------------
# In a real browser


def chromium() -> str | None:
    for name in (os.environ.get("DSIM_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    return None


BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""How Chromium runs here: as root, offline (its background connections would be refused)."""


def test_the_report_renders_in_a_real_browser(study: Path, tmp_path: Path) -> None:
    """Headless Chromium loads the page from file://: no console error, no request that
    leaves the file, every chart rendered with a size, a screenshot that is not blank."""
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from PIL import Image, ImageStat

    errors: list[str] = []
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=binary,
            args=BROWSER_FLAGS,  # playwright gives it a fresh profile of its own
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((study / REPORT).resolve().as_uri(), wait_until="load")
            charts = page.query_selector_all("figure.chart svg, figure.chart img")
            sizes = [c.bounding_box() for c in charts]
            sections = page.eval_on_selector_all("section", "s => s.map(e => e.id)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file://", "data:")) for url in requests), requests
    assert sections == DELIVERY_SECTIONS
    assert len(sizes) == len(list((study / "charts").glob("*.png")))
    for size in sizes:
        assert size is not None and size["width"] > 100 and size["height"] > 100, size
    image = Image.open(shot).convert("L")
    assert image.size[0] == 1280 and image.size[1] > 3000  # the whole page
    darkness = ImageStat.Stat(image)
    assert darkness.stddev[0] > 10  # not one colour
    histogram = image.histogram()
    ink = sum(histogram[:200]) / sum(histogram)
    assert ink > 0.01  # text and charts, not a white page
