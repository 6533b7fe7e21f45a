"""Build: the pure-Python package, or with ``DSIM_COMPILE=1`` the engine's hot modules compiled
by mypyc as well (measured at about 1.6x the throughput of the pure-Python engine).

Compiling is opt-in and never required: without the variable, without mypyc (it comes with
mypy: ``pip install mypy`` and build with ``--no-build-isolation``) or without a C compiler,
the same modules run as plain Python with the same results. Do not combine it with an editable
install: the compiled modules would shadow the sources being edited. Compiled modules keep
no docstrings at run time and their objects no ``__dict__`` (docs/performance.md).
"""

from __future__ import annotations

import os

from setuptools import setup

HOT = [
    "sim/engine/architectures.py",
    "sim/engine/broker.py",
    "sim/engine/consumer.py",
    "sim/engine/faults.py",
    "sim/engine/ledger.py",
    "sim/engine/network.py",
    "sim/engine/patterns/pubsub.py",
    "sim/engine/patterns/storage.py",
    "sim/engine/patterns/streaming.py",
    "sim/engine/producer.py",
]
"""The modules every simulated message passes through (see docs/performance.md), and those
whose classes derive from theirs (an interpreted class cannot derive from a compiled one)."""


def compiled() -> list:
    """The mypyc extensions, each optional: one that fails to build leaves its module in
    Python."""
    if os.environ.get("DSIM_COMPILE") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("DSIM_COMPILE=1 but mypyc is not installed: building the pure-Python package")
        return []
    extensions = mypycify(HOT, opt_level="3")
    for extension in extensions:
        extension.optional = True
    return extensions


setup(ext_modules=compiled())
