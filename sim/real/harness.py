"""What every broker's harness does alike: the broker's crash windows, the tasks of a run and
its end, once nothing is pending or at ``duration + drain``.

A broker's harness (:mod:`sim.real.nats_harness`, :mod:`sim.real.redis_harness`) supplies
the publish coroutine, one consumer-instance coroutine, and the two questions about the broker
side: is anything still pending, and what is left for each group at the end.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sim.real.injection import Draws, InstanceDraws, LinkFaults
from sim.real.producing import Producers, Send
from sim.real.record import GroupWatch, Watch
from sim.real.servers import Server
from sim.registry.semantics import SEMANTICS

TICK = 0.1
"""Seconds between two looks at whether the run is over."""
PAUSE = 0.05
"""Seconds a down instance waits before it looks again whether it may come back."""


class Crashed(Exception):
    """The consumer instance crashes now (it goes down for ``until`` - now)."""

    def __init__(self, until: float):
        super().__init__(until)
        self.until = until


@dataclass
class Consumer:
    """One consumer instance's side of a run: its group, its draws, its links, its windows."""

    g: int
    index: int
    name: str
    """The group's name."""
    group: GroupWatch
    draws: InstanceDraws
    deliver: LinkFaults
    consume_ack: LinkFaults
    windows: list[tuple[float, float]]
    """(start, end) of the crash windows that take this instance down."""
    down_until: float = 0.0


class RunFailed(RuntimeError):
    """A real run saw something the harness cannot account for, so its figures would be
    wrong: the run is refused instead of reported."""


class Harness:
    """One real run of a scenario on a running server (subclassed per broker)."""

    def __init__(self, watch: Watch, draws: Draws, server: Server):
        self.watch = watch
        self.draws = draws
        self.server = server
        self.scenario = watch.scenario
        self.semantics = SEMANTICS[self.scenario.delivery.semantics]
        self.broker_up = True
        self.stopping = False
        self.sent: list[set[str]] = [set() for _ in self.scenario.consumers]
        """Per group, the broker's ids of the copies delivered to it (stream sequences, entry
        ids): one delivered again is a redelivery. Counted here rather than by the broker,
        whose delivery count a restart after a SIGKILL can reset (see docs/calibration.md)."""

    async def setup(self) -> Send:
        """Prepare the broker side; returns the producers' publish coroutine."""
        raise NotImplementedError

    def instances(self) -> list[Coroutine[Any, Any, None]]:
        """One coroutine per consumer instance, running until :attr:`stopping`."""
        return [
            self.lifecycle(c, functools.partial(self.session, c))
            for c in (
                self.consumer(g, i)
                for g, group in enumerate(self.scenario.consumers)
                for i in range(group.instances)
            )
        ]

    async def session(self, c: Consumer) -> None:
        """One connection of instance ``c``: consume until :attr:`stopping`, or raise
        :class:`Crashed` (or a :meth:`connection_lost` error)."""
        raise NotImplementedError

    async def settled(self) -> bool:
        """Whether the broker holds nothing any group still has to process."""
        raise NotImplementedError

    async def finish(self) -> None:
        """Mark the groups the broker still held copies for (``GroupWatch.unfinished``)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the harness's own connections."""

    async def restarted(self) -> None:
        """The broker is back after a crash window (recreate what it lost, if anything)."""

    def connection_lost(self) -> tuple[type[BaseException], ...]:
        """What a client raises when the broker went away under it (the instance connects
        again)."""
        return (OSError, asyncio.TimeoutError)

    # --- consumer instances ------------------------------------------------------------------

    def consumer(self, g: int, index: int) -> Consumer:
        """Instance ``index`` of the ``g``-th group, with its draws, links and windows."""
        c = self.scenario.consumers[g]
        return Consumer(
            g,
            index,
            c.name,
            self.watch.groups[g],
            self.draws.instance(g, index),
            self.draws.link("deliver", c.name),
            self.draws.link("consume_ack", c.name),
            self.draws.instance_crashes(c.name, index),
        )

    def received(self, c: Consumer, m: int, copy: str) -> None:
        """The broker delivered copy ``copy`` of message ``m`` to ``c``."""
        self.watch.stored(m, copy)
        if copy in self.sent[c.g]:
            c.group.redeliveries += 1
        self.sent[c.g].add(copy)

    def check_window(self, c: Consumer) -> None:
        """Raise :class:`Crashed` when a crash window of ``c`` is open now."""
        until = self.down(c.windows, 0.0)
        if until > self.watch.now():
            raise Crashed(until)

    async def process(self, c: Consumer, m: int) -> bool:
        """The instance's work on a copy of ``m`` it received: a crash before the effect,
        the service time, the effect (skipped when the processed-id store has it), a crash
        after it. Returns False when processing failed with an error (a poison message:
        nothing applied, the copy is to be given back unacked). Raises :class:`Crashed`."""
        watch = self.watch
        if c.draws.crashes_before():
            raise Crashed(watch.now() + c.draws.restart_time())
        await asyncio.sleep(c.draws.service_time())
        if m in watch.poisoned:
            return False
        after = c.draws.crashes_after()
        dedup = self.semantics.consumer_dedup
        if not c.group.store.apply(
            m, watch.now(), dedup, self.scenario.delivery.atomic_dedup, after
        ):
            c.group.deduplicated += 1
        if after:
            raise Crashed(watch.now() + c.draws.restart_time())
        return True

    async def lifecycle(self, c: Consumer, session: Callable[[], Awaitable[None]]) -> None:
        """Run ``session`` (connect, consume, close) while ``c`` is up: after a crash it
        stays down until its restart time or window is over, then connects again."""
        while not self.stopping:
            c.down_until = self.down(c.windows, c.down_until)
            if self.watch.now() < c.down_until or not self.broker_up:
                await asyncio.sleep(PAUSE)
                continue
            try:
                await session()
            except Crashed as crash:
                c.group.crashes += 1
                c.down_until = crash.until
            except self.connection_lost():  # the broker went down under it: connect again
                await asyncio.sleep(PAUSE)

    def down(self, windows: list[tuple[float, float]], until: float) -> float:
        """When an instance whose crash windows are ``windows`` may come back up: ``until``,
        or the end of a window it is in now."""
        now = self.watch.now()
        return max([until, *(end for start, end in windows if start <= now < end)])

    async def _crashes(self) -> None:
        for start, end in self.draws.broker_crashes():
            await asyncio.sleep(max(0.0, start - self.watch.now()))
            self.broker_up = False
            await asyncio.to_thread(self.server.kill)
            self.watch.broker_crashes += 1
            await asyncio.sleep(max(0.0, end - self.watch.now()))
            await asyncio.to_thread(self.server.start)
            await self.restarted()
            self.broker_up = True

    async def run(self) -> None:
        """The whole run: set up, produce, consume, end early once nothing is pending."""
        s = self.scenario
        try:
            send = await self.setup()
            self.watch.started = time.monotonic()  # the run starts once the broker is set up
            producing = asyncio.create_task(Producers(self.watch, self.draws, send).run())
            tasks = [
                producing,
                asyncio.create_task(self._crashes()),
                *(asyncio.create_task(c) for c in self.instances()),
            ]
            try:
                while self.watch.now() < s.duration + s.drain:
                    await asyncio.sleep(TICK)
                    for task in tasks:
                        failure = task.exception() if task.done() else None
                        if failure is not None:
                            raise failure
                    quiet = producing.done() and not self.watch.retrying and self.broker_up
                    if quiet and self.watch.now() >= s.duration and await self.settled():
                        break
                await self.finish()
            finally:
                self.stopping = True
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.close()
