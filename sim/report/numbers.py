"""Numbers as people read them: a mean with its 95% interval, rounded to what the interval
can tell, and times in the unit that suits them.

The terminal table writes ``3.4±0.3`` (:func:`compact`); the HTML report writes
``3.4% (3.1–3.6%)`` (:func:`spread`). Both round where the interval's half-width has its first
significant digit (its second when the first is a 1), so no digit is shown that the
replications cannot support.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TIME_UNITS = (("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))


def time_unit(seconds: Sequence[float], below: float = 10_000) -> tuple[str, float]:
    """The unit that shows ``seconds`` with few digits before the point: the smallest of µs,
    ms and s in which the largest value is under ``below`` (ms when there is no value but
    zero)."""
    finite = [abs(s) for s in seconds if not math.isnan(s)]
    largest = max(finite, default=0.0)
    if largest == 0.0:
        return "ms", 1e-3
    for name, scale in TIME_UNITS:
        if largest / scale < below:
            return name, scale
    return "s", 1.0


def half_width(low: float, high: float) -> float:
    """Half the width of an interval (NaN when it has no bounds)."""
    if math.isnan(low) or math.isnan(high):
        return math.nan
    return (high - low) / 2


def decimals(half: float, mean: float) -> int | None:
    """Decimals that show an interval of half-width ``half`` around ``mean``: down to the
    half-width's first significant digit (its second when the first is a 1); None when there
    is no interval to speak of (NaN, or zero width)."""
    if math.isnan(half) or half <= 1e-12 * max(1.0, abs(mean)):
        return None
    exponent = math.floor(math.log10(half))
    digits = 2 if half / 10**exponent < 2 else 1
    return max(0, digits - 1 - exponent)


def plain(x: float) -> str:
    """A number without an interval: three significant digits (whole numbers from 1,000),
    ``–`` for no value."""
    if math.isnan(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{_zero(float(f'{x:.3g}')):g}"


def _zero(x: float) -> float:
    return 0.0 if x == 0 else x


def _fixed(x: float, places: int) -> str:
    return f"{_zero(round(x, places)):.{places}f}"


def compact(mean: float, low: float, high: float, scale: float = 1.0) -> str:
    """``mean±half-width`` of a 95% interval, times ``scale``; the mean alone (three
    significant digits) when there is no interval; ``–`` for no value."""
    if math.isnan(mean):
        return "–"
    mean, half = mean * scale, half_width(low, high) * scale
    places = decimals(half, mean)
    if places is None:
        return plain(mean)
    return f"{_fixed(mean, places)}±{half:.{places}f}"


def spread(mean: float, low: float, high: float, scale: float = 1.0, unit: str = "") -> str:
    """``mean (low–high)`` of a 95% interval, times ``scale``, each number followed by
    ``unit`` (a unit of letters set off by a space: ``860 ms (770–950 ms)``);
    the mean alone when there is no interval; ``–`` for no value."""
    if math.isnan(mean):
        return "–"
    mean, low, high = mean * scale, low * scale, high * scale
    places = decimals(half_width(low, high), mean)
    last = unit if unit in ("", "%") else f" {unit}"
    if places is None:
        return f"{plain(mean)}{last}"
    return f"{_fixed(mean, places)}{last} ({_fixed(low, places)}–{_fixed(high, places)}{last})"


def seconds(mean: float, low: float, high: float) -> str:
    """A time and its interval in the unit that suits the mean (``860 ms (770–950 ms)``)."""
    name, scale = time_unit([mean], below=1000)
    return spread(mean, low, high, 1.0 / scale, name)
