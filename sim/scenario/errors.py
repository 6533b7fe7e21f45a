"""Refusals: every problem of a scenario named by its file, key path and what was expected.

Pydantic's own errors are put in these words by :mod:`sim.scenario.messages`; this module
imports nothing heavy, so that commands which only read files start fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where (a key path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(Exception):
    """A scenario that cannot run: the source (file) and every problem found in it."""

    def __init__(self, source: str, problems: Iterable[Problem]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {printable(str(p))}" for p in self.problems)
        super().__init__(f"{printable(source)}: invalid scenario\n{lines}")


def key_text(key: str) -> str:
    """A key as a path shows it: quoted, and escaped, when it is empty or holds characters
    that cannot be shown as they are (a line break or a terminal escape would garble the
    message)."""
    if key and key.isprintable():
        return key
    return f'"{printable(key)}"'


def printable(text: str) -> str:
    """``text`` with every character that cannot be shown as it is (control characters,
    line breaks, terminal escapes, invisible format characters) written as ``\\uXXXX``."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in text
    )


def describe_value(value: Any) -> str:
    """A value as an error message shows it: its text (shortened) and its TOML type."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "table"}
    kind = kinds.get(
        type(value), "array" if isinstance(value, list | tuple) else type(value).__name__
    )
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"
