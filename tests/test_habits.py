"""The habits the codebase keeps: every public module, class and function says what it is for,
each semantics is named in one file, and the layers import one way (``lint-imports`` checks
that in CI; this test keeps the registries the one place of their names)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import sim
from sim.registry.semantics import SEMANTICS

ROOT = Path(sim.__file__).parent


def modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages([str(ROOT)], prefix="sim.")
        if "scenarios" not in m.name
    )


def undocumented() -> list[str]:
    missing = []
    for name in modules():
        module = importlib.import_module(name)
        if not inspect.getdoc(module):
            missing.append(name)
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not inspect.getdoc(value):
                missing.append(f"{name}.{attribute}")
            if inspect.isclass(value):
                for method, member in vars(value).items():
                    if method.startswith("_"):
                        continue
                    function = member.fget if isinstance(member, property) else member
                    if inspect.isfunction(function) and not inspect.getdoc(
                        getattr(value, method) if not isinstance(member, property) else member
                    ):
                        missing.append(f"{name}.{attribute}.{method}")
    return missing


def test_every_public_module_class_and_function_has_a_docstring() -> None:
    assert undocumented() == []


def test_each_semantics_is_named_in_one_file() -> None:
    for semantics in SEMANTICS:
        quoted = re.compile(rf"[\"']{re.escape(semantics.name)}[\"']")
        files = [
            str(path.relative_to(ROOT))
            for path in ROOT.rglob("*.py")
            if quoted.search(path.read_text(encoding="utf-8"))
        ]
        assert files == ["registry/semantics.py"] or (
            # the schema may name the default semantics
            sorted(files) == ["registry/semantics.py", "scenario/schema.py"]
            and semantics.name == "at-least-once"
        ), (semantics.name, files)
