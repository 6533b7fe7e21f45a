"""Filling a preset in: ``[delivery] preset = "kafka"`` sets that broker's values (see
:mod:`sim.registry.presets`) under whatever the scenario sets itself."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from sim.registry.presets import PRESETS


def apply_preset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw scenario data with its preset's values filled in under what it sets itself."""
    data = dict(raw)
    delivery = data.get("delivery")
    name = delivery.get("preset") if isinstance(delivery, Mapping) else None
    if not isinstance(name, str) or name not in PRESETS:
        return data  # no preset, or one that validation will refuse
    preset = copy.deepcopy(PRESETS[name].values)
    every_group = preset.pop("consumers", None)
    data = _under(preset, data)
    groups = data.get("consumers", [{}])
    if every_group is not None and "architecture" not in data and isinstance(groups, list):
        data["consumers"] = [
            _under(copy.deepcopy(every_group), dict(g)) if isinstance(g, Mapping) else g
            for g in groups
        ]
    return data


def _under(preset: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` over ``preset``, table by table."""
    out = dict(preset)
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _under(out[key], dict(value))
        else:
            out[key] = value
    return out


def describe() -> str:
    """The presets as a Markdown table, for the README (a test keeps the two in agreement)."""
    lines = ["| preset | values it fills in | source | note |", "| --- | --- | --- | --- |"]
    for preset in PRESETS:
        values = "; ".join(
            f"`{section}.{key} = {_toml(value)}`"
            for section, table in preset.values.items()
            for key, value in table.items()
        )
        lines.append(f"| `{preset.name}` | {values} | {preset.source} | {preset.note} |")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return repr(value)
