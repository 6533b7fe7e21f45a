"""The engine: the system of SPEC section 1 in SimPy, one replication at a time.

Components are named after the model (producer, broker, link, consumer, patterns); the ledger
counts what happened to every message and :mod:`sim.engine.simulation` turns it into figures.
"""


def build() -> str:
    """Which engine runs here: ``mypyc`` when the hot modules are compiled (what ``pip install
    .`` builds), ``python`` when they run as source (``DSIM_PURE=1``, an editable install, a
    source tree); benchmarks and ``meta.json`` name it, since speed depends on it."""
    from sim.engine import broker

    return "python" if broker.__file__.endswith(".py") else "mypyc"
