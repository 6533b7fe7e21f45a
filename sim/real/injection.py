"""The faults of a real run, drawn where the simulator draws them.

Every per-message fault comes from the same named, seeded stream as in the simulator
(:func:`sim.engine.streams.generator`: ``link:publish:loss``, ``consumer:<group>:<i>:crash``
...), and the fault windows are the ones the simulator's own
:class:`~sim.engine.faults.FaultInjector` opens for that seed, computed ahead on a clock of
their own. The harness only decides *when* to consult a draw: a lost publish is never sent, a
lost publish ack is discarded on receipt, a lost delivery is dropped on receipt, a lost consume
ack is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.engine.clock import Clock
from sim.engine.faults import FaultInjector, FaultWindow
from sim.engine.streams import Sampler, exponential_unit, generator, sampler, uniform
from sim.scenario.schema import Scenario

LINKS = ("publish", "publish_ack", "deliver", "consume_ack")
"""The four links of SPEC section 1."""


def fault_windows(scenario: Scenario, seed: int) -> list[FaultWindow]:
    """Every fault window the simulator opens in replication ``seed`` of ``scenario``
    (scheduled ones, random ones from each fault's stream, random consumer crashes)."""
    clock = Clock()
    horizon = scenario.duration + scenario.drain
    injector = FaultInjector(clock, horizon)

    def nothing(_: float) -> None:
        return None

    injector.inject_scenario(scenario, seed, lambda _: nothing, lambda _g, _i: nothing)
    clock.run(until=horizon)
    return sorted(injector.windows, key=lambda w: w.start)


@dataclass
class LinkFaults:
    """Loss and partitions of one link, as the simulator's :class:`~sim.engine.network.Link`
    decides them: partitioned drops without a draw, otherwise one draw per copy."""

    name: str
    loss: float
    draw: Sampler
    partitions: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of the windows that partition this link, seconds from the run's start."""

    def drops(self, now: float) -> bool:
        """Whether the copy the link carries at ``now`` is lost."""
        if any(start <= now < end for start, end in self.partitions):
            return True
        return bool(self.loss) and self.draw() < self.loss


@dataclass
class InstanceDraws:
    """The draws of one consumer instance (``consumer:<group>:<i>``)."""

    service_time: Sampler
    crash: Sampler
    restart_time: Sampler
    crash_before: float
    crash_after: float

    def crashes_before(self) -> bool:
        """Crash on receipt, before the effect (one draw when the probability is set)."""
        return bool(self.crash_before) and self.crash() < self.crash_before

    def crashes_after(self) -> bool:
        """Crash after the effect, before the ack."""
        return bool(self.crash_after) and self.crash() < self.crash_after


class Draws:
    """Every seeded stream a real run consults, named as in the simulator."""

    def __init__(self, scenario: Scenario, seed: int):
        self.scenario = scenario
        self.seed = seed
        self.windows = fault_windows(scenario, seed)

    def _rng_uniform(self, source: str) -> Sampler:
        return uniform(generator(self.seed, source))

    def link(self, name: str, group: str | None = None) -> LinkFaults:
        """The link ``name`` (a consumer group's own ``deliver`` / ``consume_ack`` link when
        ``group`` is given)."""
        settings = self.scenario.network.link(name)
        source = name if group is None else f"{name}:{group}"
        windows = [
            (w.start, w.end)
            for w in self.windows
            if w.kind == "partition" and w.target == f"link:{name}"
        ]
        return LinkFaults(name, settings.loss, self._rng_uniform(f"link:{source}:loss"), windows)

    def interarrival(self, producer: int) -> Sampler:
        """Exp(1) draws of a producer's Poisson arrivals."""
        return exponential_unit(generator(self.seed, f"producer:{producer}:arrivals"))

    def jitter(self, producer: int) -> Sampler:
        """A producer's backoff jitter."""
        return self._rng_uniform(f"producer:{producer}:backoff")

    def poison(self, producer: int) -> Sampler | None:
        """Whether each of a producer's messages is poison: one draw per message, in the order
        it creates them (None when ``workload.poison`` is 0, which draws nothing)."""
        if not self.scenario.workload.poison:
            return None
        return self._rng_uniform(f"producer:{producer}:poison")

    def instance(self, group: int, index: int) -> InstanceDraws:
        """The draws of consumer instance ``index`` of the ``group``-th consumer group."""
        c = self.scenario.consumers[group]
        name = f"consumer:{c.name}:{index}"
        return InstanceDraws(
            sampler(c.service_time, generator(self.seed, f"{name}:service")),
            self._rng_uniform(f"{name}:crash"),
            sampler(c.restart_time, generator(self.seed, f"{name}:restart")),
            c.crash_before_process,
            c.crash_after_process,
        )

    def broker_crashes(self) -> list[tuple[float, float]]:
        """(start, end) of the broker's crash windows."""
        return [(w.start, w.end) for w in self.windows if w.target == "broker"]

    def instance_crashes(self, group: str, index: int) -> list[tuple[float, float]]:
        """(start, end) of the windows that take instance ``index`` of ``group`` down."""
        mine = (f"consumer:{group}", f"consumer:{group}:{index}")
        return [(w.start, w.end) for w in self.windows if w.kind == "crash" and w.target in mine]
