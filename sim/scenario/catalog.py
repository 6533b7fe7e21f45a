"""The scenarios shipped with the package (``scenarios/``), found by file stem or name."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sim.scenario.errors import ScenarioError
from sim.scenario.files import read_toml


def shipped_folder() -> Path:
    """The folder of the scenarios shipped with the package (``scenarios/``)."""
    return Path(str(resources.files("sim") / "scenarios"))


def default_scenario() -> Path:
    """The built-in comparison (shipped as ``scenarios/default.toml``)."""
    return shipped_folder() / "default.toml"


@dataclass(frozen=True)
class Shipped:
    """A scenario shipped with the package: its ``name``, file and ``description`` as the
    file states them (read without validating, so that a broken file still lists)."""

    name: str
    path: Path
    description: str


def shipped_scenarios() -> list[Shipped]:
    """Every shipped scenario, by file name."""
    found = []
    for path in sorted(shipped_folder().glob("*.toml")):
        try:
            raw = read_toml(path)
        except ScenarioError as exc:
            found.append(Shipped(path.stem, path, f"(unreadable: {exc})"))
            continue
        name, description = raw.get("name"), raw.get("description", "")
        found.append(
            Shipped(
                name if isinstance(name, str) and name else path.stem,
                path,
                " ".join(description.split()) if isinstance(description, str) else "",
            )
        )
    return found


class UnknownScenario(LookupError):
    """A scenario named that is neither a file nor a shipped scenario."""


def find(given: Path) -> Path:
    """A scenario argument as a file: a path that exists wins; otherwise the shipped scenario
    of that file stem, ``name`` or file name; otherwise, if it looks like a path, the path
    itself (loading it then says what is wrong). Anything else is an :class:`UnknownScenario`."""
    if given.exists():
        return given
    text = str(given)
    shipped = shipped_scenarios()
    for match in (
        lambda s: s.path.stem == text,
        lambda s: s.name == text,
        lambda s: s.path.name == text,
    ):
        for scenario in shipped:
            if match(scenario):
                return scenario.path
    if given.suffix == ".toml" or len(given.parts) > 1:
        return given
    names = ", ".join(s.path.stem for s in shipped) or "none"
    raise UnknownScenario(
        f"{text!r} is neither a scenario file nor a shipped scenario; shipped scenarios: "
        f"{names} (dsim list describes them)"
    )
