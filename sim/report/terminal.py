"""The summary table ``dsim run`` prints: the figures people ask about first, fitted to the
terminal.

Every cell is a mean and the half-width of its 95% interval (``3.4±0.3``), rounded to what the
interval can tell; units sit in the column titles (``lost %``, ``p99 ms``), latencies in the
unit that suits each column. Key columns with one value across the study (the scenario, a
single semantics, pattern or consumer group) move to the title. Columns beyond the essential
ones (the median latency, the eligible messages) are shown when the width allows; ``pending``
is shown whenever it is not zero everywhere, since it says the drain was too short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from sim.report.delivery_charts import SYSTEM_KEYS, sweep_columns
from sim.report.numbers import TIME_UNITS, compact, time_unit
from sim.study.files import KEYS, row_key


@dataclass(frozen=True)
class Column:
    """A figure as the table shows it."""

    figure: str
    title: str
    unit: str
    """``%`` (a share of 1, shown in percent), ``time`` (seconds, shown in the unit that
    suits the column) or ``""`` (a count)."""
    priority: int = 0
    """0: always shown; higher numbers are dropped first when the table would not fit."""
    when_nonzero: bool = False
    """Shown (whatever its priority) only when some row is not zero; the title says when
    none is."""
    short: str = ""
    """A shorter title, for a table that must be narrow."""
    noted: bool = True
    """With ``when_nonzero``: the title says so when no row has it (``nothing pending``);
    False leaves a figure most studies cannot have out silently."""


DELIVERY_COLUMNS = (
    Column("eligible", "eligible", "", priority=2),
    Column("loss_rate", "lost", "%"),
    Column("dup_rate", "duplicated", "%", short="dup"),
    Column("dead_lettered", "dead-lettered", "", when_nonzero=True, short="DLQ", noted=False),
    Column("pending", "pending", "", when_nonzero=True),
    Column("latency_p50", "p50", "time", priority=1),
    Column("latency_p99", "p99", "time"),
    Column("publish_latency_p99", "publish p99", "time"),
)
"""The columns of a delivery study, in order (a figure a study lacks is left out)."""

ARCHITECTURE_COLUMNS = (
    Column("success_rate", "success", "%"),
    Column("user_latency_p50", "user p50", "time", priority=1),
    Column("user_latency_p99", "user p99", "time"),
    Column("inconsistent_rate", "inconsistent", "%", short="incons."),
    Column("unsettled", "unsettled", "", when_nonzero=True),
    Column("agree_time_p50", "agree p50", "time", priority=2),
    Column("agree_time_p99", "agree p99", "time"),
    Column("duplicates", "duplicates", "", priority=1),
)
"""The columns of an architecture comparison, in order."""


def _named(column: str, value: object) -> str:
    """A key column's one value, as the title names it."""
    if column in ("scenario", "semantics", "pattern", "approach"):
        return str(value)
    if column == "group":
        return f"group {value}"
    return f"{column} = {value}"


UNITS = ("%", *(name for name, _ in TIME_UNITS))
"""The units a column title may end with (kept on the title's last line)."""


def _header(title: str, width: int) -> str:
    """A column title broken into lines of at most ``width`` characters where it has
    spaces, dots or underscores (a word longer than that stays whole, and a unit stays on
    the line before it)."""
    words: list[str] = []
    word = ""
    for char in title:
        word += char
        if char in " ._":
            words.append(word)
            word = ""
    if word:
        words.append(word)
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1] + w.rstrip()) <= width:
            lines[-1] += w
        else:
            lines.append(w)
    lines = [line.rstrip() for line in lines]
    if len(lines) > 1 and lines[-1] in UNITS:  # a unit stays with its title
        lines[-2:] = [f"{lines[-2]} {lines[-1]}"]
    return "\n".join(lines)


def summary_table(summary: pd.DataFrame, replications: int, width: int = 100) -> RenderableType:
    """The summary table of a study, at most ``width`` characters wide when its essential
    columns allow (each row on one line), with its title above it.

    ``summary`` is ``summary.csv`` as :class:`~sim.study.results.Results` holds it;
    ``replications`` the number run per point.
    """
    key = row_key(summary)
    keys = [*KEYS, *sweep_columns(summary), key]
    varying = [k for k in keys if k not in SYSTEM_KEYS and summary[k].nunique() > 1]
    fixed = [
        _named(k, summary[k].iloc[0]) for k in keys if k not in SYSTEM_KEYS and k not in varying
    ]
    figures = set(summary["figure"])
    catalogue = ARCHITECTURE_COLUMNS if key == "approach" else DELIVERY_COLUMNS
    rows = list(summary.groupby(keys, sort=False))
    means = summary.pivot_table(index=keys, columns="figure", values="mean", sort=False)
    notes: list[str] = []
    columns: list[Column] = []
    for column in catalogue:
        if column.figure not in figures:
            continue
        if column.when_nonzero and not (means[column.figure].fillna(0) != 0).any():
            if column.noted:
                notes.append(f"nothing {column.title}")
            continue
        columns.append(column)
    scales = {
        c.figure: time_unit(list(means[c.figure])) if c.unit == "time" else ("", 1.0)
        for c in columns
    }

    def cells(part: pd.DataFrame) -> list[str]:
        out = []
        for c in columns:
            row = part[part["figure"] == c.figure]
            if row.empty:
                out.append("–")
                continue
            scale = 100.0 if c.unit == "%" else 1.0 / scales[c.figure][1]
            mean, low, high = (float(row[f].iloc[0]) for f in ("mean", "ci_low", "ci_high"))
            out.append(compact(mean, low, high, scale))
        return out

    body = []
    for ident, part in rows:
        values = dict(zip(keys, ident, strict=True))
        body.append(([str(values[k]) for k in varying], cells(part)))

    def titled(c: Column, narrow: bool) -> str:
        unit = "%" if c.unit == "%" else scales[c.figure][0]
        title = c.short if narrow and c.short else c.title
        return f"{title} {unit}" if unit else title

    shown = list(range(len(columns)))
    measure = Console(width=10_000)
    while True:
        chosen = [columns[i] for i in shown]
        tables = (_table(varying, chosen, titled, body, shown, wrap) for wrap in (False, True))
        table = next((t for t in tables if measure.measure(t).maximum <= width), None)
        optional = [i for i in shown if columns[i].priority > 0 and not columns[i].when_nonzero]
        if table is not None or not optional:
            break
        shown.remove(max(optional, key=lambda i: (columns[i].priority, i)))
    if table is None:  # even the essential columns are too wide: show them anyway
        table = _table(varying, [columns[i] for i in shown], titled, body, shown, True)
    title = f"{', '.join(fixed)}: mean ±95% CI over {replications} replication(s)"
    if notes:
        title += "; " + ", ".join(notes)
    return Group(Text(title, style="bold"), table)


def _table(
    varying: list[str],
    columns: list[Column],
    titled: Callable[[Column, bool], str],
    body: list[tuple[list[str], list[str]]],
    shown: list[int],
    wrap: bool,
) -> Table:
    """The table of ``body`` rows with the ``shown`` columns; ``wrap`` shortens the titles
    and breaks one longer than its column's values into lines."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for j, k in enumerate(varying):
        data = max((len(keys[j]) for keys, _ in body), default=0)
        table.add_column(_header(k, data) if wrap else k, no_wrap=True)
    for i, column in zip(shown, columns, strict=True):
        data = max((len(values[i]) for _, values in body), default=0)
        title = _header(titled(column, True), data) if wrap else titled(column, False)
        table.add_column(title, justify="right", no_wrap=True)
    for keys, values in body:
        table.add_row(*keys, *(values[i] for i in shown))
    return table
