"""Random streams: one independent, seeded stream per random source.

Every source of randomness in a run (the arrivals of each producer, each link, each consumer
instance, each fault) draws from its own numpy generator, derived from the replication seed and
the source's *name*. Two runs that differ only in semantics therefore see the same arrivals and
the same fault windows (common random numbers), and adding a consumer group does not shift the
draws of any other source. Draws are produced in chunks, which costs about as much per draw as
the stdlib ``random`` module and keeps each stream deterministic.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from sim.scenario.schema import Constant, Distribution, Exponential, LogNormal, Normal, Uniform

CHUNK = 1024
Sampler = Callable[[], float]
"""A zero-argument function returning the next draw."""


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Independent 63-bit seeds (they fit a signed 64-bit column) for replications 0..n-1.

    Replication ``r`` gets the same seed whatever the number of replications, so adding
    replications extends a study instead of changing it.
    """
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(child.generate_state(1, np.uint64)[0] >> 1) for child in children]


def generator(seed: int, source: str) -> np.random.Generator:
    """The generator of one named random source within a replication."""
    key = zlib.crc32(source.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(key,)))


def _chunks(fill: Callable[[int], np.ndarray]) -> Iterator[float]:
    while True:
        yield from fill(CHUNK).tolist()


def uniform(rng: np.random.Generator) -> Sampler:
    """Draws in [0, 1), for per-message probabilities (loss, duplication, crashes)."""
    return _chunks(rng.random).__next__


def sampler(dist: Distribution, rng: np.random.Generator) -> Sampler:
    """A sampler of a duration distribution (simulated seconds, never negative)."""
    match dist:
        case Constant(value=v):
            return itertools.repeat(float(v)).__next__
        case Exponential(mean=m):
            return _chunks(lambda n: rng.exponential(m, n)).__next__
        case Uniform(low=lo, high=hi):
            if lo == hi:
                return itertools.repeat(float(lo)).__next__
            return _chunks(lambda n: rng.uniform(lo, hi, n)).__next__
        case LogNormal(median=med, sigma=s):
            return _chunks(lambda n: rng.lognormal(math.log(med), s, n)).__next__
        case Normal(mean=mu, sd=sd):
            if sd == 0:
                return itertools.repeat(float(mu)).__next__

            def truncated(n: int) -> np.ndarray:
                # mean >= 0, so at least half of the draws are kept
                x = rng.normal(mu, sd, 2 * n + 8)
                return x[x >= 0.0]

            return _chunks(truncated).__next__
    raise TypeError(f"not a distribution: {dist!r}")


def exponential_unit(rng: np.random.Generator) -> Sampler:
    """Draws of Exp(1); scaled by the caller, so a changing rate keeps one stream."""
    return _chunks(rng.standard_exponential).__next__
