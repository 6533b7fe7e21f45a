"""The report of a result directory: ``DIR/report.html``, one self-contained page to read
offline or attach to a ticket.

Charts are inline SVG drawn by the same functions as the chart files
(:func:`sim.report.charts.chart_figures`), styles are inline, and nothing is loaded from
elsewhere: no scripts, no style sheets, no fonts, no images by address. In this order it holds
the question (the scenario's name and description), the answer in plain words per semantics
and pattern (or approach), the summary table with 95% intervals, every chart with a caption
saying what to read in it, losses and duplicates by cause (with one story each when the run
was traced), the fault windows, the resolved scenario, the command that reproduces it with the
versions, and what the directory holds that the page does not show.

It reads delivery studies, sweeps, architecture comparisons and calibration results
(``calibration.csv``: observed beside predicted, with a verdict per figure).
"""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from sim.registry.approaches import APPROACHES
from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES, CauseRegistry
from sim.registry.figures import ARCHITECTURE_FIGURES, DELIVERY_FIGURES
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.report import explain
from sim.report.charts import CHARTS, chart_figures
from sim.report.delivery_charts import SYSTEM_KEYS, at_point, sweep_columns
from sim.report.numbers import plain, seconds, spread, time_unit
from sim.report.terminal import ARCHITECTURE_COLUMNS, DELIVERY_COLUMNS, Column
from sim.study.calibrate import CALIBRATION_COLUMNS
from sim.study.files import (
    KEYS,
    REPORT,
    TABLES,
    TRACE,
    DamagedResults,
    read_csv,
    read_tables,
    read_trace,
    row_key,
    write_atomic,
)

KNOWN = {
    "summary.csv": "the summary table and the charts",
    "runs.csv": "the price chart",
    "latency.csv": "the latency charts",
    "timeline.csv": "the timelines",
    "faults.csv": "the fault windows",
    "scenario.toml": "the resolved scenario",
    "meta.json": "the command and versions",
    TRACE: "one story per cause",
    "calibration.csv": "observed beside predicted",
    "real_runs.csv": "the observed figures (summarised in calibration.csv)",
    "predicted_runs.csv": "the simulator's runs of the prediction (summarised in calibration.csv)",
    "charts": "drawn again, inline",
    REPORT: "this page",
}
"""What the report shows of each file it knows (used to say what it shows and what not)."""
NOT_SHOWN = {
    "parts": "the journal of finished runs, which --resume reads",
    "diagrams": "sequence diagrams drawn by dsim explain --diagram (open them beside this page)",
}
"""Files a result directory may hold that the report leaves out on purpose, and why."""


@dataclass
class Holdings:
    """What a result directory holds, as the report reads it."""

    path: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    scenario_text: str = ""
    scenario: dict[str, Any] = field(default_factory=dict)
    calibration: pd.DataFrame | None = None
    real_runs: pd.DataFrame | None = None
    calibration_chart: tuple[str, str] | None = None
    """The calibration chart file: its name and the markup that shows it inline."""
    trace: pd.DataFrame | None = None
    problems: dict[str, str] = field(default_factory=dict)
    """File name -> why the report could not read it."""
    drawn: list[str] = field(default_factory=list)
    """The stems of the charts the page drew (as the chart files are named)."""

    @property
    def name(self) -> str:
        """The scenario's name (from scenario.toml, meta.json or the summary)."""
        summary = self.tables.get("summary")
        for name in (
            self.scenario.get("name"),
            self.meta.get("scenario"),
            summary["scenario"].iloc[0] if summary is not None and not summary.empty else None,
        ):
            if name is not None:
                return str(name)
        return self.path.name

    @property
    def kind(self) -> str:
        """``calibration``, ``architecture`` or ``delivery``."""
        if self.calibration is not None:
            return "calibration"
        summary = self.tables.get("summary")
        return (
            "architecture" if summary is not None and row_key(summary) == "approach" else "delivery"
        )


def read_holdings(directory: Path) -> Holdings:
    """Read what the report needs from ``directory``; a file that cannot be read is noted in
    ``problems`` and its sections left out. :class:`DamagedResults` when the directory has
    neither a readable ``summary.csv`` nor a ``calibration.csv``: nothing to report."""
    if not directory.is_dir():
        raise DamagedResults(directory, "no such directory")
    held = Holdings(directory)
    _read_meta(held)
    _read_scenario(held)
    _read_calibration(held)
    try:
        held.tables = read_tables(directory)
    except DamagedResults as exc:
        if exc.path.name == "summary.csv" or exc.path == directory:
            if held.calibration is None and "calibration.csv" in held.problems:
                why = held.problems["calibration.csv"]
                raise DamagedResults(directory / "calibration.csv", why) from None
            if held.calibration is None:
                raise
            if not exc.missing:
                held.problems["summary.csv"] = exc.reason
        else:
            held.problems[exc.path.name] = exc.reason
            held.tables = _readable_tables(directory, held.problems)
    if (directory / TRACE).exists() and "summary" in held.tables:
        try:
            held.trace = read_trace(directory)
        except DamagedResults as exc:
            held.problems[TRACE] = exc.reason
    return held


def _readable_tables(directory: Path, problems: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each table read with the summary, keeping those that read."""
    tables = {}
    for name in TABLES:
        try:
            tables.update(read_tables(directory, ("summary", name)))
        except DamagedResults as exc:
            problems.setdefault(exc.path.name, exc.reason)
    return tables


def _read_meta(held: Holdings) -> None:
    path = held.path / "meta.json"
    if not path.exists():
        held.problems["meta.json"] = "missing: the command and versions are unknown"
        return
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        held.problems["meta.json"] = f"not readable JSON ({exc})"
        return
    if isinstance(meta, dict):
        held.meta = meta
    else:
        held.problems["meta.json"] = "not a JSON object"


def _read_scenario(held: Holdings) -> None:
    path = held.path / "scenario.toml"
    if not path.exists():
        held.problems["scenario.toml"] = "missing: the resolved scenario is unknown"
        return
    try:
        held.scenario_text = path.read_text(encoding="utf-8")
        held.scenario = tomllib.loads(held.scenario_text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        held.problems["scenario.toml"] = f"not readable TOML ({exc})"


def _read_calibration(held: Holdings) -> None:
    path = held.path / "calibration.csv"
    if not path.exists():
        return
    try:
        table = read_csv(path)
    except DamagedResults as exc:
        held.problems["calibration.csv"] = exc.reason
        return
    missing = [c for c in CALIBRATION_COLUMNS if c not in table.columns]
    if missing or table.empty:
        held.problems["calibration.csv"] = (
            f"missing column(s): {', '.join(missing)}" if missing else "a header line and no rows"
        )
        return
    for column in CALIBRATION_COLUMNS[2:9]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    held.calibration = table
    runs = held.path / "real_runs.csv"
    if runs.exists():
        try:
            held.real_runs = read_csv(runs)
        except DamagedResults as exc:
            held.problems["real_runs.csv"] = exc.reason
    chart = held.path / "charts" / "calibration.png"
    if chart.is_file():
        held.calibration_chart = (chart.name, _inline_file(chart, "calibration"))


# ---------------------------------------------------------------------------------------------
# The page


def write_report(directory: Path, group: str | None = None) -> Path:
    """Write ``DIR/report.html`` for the result directory ``directory`` (its charts show
    consumer ``group``, by default the first); return its path. :class:`DamagedResults` when
    the directory holds no results to report."""
    page = render_report(read_holdings(directory), group)
    path = directory / REPORT
    write_atomic(path, page)
    return path


def render_report(held: Holdings, group: str | None = None) -> str:
    """The report page of what a directory holds, as HTML text."""
    summary = held.tables.get("summary")
    if group is not None and summary is not None and row_key(summary) == "group":
        groups = [str(g) for g in dict.fromkeys(summary["group"])]
        if group not in groups:
            raise ValueError(
                f"no consumer group {group!r} in these results (groups: {', '.join(groups)})"
            )
    sections: list[tuple[str, str, str]] = [("question", "The question", _question(held))]
    if held.kind == "calibration":
        sections.append(("answer", "The answer", _calibration_answer(held)))
        sections.append(("calibration", "Observed beside predicted", _calibration_table(held)))
    if summary is not None:
        if held.kind != "calibration":
            sections.append(("answer", "The answer", _answer(held)))
        sections.append(("summary", "Summary table", _summary(held)))
    sections.append(("charts", "Charts", _charts(held, group)))
    if summary is not None:
        sections.append(("causes", "Losses and duplicates by cause", _causes(held, group)))
        sections.append(("faults", "Fault windows", _faults(held)))
    sections.append(("scenario", "The resolved scenario", _scenario(held)))
    sections.append(("reproduce", "How to reproduce it", _reproduce(held)))
    sections.append(("not-shown", "What this page does not show", _not_shown(held)))
    contents = "".join(
        f'<li><a href="#{ident}">{escape(title)}</a></li>' for ident, title, _ in sections
    )
    body = "".join(
        f'<section id="{ident}"><h2>{escape(title)}</h2>{html}</section>'
        for ident, title, html in sections
    )
    kind = {
        "calibration": "calibration against a real broker",
        "architecture": "architecture comparison",
        "delivery": "delivery study",
    }[held.kind]
    title = f"{held.name}: {kind}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} (delivery-sim report)</title><style>{STYLE}</style></head>"
        f'<body><header><p class="tool">delivery-sim report</p><h1>{escape(held.name)}</h1>'
        f'<p class="kind">{escape(kind)}</p><nav><ul>{contents}</ul></nav></header>'
        f"<main>{body}</main></body></html>\n"
    )


STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  margin: 0 auto; max-width: 1180px; padding: 0 1.5rem 3rem; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1rem; }
.tool { color: #777; margin: 1rem 0 0; font-size: 0.85rem; letter-spacing: 0.05em; }
h1 { margin: 0.2rem 0 0; font-size: 1.8rem; }
.kind { margin: 0 0 0.5rem; color: #555; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.2rem 1.2rem; list-style: none; padding: 0;
  margin: 0.5rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid #eee; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.3rem; }
h4 { font-size: 0.95rem; margin: 0.8rem 0 0.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; vertical-align: top; }
th { background: #f5f5f5; text-align: left; }
td.k { white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.wide { overflow-x: auto; }
tr.disagree td { background: #fdecea; }
figure.chart { margin: 1rem 0 2rem; }
figure.chart svg { display: block; width: 100%; height: auto; }
figure.chart img { display: block; max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9rem; margin-top: 0.3rem; }
pre { background: #f7f7f7; border: 1px solid #e5e5e5; padding: 0.6rem; overflow-x: auto;
  font-size: 0.8rem; }
.answer li { margin: 0.3rem 0; }
.note { color: #555; }
.warning { color: #a33; }
.story { font-size: 0.9rem; }
"""


# --- the question and the answer -------------------------------------------------------------


def _question(held: Holdings) -> str:
    description = held.scenario.get("description") or ""
    what = f"<p>{escape(str(description))}</p>" if description else ""
    if not what:
        what = '<p class="note">The scenario has no description.</p>'
    facts = []
    replications = held.meta.get("replications")
    if isinstance(replications, int):
        facts.append(f"{replications} replication(s) per point")
    summary = held.tables.get("summary")
    if summary is not None:
        points = summary[[*KEYS, *sweep_columns(summary)]].drop_duplicates()
        facts.insert(0, f"{len(points)} point(s)")
    if held.kind == "calibration":
        broker = held.meta.get("broker")
        runs = held.real_runs
        if isinstance(broker, str):
            facts.insert(0, f"broker: {broker}")
        if runs is not None and "replication" in runs.columns:
            facts.append(f"{runs['replication'].nunique()} real run(s)")
    line = f'<p class="note">{escape("; ".join(facts))}.</p>' if facts else ""
    return f"<p><b>{escape(held.name)}</b></p>{what}{line}"


def _row(part: pd.DataFrame, figure: str) -> tuple[float, float, float] | None:
    """A figure's mean and 95% interval in ``part``; the interval is cut at zero, below
    which no figure goes (a t-interval of few replications can reach past it)."""
    rows = part[part["figure"] == figure]
    if rows.empty:
        return None
    mean, low, high = (float(rows[c].iloc[0]) for c in ("mean", "ci_low", "ci_high"))
    return mean, max(0.0, low) if not math.isnan(low) else low, high


def _share(values: tuple[float, float, float]) -> str:
    """A share of 1 in percent, its interval cut at 100%."""
    mean, low, high = values
    return spread(mean, low, min(high, 1.0) if not math.isnan(high) else high, 100.0, "%")


def _nothing(values: tuple[float, float, float] | None) -> bool:
    return values is not None and values[0] == 0 and not (values[2] > 0)


def _point_words(summary: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The point the answer and the charts speak of, and a sentence saying which it is."""
    sweep = sweep_columns(summary)
    point, where = at_point(summary, sweep)
    if not where or point.empty:
        return point, ""
    words = where.removeprefix(" (at ").removesuffix(")")
    return point, (
        f"At {words} (the sweep's last value; the summary table and the sweep charts show "
        "every value):"
    )


def _delivery_sentence(part: pd.DataFrame) -> str:
    """One group's figures at one point, in words."""
    words = []
    loss = _row(part, "loss_rate")
    if loss is not None:
        words.append("loses nothing" if _nothing(loss) else f"loses {_share(loss)}")
    dup = _row(part, "dup_rate")
    if dup is not None:
        words.append("applies nothing twice" if _nothing(dup) else f"applies {_share(dup)} twice")
    dead = _row(part, "dead_lettered")
    if dead is not None and dead[0] > 0:
        words.append(f"dead-letters {spread(*dead)} messages")
    p99 = _row(part, "latency_p99")
    if p99 is not None and not math.isnan(p99[0]):
        words.append(f"p99 latency {seconds(*p99)}")
    elif p99 is not None:
        words.append("delivers nothing (no latency)")
    pending = _row(part, "pending")
    text = ", ".join(words)
    if pending is not None and pending[0] > 0:
        text += (
            f'; <span class="warning">{escape(plain(pending[0]))} messages still pending at '
            "the end (the drain was too short)</span>"
        )
    return text


def _answer(held: Holdings) -> str:
    summary = held.tables["summary"]
    point, where = _point_words(summary)
    intro = f"<p>{escape(where)}</p>" if where else ""
    items = []
    if held.kind == "architecture":
        for approach in APPROACHES.order(point["approach"]):
            part = point[point["approach"] == approach]
            items.append(f"<li><b>{escape(approach)}</b>: {_architecture_sentence(part)}</li>")
    else:
        groups = list(dict.fromkeys(point["group"]))
        for s in SEMANTICS.order(point["semantics"]):
            for p in PATTERNS.order(point["pattern"][point["semantics"] == s]):
                system = point[(point["semantics"] == s) & (point["pattern"] == p)]
                said = [
                    (g, _delivery_sentence(system[system["group"] == g]))
                    for g in groups
                    if (system["group"] == g).any()
                ]
                if len(said) == 1:
                    text = said[0][1]
                else:
                    text = "; ".join(f"{escape(str(g))}: {words}" for g, words in said)
                items.append(f"<li><b>{escape(s)}, {escape(p)}</b>: {text}.</li>")
    shares = (
        "shares of the requests"
        if held.kind == "architecture"
        else "losses and duplicates are shares of the messages each group should apply"
    )
    note = (
        '<p class="note">Each figure is the mean over the replications, with its 95% interval '
        f"in brackets; {shares}.</p>"
    )
    return f'{intro}<ul class="answer">{"".join(items)}</ul>{note}'


def _architecture_sentence(part: pd.DataFrame) -> str:
    words = []
    success = _row(part, "success_rate")
    if success is not None:
        words.append(f"{_share(success)} of requests succeed")
    p99 = _row(part, "user_latency_p99")
    if p99 is not None and not math.isnan(p99[0]):
        words.append(f"the user waits {seconds(*p99)} at p99")
    inconsistent = _row(part, "inconsistent_rate")
    if inconsistent is not None:
        words.append(
            "leaves no request inconsistent"
            if _nothing(inconsistent)
            else f"leaves {_share(inconsistent)} of requests inconsistent"
        )
    agree = _row(part, "agree_time_p99")
    if agree is not None and not math.isnan(agree[0]):
        words.append(f"every service has the change within {seconds(*agree)} (p99)")
    return escape(", ".join(words)) + "."


# --- the summary table -----------------------------------------------------------------------


def _summary(held: Holdings) -> str:
    summary = held.tables["summary"]
    key = row_key(summary)
    keys = [*KEYS, *sweep_columns(summary), key]
    shown = [k for k in keys if k not in SYSTEM_KEYS]
    varying = [k for k in shown if summary[k].nunique() > 1]
    catalogue = ARCHITECTURE_COLUMNS if key == "approach" else DELIVERY_COLUMNS
    figures = set(summary["figure"])
    columns = [c for c in catalogue if c.figure in figures]
    registry = ARCHITECTURE_FIGURES if key == "approach" else DELIVERY_FIGURES
    units = {
        c.figure: _column_unit(c, summary[summary["figure"] == c.figure]["mean"]) for c in columns
    }
    head = "".join(f"<th>{escape(k)}</th>" for k in varying) + "".join(
        f'<th title="{escape(registry.describe(c.figure))}">'
        f"{escape(c.title)}{escape(units[c.figure][0])}</th>"
        for c in columns
    )
    rows = []
    for ident, part in summary.groupby(keys, sort=False):
        values = dict(zip(keys, ident, strict=True))
        cells = "".join(f'<td class="k">{escape(str(values[k]))}</td>' for k in varying)
        for c in columns:
            row = _row(part, c.figure)
            if row is not None and c.unit == "%":
                row = (row[0], row[1], min(row[2], 1.0))
            text = "–" if row is None else spread(*row, scale=units[c.figure][1])
            cells += f'<td class="n">{escape(text)}</td>'
        rows.append(f"<tr>{cells}</tr>")
    fixed = [f"{k} = {summary[k].iloc[0]}" for k in shown if k not in varying]
    note = (
        f'<p class="note">Mean (95% interval) over the replications of each point'
        f"{'; ' + escape(', '.join(fixed)) if fixed else ''}.</p>"
    )
    table = f'<div class="wide"><table class="summary"><tr>{head}</tr>{"".join(rows)}</table></div>'
    return note + table + _every_figure(held)


def _column_unit(column: Column, means: pd.Series) -> tuple[str, float]:
    """How a column of the summary table names its unit, and the scale of its numbers."""
    if column.unit == "%":
        return " (%)", 100.0
    if column.unit == "time":
        name, scale = time_unit(list(means.astype(float)), below=1000)
        return f" ({name})", 1.0 / scale
    return "", 1.0


def _systems(point: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The (semantics, pattern, group) rows of a point, in the registries' order."""
    present = set(zip(point["semantics"], point["pattern"], point["group"], strict=True))
    groups = list(dict.fromkeys(point["group"]))
    return [
        (s, p, g)
        for s in SEMANTICS.order(point["semantics"])
        for p in PATTERNS.order(point["pattern"])
        for g in groups
        if (s, p, g) in present
    ]


def _every_figure(held: Holdings) -> str:
    """Every figure of summary.csv at the answer's point: one row per figure, one column per
    system (and group), folded away."""
    summary = held.tables["summary"]
    key = row_key(summary)
    point, where = _point_words(summary)
    registry = ARCHITECTURE_FIGURES if key == "approach" else DELIVERY_FIGURES
    if key == "approach":
        systems = [(a,) for a in APPROACHES.order(point["approach"])]
        names = ["approach"]
    else:
        names = ["semantics", "pattern", "group"]
        systems = _systems(point)
    head = "<th>figure</th>" + "".join(
        f"<th>{escape(', '.join(str(v) for v in system))}</th>" for system in systems
    )
    rows = []
    for figure in dict.fromkeys(point["figure"]):
        mine = point[point["figure"] == figure]
        cells = []
        for system in systems:
            part = mine
            for name, value in zip(names, system, strict=True):
                part = part[part[name] == value]
            values = _row(part, figure)
            unit = registry[figure].unit if figure in registry else "messages"
            if values is None:
                cells.append("–")
            elif unit == "share":
                cells.append(_share(values))
            elif unit == "seconds":
                cells.append(seconds(*values))
            else:
                cells.append(spread(*values))
        meaning = registry.describe(figure) if figure in registry else _cause_meaning(figure)
        rows.append(
            f'<tr><th title="{escape(meaning)}">{escape(figure)}</th>'
            + "".join(f'<td class="n">{escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    where_text = f" {where[:-1]}" if where else ""
    return (
        f"<details><summary>Every figure of summary.csv{escape(where_text)}</summary>"
        f'<div class="wide"><table>{"<tr>" + head + "</tr>"}{"".join(rows)}</table></div>'
        "</details>"
    )


def _cause_meaning(figure: str) -> str:
    for registry, words in (
        (LOSS_CAUSES, "lost, because "),
        (DUP_CAUSES, "a duplicate caused by "),
    ):
        for cause in registry:
            if cause.column == figure:
                return words + cause.description
    return figure


# --- charts ----------------------------------------------------------------------------------


def _charts(held: Holdings, group: str | None) -> str:
    parts = []
    if held.calibration_chart is not None:
        _, markup = held.calibration_chart
        parts.append(
            _figure_html(
                markup,
                "calibration",
                "Observed (the real broker) beside predicted (the simulator) for each figure, "
                "with 95% intervals: where the intervals part, the figure disagrees (the "
                "table above says which, and whether the broker or the harness decides it).",
            )
        )
    elif held.kind == "calibration":
        parts.append(
            '<p class="note">The calibration chart (charts/calibration.png) is not in this '
            "directory.</p>"
        )
    if "summary" in held.tables:
        tables = held.tables
        needed = [n for n in TABLES if n not in tables]
        if needed:
            parts.append(
                '<p class="warning">Charts that need '
                f"{escape(', '.join(n + '.csv' for n in needed))} are left out: the file could "
                "not be read (see below).</p>"
            )
        else:
            for number, (stem, kind, fig) in enumerate(chart_figures(tables, group)):
                parts.append(_figure_html(_svg(fig, f"c{number}"), stem, CHARTS[kind].read))
                held.drawn.append(stem)
    if not parts:
        return '<p class="note">No charts: the directory holds no result tables.</p>'
    if "summary" in held.tables:
        lead = "Each chart is drawn from the result files, as dsim plot draws it."
        if group is not None:
            lead += f" The delivery charts show consumer group {group}."
    else:
        lead = "The chart dsim calibrate drew, from the directory's charts/."
    return f'<p class="note">{escape(lead)}</p>' + "".join(parts)


def _figure_html(markup: str, name: str, read: str) -> str:
    return (
        f'<figure class="chart" id="chart-{escape(name)}">{markup}'
        f"<figcaption><b>{escape(name)}</b>: {escape(read)}</figcaption></figure>"
    )


_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(href="#|url\(#)([^")]+)')


def _svg(fig: Figure, prefix: str) -> str:
    """A figure as inline SVG markup, its ids made unique to this chart in the page."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "delivery-sim", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", dpi=110, metadata={"Date": None})
    return _inline_svg(buffer.getvalue(), prefix)


def _inline_svg(text: str, prefix: str) -> str:
    """SVG markup to set inside the page: no XML prolog or metadata, every id prefixed (and
    every reference to one), the size left to the page's style."""
    start = text.find("<svg")
    text = text[start:]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 role="img"', text, count=1)
    return text.strip()


def _inline_file(path: Path, prefix: str) -> str:
    """A chart file of the directory, inline: SVG as markup, PNG as a data address."""
    if path.suffix == ".svg":
        return _inline_svg(path.read_text(encoding="utf-8"), prefix)
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


# --- causes ----------------------------------------------------------------------------------


def _causes(held: Holdings, group: str | None) -> str:
    summary = held.tables["summary"]
    if row_key(summary) == "approach":
        return (
            '<p class="note">An architecture comparison counts no causes: its losses are the '
            "inconsistent requests and its duplicates the applications beyond the first, both "
            "in the summary table.</p>"
        )
    point, where = _point_words(summary)
    parts = [f"<p>{escape(where)}</p>"] if where else []
    for kind, registry, title in (
        ("lost", LOSS_CAUSES, "Lost messages, by the failure that lost them"),
        ("duplicated", DUP_CAUSES, "Duplicate applications, by what caused them"),
    ):
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(_cause_table(point, registry))
        parts.append(_stories(held, group, kind, registry))
    return "".join(parts)


def _cause_table(point: pd.DataFrame, registry: CauseRegistry) -> str:
    eligible = point[point["figure"] == "eligible"].set_index(["semantics", "pattern", "group"])
    columns = [c for c in registry if (point[point["figure"] == c.column]["mean"] > 0).any()]
    if not columns:
        return '<p class="note">None, in any semantics and pattern.</p>'
    head = "<th>semantics</th><th>pattern</th><th>group</th>" + "".join(
        f'<th title="{escape(c.description)}">{escape(c.name)}</th>' for c in columns
    )
    rows = []
    systems = _systems(point)
    for s, p, g in systems:
        mine = point[(point["semantics"] == s) & (point["pattern"] == p) & (point["group"] == g)]
        base = float(eligible.loc[(s, p, g), "mean"]) if (s, p, g) in eligible.index else math.nan
        cells = []
        for cause in columns:
            values = _row(mine, cause.column)
            if values is None or values[0] == 0:
                cells.append("0")
                continue
            share = f" ({values[0] / base:.2%})" if base and not math.isnan(base) else ""
            cells.append(f"{plain(values[0])}{share}")
        rows.append(
            f"<tr><td>{escape(s)}</td><td>{escape(p)}</td><td>{escape(str(g))}</td>"
            + "".join(f'<td class="n">{escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    meanings = "".join(
        f"<li><b>{escape(c.name)}</b>: {escape(c.description)}</li>" for c in columns
    )
    return (
        '<p class="note">Mean per replication (share of the eligible messages).</p>'
        f'<div class="wide"><table><tr>{head}</tr>{"".join(rows)}</table></div>'
        f"<ul>{meanings}</ul>"
    )


def _stories(held: Holdings, group: str | None, kind: str, registry: CauseRegistry) -> str:
    if held.trace is None:
        why = held.problems.get(TRACE)
        if why is not None:
            return (
                f'<p class="warning">No stories: {escape(TRACE)} could not be read '
                f"({escape(why)}).</p>"
            )
        return (
            '<p class="note">No stories: the study was not traced. Run it with --trace for one '
            "example story per cause here (dsim explain tells them too).</p>"
        )
    summary = held.tables["summary"]
    sweep = [c for c in sweep_columns(summary) if c not in SYSTEM_KEYS]
    point, _ = at_point(summary, sweep)
    trace = held.trace
    for column in sweep:
        if column in trace.columns and not point.empty:
            trace = trace[trace[column] == point[column].iloc[0]]
    chosen = group if group is not None else str(summary["group"].iloc[0])
    trace = trace[trace["group"].isna() | (trace["group"] == chosen)]
    examples: dict[str, tuple[dict[str, Any], int, pd.DataFrame]] = {}
    for where, rows in explain.by_point(trace):
        table = explain.representatives(rows, kind)
        for cause, example in zip(table["cause"], table["example"], strict=True):
            examples.setdefault(str(cause), (where, int(example), rows))
    if not examples:
        return ""
    parts = [
        '<p class="note">One story per cause, from the traced replication, group '
        f"{escape(chosen)}:</p>"
    ]
    for cause in registry.order(examples):
        where, message, rows = examples[cause]
        label = ", ".join(f"{k} = {v}" for k, v in where.items())
        text = explain.story(rows, message)
        parts.append(
            f'<div class="story"><h4>{escape(cause)}: {escape(registry.describe(cause))}</h4>'
            f'<p class="note">Message {message}{" at " + escape(label) if label else ""}:</p>'
            f"<p>{escape(text).replace(chr(10), '<br>')}</p></div>"
        )
    return "".join(parts)


# --- faults, scenario, reproducing -----------------------------------------------------------


def _faults(held: Holdings) -> str:
    faults = held.tables.get("faults")
    if faults is None:
        why = held.problems.get("faults.csv", "?")
        return f'<p class="warning">faults.csv could not be read ({escape(why)}).</p>'
    if faults.empty:
        return (
            '<p class="note">No fault windows: every failure came from per-message '
            "probabilities.</p>"
        )
    summary = held.tables["summary"]
    sweep = [c for c in sweep_columns(summary) if c in faults.columns]
    point, where = at_point(faults, sweep)
    first = point[point["replication"] == 0]
    windows = first[["target", "kind", "origin", "start", "end"]].drop_duplicates()
    windows = windows.sort_values(["start", "target"], kind="stable")
    rows = "".join(
        f"<tr><td>{escape(str(target))}</td><td>{escape(str(kind))}</td>"
        f'<td>{escape(str(origin))}</td><td class="n">{start:.3f}</td>'
        f'<td class="n">{end:.3f}</td><td class="n">{end - start:.3f}</td></tr>'
        for target, kind, origin, start, end in zip(
            windows["target"][:200],
            windows["kind"][:200],
            windows["origin"][:200],
            windows["start"].astype(float)[:200],
            windows["end"].astype(float)[:200],
            strict=True,
        )
    )
    more = len(windows) - 200
    replications = faults["replication"].nunique()
    return (
        f'<p class="note">The windows of replication 0{escape(where)} (the run the timelines '
        f"show), in simulated seconds; faults.csv holds {len(faults)} windows over "
        f"{replications} replication(s) and every point.</p>"
        "<table><tr><th>target</th><th>kind</th><th>origin</th><th>start (s)</th>"
        f"<th>end (s)</th><th>length (s)</th></tr>{rows}</table>"
        + (f'<p class="note">… and {more} more.</p>' if more > 0 else "")
    )


def _scenario(held: Holdings) -> str:
    if not held.scenario_text:
        why = held.problems.get("scenario.toml", "missing")
        return f'<p class="warning">scenario.toml: {escape(why)}.</p>'
    return (
        '<p class="note">Every key with the value it ran with, defaults filled in '
        "(scenario.toml: it runs as it is).</p>"
        f"<pre>{escape(held.scenario_text)}</pre>"
    )


def _reproduce(held: Holdings) -> str:
    meta = held.meta
    if not meta:
        why = held.problems.get("meta.json", "missing")
        return f'<p class="warning">meta.json: {escape(why)}; the command is unknown.</p>'
    command = meta.get("command")
    parts = []
    if isinstance(command, list) and all(isinstance(c, str) for c in command):
        parts.append(
            "<p>The command that made these results (run it where they were made; the "
            "resolved scenario above runs on its own too):</p>"
            f"<pre>{escape(shlex.join(command))}</pre>"
        )
    rows = []
    for key, value in meta.items():
        if key == "command":
            continue
        rows.append(f"<tr><th>{escape(str(key))}</th><td>{escape(_meta_value(value))}</td></tr>")
    parts.append(f"<table>{''.join(rows)}</table>")
    return "".join(parts)


def _meta_value(value: Any) -> str:
    if isinstance(value, list) and len(value) > 12:
        return ", ".join(map(str, value[:12])) + f", … ({len(value)} in all)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return ", ".join(f"{k} {v}" for k, v in value.items())  # package versions
    if isinstance(value, Mapping):
        return json.dumps(value)
    return str(value)


def _not_shown(held: Holdings) -> str:
    items = []
    for name, why in held.problems.items():
        if "missing" in why and name in ("summary.csv",):
            continue
        items.append(f'<li class="warning"><b>{escape(name)}</b>: {escape(why)}.</li>')
    for entry in sorted(held.path.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name in held.problems or name.startswith("."):
            continue
        if name in NOT_SHOWN:
            items.append(f"<li><b>{escape(name)}/</b>: {escape(NOT_SHOWN[name])}.</li>")
        elif name == "charts" and entry.is_dir():
            others = _unknown_charts(entry, held)
            if others:
                items.append(
                    f"<li><b>charts/</b>: {escape(', '.join(others))}: chart files this page "
                    "does not draw.</li>"
                )
        elif name not in KNOWN:
            items.append(f"<li><b>{escape(name)}</b>: not a file this page knows how to show.</li>")
    unknown = _unknown_figures(held)
    if unknown:
        items.append(
            "<li>figures of summary.csv this version does not describe: "
            f"{escape(', '.join(unknown))} (listed under Every figure, without a meaning).</li>"
        )
    if not items:
        return '<p class="note">Nothing: every file of the directory is shown above.</p>'
    return f"<ul>{''.join(items)}</ul>"


def _unknown_charts(folder: Path, held: Holdings) -> list[str]:
    """Chart files in ``charts/`` that the page did not draw (nor show, for calibration)."""
    shown = {*held.drawn, *(["calibration"] if held.calibration_chart is not None else [])}
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.stem not in shown)


def _unknown_figures(held: Holdings) -> list[str]:
    summary = held.tables.get("summary")
    if summary is None:
        return []
    registry = ARCHITECTURE_FIGURES if row_key(summary) == "approach" else DELIVERY_FIGURES
    causes = {c.column for c in LOSS_CAUSES} | {c.column for c in DUP_CAUSES}
    return [f for f in dict.fromkeys(summary["figure"]) if f not in registry and f not in causes]


# --- calibration -----------------------------------------------------------------------------


def _agrees(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "agree")


def _calibration_answer(held: Holdings) -> str:
    table = held.calibration
    assert table is not None
    agree = [_agrees(v) for v in table["agree"]]
    broker = held.meta.get("broker")
    on = f" on {broker}" if isinstance(broker, str) else ""
    parts = [
        f"<p>{sum(agree)} of {len(agree)} figures{escape(on)} agree with what the simulator "
        "predicts (a difference within 4 standard errors of the difference).</p>"
    ]
    records = _records(table)
    parted = [row for row, ok in zip(records, agree, strict=True) if not ok]
    if parted:
        items = "".join(
            f"<li><b>{escape(str(r['figure']))}</b> ({escape(str(r['group']))}, decided by "
            f"{escape(str(r['decided_by']))}): observed {escape(_calibrated(r, 'observed'))}, "
            f"predicted {escape(_calibrated(r, 'predicted'))}</li>"
            for r in parted
        )
        parts.append(f'<p>They part on:</p><ul class="answer">{items}</ul>')
    else:
        parts.append("<p>No figure disagrees.</p>")
    decided = table[[str(d) == "broker" for d in table["decided_by"]]]
    parts.append(
        f'<p class="note">{len(decided)} of the {len(table)} figures '
        f"{'is' if len(decided) == 1 else 'are'} decided by the broker (what it "
        "does with duplicates, redeliveries, in-flight limits, crashes and latency: the test); "
        "the others hold by construction of the harness.</p>"
    )
    return "".join(parts)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in table.to_dict("records")]


def _calibrated(row: Mapping[str, Any], side: str) -> str:
    mean, low, high = (float(row[f"{side}_{x}"]) for x in ("mean", "low", "high"))
    figure = str(row["figure"])
    unit = DELIVERY_FIGURES[figure].unit if figure in DELIVERY_FIGURES else ""
    if unit == "share":
        return spread(mean, low, high, 100.0, "%")
    if unit == "seconds":
        return seconds(mean, low, high)
    return spread(mean, low, high)


def _difference(row: Mapping[str, Any]) -> str:
    """Observed less predicted, in the figure's unit (percentage points for a share)."""
    difference = float(row["difference"])
    figure = str(row["figure"])
    unit = DELIVERY_FIGURES[figure].unit if figure in DELIVERY_FIGURES else ""
    if unit == "share":
        return f"{plain(difference * 100)} points"
    if unit == "seconds" and not math.isnan(difference):
        name, scale = time_unit([difference], below=1000)
        return f"{plain(difference / scale)} {name}"
    return plain(difference)


def _calibration_table(held: Holdings) -> str:
    table = held.calibration
    assert table is not None
    head = (
        "<tr><th>figure</th><th>group</th><th>observed (95% interval)</th>"
        "<th>predicted (95% interval)</th><th>difference</th><th>verdict</th>"
        "<th>decided by</th></tr>"
    )
    rows = []
    for row in _records(table):
        ok = _agrees(row["agree"])
        figure = str(row["figure"])
        meaning = DELIVERY_FIGURES.describe(figure)
        rows.append(
            f'<tr class="{"agree" if ok else "disagree"}">'
            f'<th title="{escape(meaning)}">{escape(figure)}</th>'
            f"<td>{escape(str(row['group']))}</td>"
            f'<td class="n">{escape(_calibrated(row, "observed"))}</td>'
            f'<td class="n">{escape(_calibrated(row, "predicted"))}</td>'
            f'<td class="n">{escape(_difference(row))}</td>'
            f"<td>{'agrees' if ok else 'disagrees'}</td>"
            f"<td>{escape(str(row['decided_by']))}</td></tr>"
        )
    return (
        '<p class="note">Observed over the real runs, predicted over the simulated '
        "replications (calibration.csv); figures decided by the harness hold by construction, "
        "those decided by the broker are the test.</p>"
        f'<div class="wide"><table class="calibration">{head}{"".join(rows)}</table></div>'
    )
