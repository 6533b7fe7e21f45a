"""Explain any message: its story in plain words, from the trace of a run.

``story(trace, message)`` tells what happened to one message, event by event, and ends with
its outcome in every consumer group: applied once, applied again (and why), lost (and why),
dead-lettered, or still pending. ``representatives(trace, "lost" | "duplicated")`` finds, for
each cause, how many messages it struck and one of them to read.

The trace of a study holds one run per point of its sweep, each named by the columns before
``replication``; ``select`` keeps the points a reader picked and ``by_point`` splits the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES

LINK_WORDS = {
    "publish": "the publish link",
    "publish_ack": "the publish-ack link",
    "deliver": "the deliver link",
    "consume_ack": "the consume-ack link",
}


def _duplicate(name: str) -> str:
    return DUP_CAUSES.describe(name)


def _loss(name: str) -> str:
    return LOSS_CAUSES.describe(name)


def _at(t: float) -> str:
    return f"{t:.3f} s"


def _sentence(row: pd.Series, created: float) -> str | None:
    """One event in words (None for the bookkeeping a reader does not need)."""
    event, t, group, detail, cause = (
        row["event"],
        row["time"],
        row["group"],
        row["detail"],
        row["cause"],
    )
    who = str(row["component"])
    match event:
        case "created":
            return f"created at {_at(t)} by {who}"
        case "sent":
            return f"attempt {detail} sent at {_at(t)}"
        case "lost" if cause == "publish":
            return f"attempt {detail} was lost on {LINK_WORDS[cause]}"
        case "lost" if cause == "publish_ack":
            return f"the broker's ack of attempt {detail} was lost on {LINK_WORDS[cause]}"
        case "lost" if cause == "deliver":
            return f"the copy for {group} was lost on {LINK_WORDS[cause]}"
        case "lost":
            return f"{group}'s ack was lost on {LINK_WORDS.get(cause, cause)}"
        case "duplicated":
            return f"{LINK_WORDS.get(cause, cause)} delivered it twice"
        case "stored" if detail == 1:
            return f"stored at {_at(t)}"
        case "stored":
            return (
                f"stored again at {_at(t)} (copy {detail}, a broker duplicate: {_duplicate(cause)})"
            )
        case "deduplicated":
            return f"attempt {detail} recognised as a duplicate by the broker at {_at(t)}"
        case "rejected":
            return f"attempt {detail} refused by the broker at {_at(t)} ({cause})"
        case "acked":
            return (
                f"the producer saw the ack of attempt {detail} at {_at(t)} "
                f"(publish latency {t - created:.3f} s)"
            )
        case "retry" if cause == "timeout":
            return f"no ack for attempt {detail} within the timeout ({_at(t)})"
        case "retry":
            return f"attempt {detail} refused: it will be resent"
        case "gave_up":
            return f"the producer gave up after attempt {detail} at {_at(t)}"
        case "dropped":
            return f"dropped at {_at(t)} by {who}, which was down"
        case "expired":
            return f"deleted by retention at {_at(t)}"
        case "deleted":
            return f"deleted at {_at(t)}, every subscription having acked it"
        case "wiped":
            return f"lost in the broker crash at {_at(t)}"
        case "delivered" if cause:
            return f"sent to {group} again at {_at(t)}, after {_duplicate(cause)}"
        case "delivered":
            return f"sent to {group} at {_at(t)}"
        case "redelivery" if cause:
            return f"{group}'s copy put back to be sent again at {_at(t)}: {_duplicate(cause)}"
        case "redelivery":
            return f"{group}'s copy put back to be sent again at {_at(t)}"
        case "applied" if detail == 1:
            return f"applied by {group} ({who}) at {_at(t)}"
        case "applied":
            return (
                f"applied again by {group} ({who}) at {_at(t)}: a duplicate caused by "
                f"{_duplicate(cause)}"
            )
        case "skipped":
            return f"{group} found it in its processed-id store at {_at(t)} and skipped it"
        case "crash":
            return f"{who} crashed at {_at(t)} while holding it"
        case "failed":
            return f"{group} failed to apply it at {_at(t)} (an error, retried)"
        case "nacked":
            return (
                f"a poison message: {group} ({who}) failed to process it at {_at(t)} and gave "
                "it back unacked"
            )
        case "dead_lettered":
            return f"dead-lettered after {detail} deliveries to {group} at {_at(t)}"
        case "discarded":
            return (
                f"dropped at {_at(t)} after {detail} deliveries to {group} (the delivery limit; "
                "no dead-letter queue)"
            )
    return None


def story(trace: pd.DataFrame, message: int) -> str:
    """What happened to ``message``, in plain words, ending with its outcome per group."""
    events = trace[trace["message"] == message]
    if events.empty:
        raise KeyError(f"message {message} is not in this trace")
    created = float(events["time"].iloc[0])
    sentences = [
        s
        for _, row in events.iterrows()
        if row["event"] != "outcome" and (s := _sentence(row, created))
    ]
    verdicts = []
    for _, row in events[events["event"] == "outcome"].iterrows():
        group = row["group"]
        applied = events[(events["event"] == "applied") & (events["group"] == group)]
        if row["detail"] == 3:
            moved = events[(events["event"] == "dead_lettered") & (events["group"] == group)]
            after = f" after {moved['detail'].iloc[-1]} deliveries" if len(moved) else ""
            verdicts.append(f"{group}: dead-lettered{after}, never applied")
        elif row["detail"] == 2:
            verdicts.append(f"{group}: lost, because {_loss(row['cause'])}")
        elif row["detail"] == 1:
            verdicts.append(f"{group}: still on its way at the end of the run (pending)")
        elif len(applied) == 1:
            verdicts.append(f"{group}: applied once")
        else:
            why = ", ".join(sorted({_duplicate(c) for c in applied["cause"] if c}))
            verdicts.append(f"{group}: applied {len(applied)} times, a duplicate caused by {why}")
    head = f"Message {message}: " + "; ".join(sentences) + "."
    return head + ("\nOutcome: " + "; ".join(verdicts) + "." if verdicts else "")


def representatives(trace: pd.DataFrame, kind: str = "lost") -> pd.DataFrame:
    """Per cause: how many messages (``lost``) or duplicate applications (``duplicated``) it
    accounts for, and the first message it struck, whose story tells the typical case."""
    if kind == "lost":
        rows = trace[(trace["event"] == "outcome") & (trace["detail"] == 2)]
    elif kind == "duplicated":
        rows = trace[(trace["event"] == "applied") & (trace["detail"] > 1)]
    else:
        raise ValueError(f"kind must be 'lost' or 'duplicated'; got {kind!r}")
    words = _loss if kind == "lost" else _duplicate
    rows = rows.astype({"cause": str})
    table = (
        rows.groupby("cause", sort=False)
        .agg(count=("message", "size"), example=("message", "first"))
        .reset_index()
        .sort_values("count", ascending=False, kind="stable")
    )
    # the typical story is one where this cause acted alone: prefer a message whose every
    # loss or duplicate has this cause over the first one struck
    causes = rows.groupby("message", sort=False)["cause"].nunique()
    alone = rows[rows["message"].isin(causes.index[causes == 1])]
    firsts = alone.groupby("cause", sort=False)["message"].first()
    table["example"] = [
        firsts.get(c, e) for c, e in zip(table["cause"], table["example"], strict=True)
    ]
    table["meaning"] = [words(c) for c in table["cause"]]
    return table.reset_index(drop=True)


def point_columns(trace: pd.DataFrame) -> list[str]:
    """The columns that name the point of the study a trace row belongs to."""
    return list(trace.columns[: trace.columns.get_loc("replication")])


def varying_columns(trace: pd.DataFrame) -> list[str]:
    """The point columns that tell the points of ``trace`` apart: the ones that vary, less
    those that repeat an earlier one (``delivery.semantics`` swept is ``semantics``)."""
    points = trace[point_columns(trace)].drop_duplicates().astype(str)
    kept: list[str] = []
    for column in points.columns:
        values = points[column]
        if values.nunique() > 1 and not any(values.equals(points[k]) for k in kept):
            kept.append(column)
    return kept


def same(value: Any, text: str) -> bool:
    """Whether a point's ``value`` is what a reader wrote as ``text`` (``0.05`` is 0.050)."""
    if str(value) == text:
        return True
    try:
        number = float(text)
    except ValueError:
        return False
    return isinstance(value, int | float) and math.isclose(value, number, rel_tol=1e-12)


def select(trace: pd.DataFrame, where: Mapping[str, str]) -> pd.DataFrame:
    """The rows of the points whose columns hold the values ``where`` gives, as text;
    ``ValueError`` naming the columns or values there are when one matches nothing."""
    columns = point_columns(trace)
    for column, text in where.items():
        if column not in columns:
            raise ValueError(
                f"{column!r} does not name the points of this study; it has: {', '.join(columns)}"
            )
        values = list(trace[column].unique())
        chosen = [v for v in values if same(v, text)]
        if not chosen:
            raise ValueError(
                f"no point has {column} = {text}; it takes: {', '.join(map(str, values))}"
            )
        trace = trace[trace[column].isin(chosen)]
    return trace


def by_point(trace: pd.DataFrame) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Each point of ``trace`` (named by the columns that vary) with its rows, in order."""
    columns = varying_columns(trace)
    if not columns:
        yield {}, trace
        return
    for key, rows in trace.groupby(columns, sort=False, dropna=False):
        yield dict(zip(columns, key, strict=True)), rows


def point_label(point: Mapping[str, Any]) -> str:
    """A point as the ``--at`` options that choose it."""
    return " ".join(f"--at {k}={v}" for k, v in point.items())
