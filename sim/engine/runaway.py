"""The error of a run that cannot end, raised by the clock; a module of its own because the
clock is compiled by mypyc, which cannot compile a subclass of RuntimeError."""


class Runaway(RuntimeError):
    """A run that cannot end: simulated time stopped advancing."""
