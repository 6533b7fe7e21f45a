"""Build: the engine's hot modules compiled by mypyc (about 1.6x the throughput of the same
modules run as Python), with the pure-Python package as the fallback.

``pip install .`` compiles (mypy, which brings mypyc, is a build requirement; it takes a few
minutes on two cores). The same modules run as plain Python, with the same results, when:

* ``DSIM_PURE=1`` is set (a quick install, or a machine without a C compiler);
* the install is editable (``pip install -e .``): compiled modules would shadow the sources
  being edited;
* mypyc is missing (``--no-build-isolation`` without mypy installed), or compiling fails: the
  build says so and goes on in Python.

Compiled modules keep no docstrings at run time and their objects no ``__dict__``
(docs/performance.md); ``python -c 'import sim.engine; print(sim.engine.build())'`` tells
which build is installed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

from setuptools import setup

HOT = [
    "sim/engine/architectures.py",
    "sim/engine/broker.py",
    "sim/engine/clock.py",
    "sim/engine/codes.py",
    "sim/engine/consumer.py",
    "sim/engine/faults.py",
    "sim/engine/ledger.py",
    "sim/engine/network.py",
    "sim/engine/patterns/pubsub.py",
    "sim/engine/patterns/storage.py",
    "sim/engine/patterns/streaming.py",
    "sim/engine/producer.py",
    "sim/engine/streams.py",
]
"""The modules every simulated message passes through (docs/performance.md): the clock's run
loop, the random streams, the components; and those whose classes derive from theirs (an
interpreted class cannot derive from a compiled one)."""


BUILDING = {"bdist_wheel", "build", "build_ext", "install"}
"""The commands that build modules; the others need nothing compiled: pip's metadata steps,
and an editable install (``editable_wheel``), whose sources must stay what runs."""

BUILD = tempfile.mkdtemp(prefix="delivery-sim-build-")
"""A fresh build directory each time, removed at the end: setuptools packs whatever its build/
holds, so a module an earlier build compiled, and this one no longer does, would ship beside its
source."""
atexit.register(shutil.rmtree, BUILD, ignore_errors=True)


def pure(reason: str) -> list:
    print(f"delivery-sim: building the pure-Python engine ({reason})", file=sys.stderr)
    return []


def compiled() -> list:
    """The mypyc extensions, each optional: one whose C fails to build leaves its module in
    Python."""
    if not BUILDING & set(sys.argv):
        return []
    if os.environ.get("DSIM_PURE") == "1":
        return pure("DSIM_PURE=1")
    try:
        from mypyc.build import mypycify
    except ImportError:
        return pure("mypyc is not installed: pip install mypy, or build with isolation")
    try:
        # The build environment holds mypy alone: the types of numpy, pandas, pydantic and
        # simpy are unknown there (Any), which changes nothing the engine's hot paths use.
        extensions = mypycify(
            ["--ignore-missing-imports", *HOT], opt_level="3", target_dir=f"{BUILD}/mypyc"
        )
    except (Exception, SystemExit) as exc:  # mypy's errors end in SystemExit
        return pure(f"mypyc could not compile the engine: {exc}")
    for extension in extensions:
        extension.optional = True
    return extensions


setup(ext_modules=compiled(), options={"build": {"build_base": BUILD}})
