"""Pydantic's validation errors in the words a scenario's author reads: the key path as the
file writes it and what was expected there."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.scenario.errors import Problem, describe_value, key_text
from sim.scenario.schema import (
    DISTRIBUTIONS,
    Constant,
    Exponential,
    LogNormal,
    Normal,
    Scenario,
    Uniform,
)


def format_path(loc: Iterable[Any], tags: bool = True, keep_last: bool = False) -> str:
    """A location as a key path. With ``tags`` the location comes from pydantic, and its
    distribution names are union tags, not keys the user wrote (except the last one with
    ``keep_last``: an unknown key the user wrote)."""
    parts: list[str] = []
    items = list(loc)
    for n, item in enumerate(items):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
        elif tags and item in DISTRIBUTIONS and not (keep_last and n == len(items) - 1):
            continue  # pydantic's union tag, not a key the user wrote
        else:
            parts.append(key_text(str(item)))
    return ".".join(parts)


_EXPECTED_TYPE = {
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "int_parsing": "an integer",
    "finite_number": "a finite number",
}


def _message(error: Mapping[str, Any], parent_fields: Iterable[str]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, list(parent_fields), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(sorted(parent_fields))
        return f"unknown key{hint} (expected one of: {known})"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}; got {describe_value(value)}"
    if kind == "union_tag_invalid":
        choices = ", ".join(f"'{d}'" for d in DISTRIBUTIONS)
        return f"unknown distribution {ctx.get('tag')!r}; expected one of {choices}"
    if kind == "union_tag_not_found":
        choices = ", ".join(f"'{d}'" for d in DISTRIBUTIONS)
        return f"a distribution needs a 'dist' key, one of {choices}; got {describe_value(value)}"
    if kind in _EXPECTED_TYPE:
        return f"expected {_EXPECTED_TYPE[kind]}; got {describe_value(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()))
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        return f"expected a value {sign} {bound}; got {describe_value(value)}"
    if kind == "string_pattern_mismatch":
        return f"expected letters, digits, '-' or '_' only; got {describe_value(value)}"
    if kind in ("too_short", "too_long"):
        return error["msg"].lower()
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg']}; got {describe_value(value)}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table that holds the last element of ``loc``."""
    model: Any = Scenario
    for item in loc[:-1]:
        if isinstance(item, int) or model is None:
            continue
        if item in DISTRIBUTIONS:
            model = {
                "constant": Constant,
                "exponential": Exponential,
                "uniform": Uniform,
                "lognormal": LogNormal,
                "normal": Normal,
            }[item]
            continue
        fields = getattr(model, "model_fields", {})
        if item not in fields:
            return []
        model = _model_of(fields[item].annotation)
    return list(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def problems_from(error: ValidationError) -> list[Problem]:
    """Pydantic's validation errors as problems a scenario's author reads (key path, what was
    expected)."""
    out = []
    for e in error.errors():
        loc = tuple(e["loc"])
        path = format_path(loc, keep_last=e["type"] == "extra_forbidden")
        out.append(Problem(path, _message(e, _fields_at(loc))))
    return out
