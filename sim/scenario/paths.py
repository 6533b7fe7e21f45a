"""Dotted key paths (``consumers.billing.instances``) and values, as ``--set`` and sweeps
write them."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.files import MAX_DEPTH
from sim.scenario.schema import ConsumerGroup

_INDEX = re.compile(r"^(?P<key>[^\[\]]+)\[(?P<index>\d+)\]$")


def split_path(path: str) -> list[str | int]:
    """A dotted key path as its parts: ``consumers[0].name`` and ``consumers.0.name`` are
    ``["consumers", 0, "name"]``."""
    parts: list[str | int] = []
    for piece in path.split("."):
        match = _INDEX.match(piece)
        if match:
            parts += [match["key"], int(match["index"])]
        elif piece.isdigit() and parts:
            parts.append(int(piece))
        elif piece:
            parts.append(piece)
        else:
            raise KeyError("a key path has an empty part")
    return parts


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` in raw scenario data.

    A consumer group can be named instead of indexed: ``consumers.billing.instances``.
    Raises ``KeyError`` with a readable message when the path cannot exist.
    """
    parts = split_path(path)
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list | tuple):
            if isinstance(part, str):
                unnamed = ConsumerGroup().name if parts[i - 1 : i] == ["consumers"] else None
                names = [item.get("name", unnamed) for item in node if isinstance(item, dict)]
                if part not in names:
                    known = ", ".join(repr(n) for n in names if n is not None) or "none"
                    raise KeyError(f"no entry named {part!r} (expected one of: {known})")
                part = names.index(part)
            if part >= len(node):
                raise KeyError(f"index {part} is out of range (there are {len(node)})")
            if isinstance(node, tuple):
                raise KeyError("cannot set inside a fixed value")
            if last:
                node[part] = value
            else:
                node = node[part]
            continue
        if not isinstance(node, dict):
            raise KeyError(f"{'.'.join(map(str, parts[:i]))} is not a table")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            elif isinstance(node[part], tuple):
                node[part] = list(node[part])
            node = node[part]


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML would read it (numbers, booleans, arrays, inline tables, inf);
    anything TOML cannot read is taken as a plain string (``ValueError`` if it is nested too
    deeply to read)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ValueError(f"the value is nested too deeply (at most {MAX_DEPTH} levels)") from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """A ``--set KEY=VALUE`` as (key, value), the value read as TOML would read it."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE; got {text!r}")
    try:
        return key.strip(), parse_value(value.strip())
    except ValueError as exc:
        raise ValueError(f"{key.strip()}: {exc}") from None


def parse_sweep(texts: list[str]) -> dict[str, list[Any]]:
    """``--sweep KEY=V1,V2,...``: values as TOML would read them, or plain strings."""
    table: dict[str, list[Any]] = {}
    for text in texts:
        key, sep, values = text.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ScenarioError("--sweep", [Problem(text, "expected KEY=VALUE,VALUE,...")])
        try:
            try:
                parsed = tomllib.loads(f"v = [{values}]")["v"]
            except tomllib.TOMLDecodeError:
                parsed = [parse_value(v.strip()) for v in values.split(",")]
        except (RecursionError, ValueError):
            raise ScenarioError(
                "--sweep", [Problem(key.strip(), f"values nested deeper than {MAX_DEPTH} levels")]
            ) from None
        table[key.strip()] = parsed
    return table
