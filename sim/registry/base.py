"""What every registry is: the named entries of one family, in their canonical order.

An entry carries everything the rest of the program needs to know of its name: a description
(the one text the docs, explain's stories and chart captions use) and, for families that are
drawn, a chart style. A name a chart meets that no entry has (a family extended in a notebook,
a result file from a newer version) gets a fallback style, so it is drawn, never dropped.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


@dataclass(frozen=True)
class Style:
    """How one entry looks in every chart: a colour, and for patterns a line style, a hatch
    and a marker (entries of other families keep the defaults)."""

    colour: str
    line: str | tuple[float, tuple[float, ...]] = "-"
    hatch: str = ""
    marker: str = "o"


FALLBACK_STYLES = (
    Style("#7f7f7f", ":", "..", "D"),
    Style("#bcbd22", "-.", "xx", "v"),
    Style("#17becf", (0.0, (1.0, 1.0)), "\\\\", "P"),
    Style("#e377c2", (0.0, (3.0, 1.0, 1.0, 1.0)), "oo", "X"),
    Style("#8c564b", (0.0, (5.0, 2.0)), "++", "*"),
)
"""Styles for names no entry has, chosen by the name (so a name keeps its look)."""


class Entry(Protocol):
    """What a registry holds: a name and its description."""

    @property
    def name(self) -> str:
        """The entry's name, as scenario files and result columns write it."""
        ...

    @property
    def description(self) -> str:
        """What the entry means, in a sentence a user reads."""
        ...


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """The entries of one family (``semantics``, ``pattern``, ...), by name, in order."""

    def __init__(self, family: str, entries: Iterable[E]):
        self.family = family
        self._entries: dict[str, E] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"two {family} entries are named {entry.name!r}")
            self._entries[entry.name] = entry

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries)
            raise KeyError(f"no {self.family} named {name!r} (known: {known})") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Every entry's name, in order."""
        return tuple(self._entries)

    def order(self, names: Iterable[str]) -> list[str]:
        """``names`` without repeats, registered ones first in the registry's order, then any
        others as they came."""
        given = list(dict.fromkeys(names))
        return [n for n in self._entries if n in given] + [n for n in given if n not in self]

    def style(self, name: str) -> Style:
        """The entry's chart style, or a fallback for a name no entry has."""
        entry = self._entries.get(name)
        style = getattr(entry, "style", None)
        if isinstance(style, Style):
            return style
        return FALLBACK_STYLES[zlib.crc32(name.encode("utf-8")) % len(FALLBACK_STYLES)]

    def describe(self, name: str) -> str:
        """The entry's description (the name itself for a name no entry has)."""
        entry = self._entries.get(name)
        return entry.description if entry is not None else name


def load(implementation: str) -> Any:
    """The object an entry's ``implementation`` names, as ``"package.module:attribute"``.

    Registries sit below every layer and import none of them; an entry names the code that
    implements it, and the layer that runs it loads it by that name.
    """
    module, _, attribute = implementation.partition(":")
    return getattr(importlib.import_module(module), attribute)
