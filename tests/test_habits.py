"""The habits the codebase keeps: every public module, class and function says what it is for,
each semantics is named in one file, and the layers import one way (``lint-imports`` checks
that in CI; this test keeps the registries the one place of their names)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sim
from sim.registry.semantics import SEMANTICS

ROOT = Path(sim.__file__).parent


def sources() -> dict[str, ast.Module]:
    """Every module of the package, parsed from its source: the check reads the code rather
    than the imported objects, because the engine's compiled modules keep no docstrings at
    run time (mypyc drops them), and it must hold for the compiled and the pure build alike."""
    parsed = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if "scenarios" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        parsed[name] = ast.parse(path.read_text(encoding="utf-8"))
    return parsed


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _public(body: list[ast.stmt]) -> list[Definition]:
    return [node for node in body if isinstance(node, Definition) and not node.name.startswith("_")]


def undocumented() -> list[str]:
    parsed = sources()
    classes: dict[str, ast.ClassDef] = {}
    """Every class of the package by its name: a method may take its docstring from the method
    it overrides in a base class (as ``inspect.getdoc`` does), such as a Protocol's."""
    for tree in parsed.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, node)

    def documented(cls: ast.ClassDef, method: str, seen: frozenset[str] = frozenset()) -> bool:
        for node in _public(cls.body):
            if node.name == method and ast.get_docstring(node):
                return True
        for base in cls.bases:
            name = ast.unparse(base).split("[")[0].split(".")[-1]
            if (
                name in classes
                and name not in seen
                and documented(classes[name], method, seen | {cls.name})
            ):
                return True
        return False

    missing = []
    for name, tree in parsed.items():
        if not ast.get_docstring(tree):
            missing.append(name)
        for node in _public(tree.body):
            if not ast.get_docstring(node):
                missing.append(f"{name}.{node.name}")
            if isinstance(node, ast.ClassDef):
                for member in _public(node.body):
                    if isinstance(member, ast.ClassDef) or ast.get_docstring(member):
                        continue
                    if not documented(node, member.name):
                        missing.append(f"{name}.{node.name}.{member.name}")
    return sorted(set(missing))


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
