"""Scenario files: TOML text read into data, refusing what the reader cannot take (a file
that is missing, empty, not TOML, or nested or dotted beyond reason), with the file named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sim.scenario.errors import Problem, ScenarioError

MAX_DEPTH = 32
"""Tables and arrays nested deeper than this (the format needs 5) are refused."""


def read_toml(path: str | Path) -> dict[str, Any]:
    """The data of a TOML file; a ScenarioError names the file when it is missing, unreadable, empty
    or not TOML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [Problem("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(
            str(path), [Problem("", "is a directory, expected a .toml file")]
        ) from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ScenarioError(str(path), [Problem("", f"cannot read: {exc}")]) from None
    if not text.strip():
        raise ScenarioError(
            str(path), [Problem("", 'the file is empty (a scenario needs at least name = "...")')]
        )
    try:
        return parse_toml(text)
    except ValueError as exc:
        raise ScenarioError(str(path), [Problem("", str(exc))]) from None


MAX_KEY_PARTS = 256
"""Parts of one dotted key (``a.b.c``) that a scenario file may have: Python's TOML reader
takes memory quadratic in them (20,000 parts: 1.5 GB), so longer keys are refused unread."""
_KEY_PART = r"""(?:[A-Za-z0-9_-]++|"[^"\n]*+"|'[^'\n]*+')"""
_KEY_CHAIN = re.compile(rf"(?<![A-Za-z0-9_-])(?:{_KEY_PART}[ \t]*+\.[ \t]*+)++")
"""A run of dotted key parts, matched whole (possessive: the scan stays linear)."""


def _longest_key_parts(text: str) -> int:
    """Parts in the longest dotted key-like run of ``text`` (an upper bound for its keys)."""
    longest = 0
    if text.count(".") >= MAX_KEY_PARTS:
        for match in _KEY_CHAIN.finditer(text):
            if match.group().count(".") > longest:
                longest = max(longest, len(re.findall(_KEY_PART, match.group())))
    return longest


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as data; ``ValueError`` saying ``invalid TOML: ...`` if it is not TOML or
    is nested too deeply for the reader."""
    if _longest_key_parts(text) >= MAX_KEY_PARTS:
        raise ValueError(f"invalid TOML: a dotted key with more than {MAX_KEY_PARTS} parts")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"invalid TOML: arrays or tables nested too deeply (at most {MAX_DEPTH} levels)"
        ) from None
