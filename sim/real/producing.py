"""Producers of a real run: the scenario's arrivals and each semantics' retry loop, in real
time, against any broker.

The arrival times are the simulator's (:func:`sim.engine.producer.arrival_times` on the
producer's own stream), so is the backoff (:func:`sim.engine.producer.backoff_delay`), and
so are the poison messages (one draw of ``producer:<i>:poison`` per message it creates).
At-most-once sends once; the other semantics resend ``ack_timeout`` after an attempt that got
no ack (a lost publish, a lost ack, a broker that was down), after the backoff, until
``max_attempts``. The broker-specific part is one coroutine, :data:`Send`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sim.engine.producer import arrival_times, backoff_delay
from sim.engine.streams import Sampler
from sim.real.injection import Draws, LinkFaults
from sim.real.record import Watch
from sim.registry.semantics import SEMANTICS

Reply = tuple[str, bool]
"""A broker's publish ack: the stored copy's id, and whether it was a duplicate it dropped."""
Send = Callable[[int, int, float], Awaitable[Reply | None]]
"""Publish attempt ``attempt`` of a message within ``timeout`` seconds: its reply, or None."""


@dataclass
class Producers:
    """Every producer of the scenario, sending through ``send``."""

    watch: Watch
    draws: Draws
    send: Send

    async def run(self) -> None:
        """Create every message at its arrival time and see each one through its retry loop;
        returns when every producer has handed over its last message and settled it."""
        scenario = self.watch.scenario
        tasks: list[asyncio.Task[None]] = []
        producers = scenario.workload.producers
        for i in range(producers):
            tasks.append(asyncio.create_task(self._producer(i, tasks)))
        while tasks:
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            await asyncio.wait(pending)
        for t in tasks:
            t.result()  # a failure inside a producer is a failure of the run

    async def _producer(self, index: int, tasks: list[asyncio.Task[None]]) -> None:
        scenario = self.watch.scenario
        times = arrival_times(
            scenario.workload,
            scenario.duration,
            self.draws.interarrival(index),
            phase=index / scenario.workload.producers,
        )
        jitter = self.draws.jitter(index)
        poison = self.draws.poison(index)
        share = scenario.workload.poison
        publish = self.draws.link("publish")
        acks = self.draws.link("publish_ack")
        for t in times:
            delay = t - self.watch.now()
            if delay > 0:
                await asyncio.sleep(delay)
            m = self.watch.new_message()
            if poison is not None and poison() < share:
                self.watch.poisoned.add(m)
            tasks.append(asyncio.create_task(self._message(m, jitter, publish, acks)))

    async def _message(
        self, m: int, jitter: Sampler, publish: LinkFaults, acks: LinkFaults
    ) -> None:
        watch = self.watch
        delivery = watch.scenario.delivery
        retries = SEMANTICS[delivery.semantics].producer_retries
        if retries:
            watch.retrying.add(m)
        attempt = 0
        while True:
            attempt += 1
            watch.attempts += 1
            sent = watch.now()
            if not publish.drops(sent):
                reply = await self.send(m, attempt, delivery.ack_timeout)
                if reply is not None:
                    copy, duplicate = reply
                    if duplicate:
                        watch.broker_deduplicated += 1
                    watch.stored(m, copy)
                    if not acks.drops(watch.now()) and retries:
                        watch.acked(m)
                        watch.retrying.discard(m)
                        return
            if not retries:
                return
            wait = sent + delivery.ack_timeout - watch.now()
            if wait > 0:
                await asyncio.sleep(wait)
            if delivery.max_attempts and attempt >= delivery.max_attempts:
                watch.retrying.discard(m)  # given up
                return
            pause = backoff_delay(delivery.backoff, attempt, jitter)
            if pause > 0:
                await asyncio.sleep(pause)
