"""Loading a scenario: reading TOML, overrides, presets, validation and the cross-field checks.

A scenario is refused before anything runs when it has an unknown key, a wrong type or an
impossible value; every refusal names the file, the key path and what was expected.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from sim.registry.base import Registry
from sim.registry.patterns import PATTERNS
from sim.registry.presets import PRESETS
from sim.registry.semantics import SEMANTICS
from sim.scenario.errors import Problem, ScenarioError, describe_value
from sim.scenario.files import read_toml
from sim.scenario.limits import (
    limit_problems,
    shape_problems,
    sweep_size,
)
from sim.scenario.messages import problems_from
from sim.scenario.paths import parse_assignment, set_path, split_path
from sim.scenario.presets import apply_preset
from sim.scenario.schema import LINKS, ConsumerGroup, Scenario

# ---------------------------------------------------------------------------------------------
# Cross-field checks pydantic cannot express on one field


def _targets(s: Scenario) -> dict[str, str]:
    """Every fault target the scenario has, with the fault kind it accepts."""
    out = {"broker": "crash", "producer": "crash"}
    if s.architecture is not None:
        out.update({f"service:{v.name}": "crash" for v in s.architecture.services})
    out.update({f"producer:{i}": "crash" for i in range(s.workload.producers)})
    for c in s.consumers:
        out[f"consumer:{c.name}"] = "crash"
        out.update({f"consumer:{c.name}:{i}": "crash" for i in range(c.instances)})
    out.update({f"link:{name}": "partition" for name in LINKS})
    return out


def _cross_checks(s: Scenario) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, c in enumerate(s.consumers):
        if c.name in seen:
            problems.append(
                Problem(
                    f"consumers[{i}].name",
                    f"consumer name {c.name!r} is already used by consumers[{seen[c.name]}]",
                )
            )
        seen.setdefault(c.name, i)
    if s.architecture is not None:
        names: dict[str, int] = {}
        for i, service in enumerate(s.architecture.services):
            if service.name in names:
                problems.append(
                    Problem(
                        f"architecture.services[{i}].name",
                        f"service name {service.name!r} is already used by "
                        f"architecture.services[{names[service.name]}]",
                    )
                )
            names.setdefault(service.name, i)
        if len(set(s.architecture.approaches)) != len(s.architecture.approaches):
            problems.append(Problem("architecture.approaches", "an approach is listed twice"))
        default = [ConsumerGroup().model_dump()]
        if s._raw is not None and s._raw.get("consumers", default) != default:
            problems.append(
                Problem(
                    "consumers",
                    "an architecture comparison makes one consumer "
                    "group per downstream service; remove [[consumers]] and "
                    "describe the services in [[architecture.services]]",
                )
            )
    targets = _targets(s)
    for i, f in enumerate(s.faults):
        if f.target not in targets:
            close = difflib.get_close_matches(f.target, list(targets), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(
                Problem(
                    f"faults[{i}].target",
                    f"no such target {f.target!r}{hint} (expected broker, producer, producer:<n>, "
                    "consumer:<group>, consumer:<group>:<n>, service:<name> or "
                    "link:<publish|publish_ack|deliver|consume_ack>)",
                )
            )
        elif targets[f.target] != f.kind:
            problems.append(
                Problem(
                    f"faults[{i}].kind",
                    f"a {f.target} takes kind = {targets[f.target]!r}; got {f.kind!r}",
                )
            )
    for key, values in s.sweep.items():
        if not values:
            problems.append(Problem(f'sweep."{key}"', "expected a non-empty array of values"))
        elif isinstance(values, dict):
            lengths = {k: len(v) for k, v in values.items()}
            keys = [k for k in values if k != "label"]
            if not keys:
                problems.append(
                    Problem(
                        f'sweep."{key}"',
                        'a linked sweep needs at least one "dotted.key" = [values] entry',
                    )
                )
            elif len(set(lengths.values())) != 1 or 0 in lengths.values():
                detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
                problems.append(
                    Problem(
                        f'sweep."{key}"',
                        "the arrays of a linked sweep move in "
                        f"step and need one equal, non-zero length; got {detail}",
                    )
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Entry points


def validate(raw: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate raw data (as read from TOML) into a :class:`Scenario` or raise ScenarioError."""
    return _validate(raw, source, limits=True)


def _validate(raw: Mapping[str, Any], source: str, limits: bool) -> Scenario:
    if not isinstance(raw, Mapping):
        raise ScenarioError(source, [Problem("", f"expected a table; got {describe_value(raw)}")])
    shape = shape_problems(raw)
    if shape:
        raise ScenarioError(source, shape)
    raw = _every_name(raw)
    try:
        scenario = Scenario.model_validate(apply_preset(raw))
    except ValidationError as exc:
        raise ScenarioError(source, problems_from(exc)) from None
    scenario._raw = copy.deepcopy(dict(raw))
    problems = _cross_checks(scenario)
    if not problems and limits and not scenario.sweep:
        # a sweep's points are checked one by one as they are built (points.points_of)
        problems = limit_problems(scenario)
    problems = problems or sweep_size(scenario) or _sweep_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


EVERY = "*"
"""A sweep of a key whose values a registry names (``"delivery.semantics" = "*"``) runs every
one of them: the default comparison sweeps every semantics and pattern there is."""
NAMED_BY: dict[str, Registry[Any]] = {
    "delivery.semantics": SEMANTICS,
    "delivery.pattern": PATTERNS,
    "delivery.preset": PRESETS,
}


def _every_name(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raw data with each sweep of :data:`EVERY` names replaced by the registry's names."""
    sweep = raw.get("sweep")
    if not isinstance(sweep, Mapping):
        return raw
    expanded = {
        key: list(NAMED_BY[key].names) if key in NAMED_BY and values in (EVERY, [EVERY]) else values
        for key, values in sweep.items()
    }
    return {**raw, "sweep": expanded} if expanded != sweep else raw


def _sweep_problems(s: Scenario) -> list[Problem]:
    """Each swept value must make a valid scenario on its own.

    The limits on the work of a run are left to each point of the product (a value can only
    be too much together with the others), so they are not checked here.
    """
    if not s.sweep:
        return []
    base = s.model_copy(update={"sweep": {}})
    problems = []
    for key, options in s.sweep_dimensions():
        for i, (_, values) in enumerate(options):
            try:
                raw = copy.deepcopy(base._raw) if base._raw is not None else base.model_dump()
                set_all(raw, values.items(), "<overrides>")
                _validate(raw, "<overrides>", limits=False)
            except ScenarioError as exc:
                problems += [
                    Problem(f'sweep."{key}"[{i}]', f"{p.path}: {p.message}") for p in exc.problems
                ]
                break
            except KeyError as exc:
                problems.append(Problem(f'sweep."{key}"', str(exc.args[0])))
                break
    return problems


def load_scenario(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = ()) -> Scenario:
    """Read, override (``KEY=VALUE`` strings or a mapping of dotted keys) and validate a file."""
    raw = read_toml(path)
    items = list(
        overrides.items() if isinstance(overrides, Mapping) else _assignments(path, overrides)
    )
    _unsweep(raw, [key for key, _ in items])
    set_all(raw, items, str(path))
    return validate(raw, source=str(path))


def _unsweep(raw: dict[str, Any], keys: Iterable[str]) -> None:
    """An override of a swept key fixes it: the key leaves the file's sweep."""
    sweep = raw.get("sweep")
    if not isinstance(sweep, dict):
        return
    for key in keys:
        sweep.pop(key, None)
        for name, entry in list(sweep.items()):
            if isinstance(entry, dict) and key in entry:
                del entry[key]
                if not [k for k in entry if k != "label"]:
                    del sweep[name]


def set_all(raw: dict[str, Any], items: Iterable[tuple[str, Any]], source: str) -> None:
    """Set dotted keys in raw data; a list the data leaves to its default (the consumer
    groups) is filled in first, so ``consumers.consumer.instances`` reaches it."""
    defaults = None
    for key, value in items:
        try:
            top = split_path(key)[0]
            if top not in raw:
                defaults = defaults or Scenario(name="defaults").model_dump(mode="python")
                if isinstance(defaults.get(str(top)), list):
                    raw[str(top)] = defaults[str(top)]
            set_path(raw, key, value)
        except KeyError as exc:
            raise ScenarioError(source, [Problem(key, str(exc.args[0]))]) from None


def _assignments(path: str | Path, texts: Iterable[str]) -> list[tuple[str, Any]]:
    out = []
    for text in texts:
        try:
            out.append(parse_assignment(text))
        except ValueError as exc:
            raise ScenarioError(str(path), [Problem("--set", str(exc))]) from None
    return out
