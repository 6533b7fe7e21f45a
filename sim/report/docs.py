"""The docs' reference tables, generated from the registries and the scenario schema, so that
the docs cannot drift from the code.

A page of ``docs/`` marks each generated region::

    <!-- generated: semantics -->
    ...the table...
    <!-- end generated -->

``python -m sim.report.docs --write`` rewrites every marked region from the code;
``python -m sim.report.docs --check`` (and a test) fails when a committed region differs from
what the code generates. A region's name is a key of :data:`GENERATORS`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.registry.approaches import APPROACHES
from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES, CauseRegistry
from sim.registry.figures import ARCHITECTURE_FIGURES, DELIVERY_FIGURES, Figure
from sim.registry.patterns import PATTERNS
from sim.registry.semantics import SEMANTICS
from sim.report.charts import CHARTS
from sim.scenario.catalog import shipped_scenarios
from sim.scenario.presets import describe as preset_table
from sim.scenario.schema import DISTRIBUTIONS, Scenario, meaning

REGION = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL
)


class Undocumented(ValueError):
    """A scenario key without a description (a docstring in the schema)."""


# ---------------------------------------------------------------------------------------------
# Words


def words(text: str | None) -> str:
    """A docstring as Markdown on one line (reStructuredText roles and literals made plain)."""
    text = " ".join((text or "").split())
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`").replace("|", "\\|")


def toml(value: Any) -> str:
    """A value as TOML writes it (``inf``, ``true``, ``"text"``, inline tables)."""
    if isinstance(value, BaseModel):
        return toml(value.model_dump(exclude_none=True))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return repr(value)


def _table(header: list[str], rows: Iterator[list[str]] | list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The scenario format, from the schema


def _bounds(metadata: list[Any]) -> tuple[list[str], bool]:
    """The bounds a field's metadata sets, in words, and whether it may be infinite."""
    said = []
    finite = False
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            said.append(f"≥ {_number(item.ge)}")
        elif isinstance(item, annotated_types.Gt):
            said.append(f"> {_number(item.gt)}")
        elif isinstance(item, annotated_types.Le):
            said.append(f"≤ {_number(item.le)}")
        elif isinstance(item, annotated_types.Lt):
            said.append(f"< {_number(item.lt)}")
        elif getattr(item, "allow_inf_nan", None) is False:
            finite = True
    return said, finite


def _number(value: Any) -> str:
    if isinstance(value, int) and value >= 2**31:
        return f"2^{int(math.log2(value))}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _distribution(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return bool(args) and all(
        _is_model(a)
        and "dist" in a.model_fields
        and a.model_fields["dist"].default in DISTRIBUTIONS
        for a in args
    )


def type_words(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A field's type as the docs name it: ``probability``, ``number ≥ 0 or inf``,
    ``"poisson" | "constant"``, ``distribution``, ``table`` ..."""
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        for item in extra:
            metadata += getattr(item, "metadata", [item])
        return type_words(inner, metadata)
    if _distribution(annotation):
        return "distribution"
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(type_words(a, metadata) for a in members)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{v}"`' for v in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        if _is_model(item):
            return "array of tables"
        return f"array of {type_words(item)}"
    if origin is dict:
        return "table"
    if _is_model(annotation):
        return "table"
    bounds, finite = _bounds(metadata)
    if annotation is bool:
        return "boolean"
    if annotation is str:
        pattern = next(
            (getattr(m, "pattern", None) for m in metadata if getattr(m, "pattern", None)), None
        )
        return "name (letters, digits, `-`, `_`)" if pattern else "text"
    if annotation is int:
        return "integer" + (f" {', '.join(bounds)}" if bounds else "")
    if annotation is float:
        if bounds == ["≥ 0", "≤ 1"]:
            return "probability (0 to 1)"
        text = "number" + (f" {', '.join(bounds)}" if bounds else "")
        capped = any(b.startswith(("≤", "<")) for b in bounds)
        return text if finite or capped else text + " or inf"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        factory = typing.cast(Callable[[], Any], info.default_factory)
        value = factory()
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "one table of defaults" if len(value) == 1 else f"{len(value)} tables"
    return f"`{toml(value)}`"


def _sections(
    model: type[BaseModel], path: str, header: str, about: str = ""
) -> Iterator[tuple[str, type[BaseModel], str, str]]:
    """Every table of the format: (its header, its model, its dotted path, what it is)."""
    yield header, model, path, about
    seen: set[type[BaseModel]] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        optional = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(optional) == 1:
            annotation = optional[0]
        key = f"{path}.{name}" if path else name
        if _is_model(annotation) and not _distribution(info.annotation):
            table = typing.cast(type[BaseModel], annotation)
            if table in seen:
                continue  # the four links share one table of keys
            seen.add(table)
            siblings = [n for n, i in model.model_fields.items() if i.annotation is table]
            if len(siblings) > 1:  # the links: one table each, of the same keys
                yield from _sections(table, f"{path}.<link>", f"[{path}.<link>]", LINK_TABLES)
            else:
                yield from _sections(table, key, f"[{key}]", words(meaning(model, name)))
        elif typing.get_origin(annotation) is list:
            (item,) = typing.get_args(annotation)
            if _is_model(item):
                yield from _sections(item, key, f"[[{key}]]", words(meaning(model, name)))


LINK_TABLES = (
    "One table per link, each key defaulting to the network's: `publish` (producer to broker), "
    "`publish_ack` (the broker's acks), `deliver` (broker to consumer), `consume_ack` (the "
    "consumers' acks and offset commits)."
)


def _is_section(info: FieldInfo) -> bool:
    annotation = info.annotation
    members = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if _distribution(annotation):
        return False
    for member in members:
        if _is_model(member):
            return True
        if typing.get_origin(member) is list and _is_model(typing.get_args(member)[0]):
            return True
    return False


def scenario_keys() -> str:
    """Every key of the scenario format, table by table: its type, default and meaning."""
    parts = []
    for header, model, path, about in _sections(Scenario, "", "top level"):
        rows = []
        for name, info in model.model_fields.items():
            if name == "dist" or _is_section(info):
                continue
            described = meaning(model, name)
            if not described:
                where = f"{path}.{name}" if path else name
                raise Undocumented(
                    f"scenario key {where} has no description: give it a docstring in "
                    "sim/scenario/schema.py"
                )
            rows.append(
                [
                    f"`{name}`",
                    type_words(info.annotation, info.metadata),
                    _default(info),
                    words(described),
                ]
            )
        title = "Top level" if header == "top level" else f"`{header}`"
        lead = f"{about}\n\n" if about else ""
        parts.append(f"### {title}\n\n{lead}" + _table(["key", "type", "default", "meaning"], rows))
    return "\n".join(parts)


def distributions() -> str:
    """Every duration distribution: its ``dist``, its parameters and what it is."""
    from sim.scenario import schema

    rows = []
    members = typing.get_args(typing.get_args(schema.Distribution)[0])
    for model in members:
        dist = model.model_fields["dist"].default
        params = [f"`{n}`: {words(meaning(model, n))}" for n in model.model_fields if n != "dist"]
        rows.append([f'`"{dist}"`', " ".join(params), words(model.__doc__)])
    return _table(["dist", "parameters", "what it is"], rows)


# ---------------------------------------------------------------------------------------------
# The registries


def semantics() -> str:
    """The semantics and what each component does under it."""
    flags = [
        ("producer_retries", "producer retries"),
        ("idempotent_publish", "idempotent publish"),
        ("ack_before_process", "acks before processing"),
        ("broker_redelivers", "broker redelivers"),
        ("consumer_dedup", "consumer dedup"),
    ]
    rows = [
        [f"`{s.name}`", words(s.description)]
        + ["yes" if getattr(s, flag) else "no" for flag, _ in flags]
        for s in SEMANTICS
    ]
    return _table(["semantics", "what it does", *(title for _, title in flags)], rows)


def patterns() -> str:
    """The delivery patterns."""
    rows = [[f"`{p.name}`", words(p.description), "yes" if p.replays else "no"] for p in PATTERNS]
    return _table(["pattern", "how copies reach the groups", "replays its log"], rows)


def _causes(registry: CauseRegistry, lead: str) -> str:
    rows = [[f"`{c.name}`", f"`{c.column}`", f"{lead} {words(c.description)}"] for c in registry]
    return _table(["cause", "column", "meaning"], rows)


def loss_causes() -> str:
    """Every cause of loss and its column."""
    return _causes(LOSS_CAUSES, "lost, because")


def dup_causes() -> str:
    """Every cause of a duplicate and its column."""
    return _causes(DUP_CAUSES, "a duplicate caused by")


UNITS = {"share": "share of 1"}
"""How a unit is written in the docs' tables where its registry name would not say it."""


def _figures(registry: Any) -> str:
    figures: list[Figure] = list(registry)
    rows = [[f"`{f.name}`", UNITS.get(f.unit, f.unit), words(f.description)] for f in figures]
    return _table(["figure", "unit", "meaning"], rows)


def figures() -> str:
    """The figures of a delivery study (columns of runs.csv, rows of summary.csv)."""
    return _figures(DELIVERY_FIGURES)


def architecture_figures() -> str:
    """The figures of an architecture comparison."""
    return _figures(ARCHITECTURE_FIGURES)


def approaches() -> str:
    """The approaches an architecture comparison sets side by side."""
    rows = [
        [f"`{a.name}`", words(a.description), "yes" if a.through_broker else "no"]
        for a in APPROACHES
    ]
    return _table(["approach", "how the change reaches the services", "through the broker"], rows)


def presets() -> str:
    """The broker presets with the values they fill in and their sources."""
    return preset_table() + "\n"


def charts() -> str:
    """The chart files and the question each answers."""
    rows = [[f"`{c.file}`", words(c.description), words(c.read)] for c in CHARTS]
    return _table(["file", "what it answers", "what to read in it"], rows)


def scenarios() -> str:
    """The shipped scenarios and their questions."""
    rows = []
    for shipped in shipped_scenarios():
        question = words(shipped.description).split(". ")[0].rstrip(".")
        rows.append([f"`{shipped.name}`", f"`scenarios/{shipped.path.name}`", question + "."])
    return _table(["name", "file", "the question"], rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "scenario-keys": scenario_keys,
    "distributions": distributions,
    "semantics": semantics,
    "patterns": patterns,
    "loss-causes": loss_causes,
    "dup-causes": dup_causes,
    "figures": figures,
    "architecture-figures": architecture_figures,
    "approaches": approaches,
    "presets": presets,
    "charts": charts,
    "scenarios": scenarios,
}
"""Each generated region's name and the function that writes it."""


# ---------------------------------------------------------------------------------------------
# Pages


def regenerate(text: str, source: str = "<page>") -> str:
    """``text`` with every generated region rewritten from the code."""

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            known = ", ".join(GENERATORS)
            raise KeyError(f"{source}: no generated region named {name!r} (known: {known})")
        return f"{match[1]}{GENERATORS[name]()}{match[4]}"

    return REGION.sub(body, text)


def pages(folder: Path) -> list[Path]:
    """The Markdown pages of ``folder`` (``docs/``), in name order."""
    return sorted(folder.rglob("*.md"))


def stale(folder: Path) -> list[Path]:
    """The pages whose generated regions differ from what the code generates."""
    return [
        page
        for page in pages(folder)
        if regenerate(text := page.read_text(encoding="utf-8"), str(page)) != text
    ]


def write(folder: Path) -> list[Path]:
    """Rewrite the generated regions of every page; return the pages that changed."""
    changed = []
    for page in pages(folder):
        text = page.read_text(encoding="utf-8")
        new = regenerate(text, str(page))
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.report.docs --write`` or ``--check`` (exit 1 when a page is stale)."""
    parser = argparse.ArgumentParser(prog="python -m sim.report.docs", description=__doc__)
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="the docs folder")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated regions")
    action.add_argument("--check", action="store_true", help="fail when a region is stale")
    args = parser.parse_args(argv)
    if args.write:
        for page in write(args.docs):
            print(f"rewrote {page}")
        return 0
    old = stale(args.docs)
    for page in old:
        print(
            f"{page}: generated tables differ from the code; run python -m sim.report.docs --write"
        )
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main())
