"""What every broker's harness does alike: the broker's crash windows, the tasks of a run and
its end, once nothing is pending or at ``duration + drain``.

A broker's harness (:mod:`sim.real.nats_harness`, :mod:`sim.real.redis_harness`) supplies
the publish coroutine, one consumer-instance coroutine, and the two questions about the broker
side: is anything still pending, and what is left for each group at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from sim.real.injection import Draws
from sim.real.producing import Producers, Send
from sim.real.record import Watch
from sim.real.servers import Server
from sim.registry.semantics import SEMANTICS

TICK = 0.1
"""Seconds between two looks at whether the run is over."""


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

    async def setup(self) -> Send:
        """Prepare the broker side; returns the producers' publish coroutine."""
        raise NotImplementedError

    def instances(self) -> list[Coroutine[Any, Any, None]]:
        """One coroutine per consumer instance, running until :attr:`stopping`."""
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
