"""The streaming pattern on a real Redis: a Redis stream is the log.

Producers append with ``XADD`` (its reply, the entry id, is the publish ack). Each consumer
group reads with long polls (``XREAD BLOCK``, up to ``prefetch`` records) from its position (a
fetch answer lost on the ``deliver`` link is read again from there ``ack_timeout`` later) and
commits the offset of each record it finished into a Redis key of its own, over the
``consume_ack`` link (a lost commit is never sent); at-most-once commits on receipt, before
processing. A crashed instance closes its connection and, after the restart time, resumes from
the last committed offset: what it read since is read again. Redis has no idempotent append,
so exactly-once (broker dedup) is refused before a Redis run starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from sim.real.harness import Harness
from sim.real.injection import Draws
from sim.real.producing import Reply, Send
from sim.real.record import Watch
from sim.real.servers import Server

LOG = "dsim:log"
POLL_MS = 100
"""Milliseconds an ``XREAD BLOCK`` waits before the instance looks at its fault windows."""


def _offset_key(group: str) -> str:
    return f"dsim:offset:{group}"


def _order(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


def _client(url: str, timeout: float | None = None) -> Any:
    import redis.asyncio as redis

    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=1.0
    )


class RedisRun(Harness):
    """One real run of a streaming scenario on a Redis server."""

    def __init__(self, watch: Watch, draws: Draws, server: Server):
        super().__init__(watch, draws, server)
        self.admin: Any = None
        self.producer: Any = None
        self.done_upto = [(0, 0)] * len(self.scenario.consumers)
        """Per group, the last entry its instance finished (applied or skipped)."""
        self.read_upto = [(0, 0)] * len(self.scenario.consumers)
        """Per group, the furthest entry it ever read: reading one before it again is a
        redelivery (a replay after a rewind)."""

    def _sender(self) -> tuple[Send, Any]:
        client = _client(self.server.url, self.scenario.delivery.ack_timeout)

        async def send(m: int, attempt: int, timeout: float) -> Reply | None:
            if not self.broker_up:
                return None
            try:
                entry = await client.xadd(LOG, {"m": str(m), "attempt": str(attempt)})
            except Exception:  # a broker that is down, a reply that did not come in time
                return None
            return str(entry), False

        return send, client

    async def _instance(self, g: int) -> None:
        c = self.scenario.consumers[g]
        group = self.watch.groups[g]
        draws = self.draws.instance(g, 0)
        deliver = self.draws.link("deliver", c.name)
        commit_link = self.draws.link("consume_ack", c.name)
        windows = self.draws.instance_crashes(c.name, 0)
        watch = self.watch
        dedup = self.semantics.consumer_dedup
        early = self.semantics.ack_before_process
        atomic = self.scenario.delivery.atomic_dedup
        key = _offset_key(c.name)
        down_until = 0.0
        while not self.stopping:
            down_until = self.down(windows, down_until)
            if watch.now() < down_until or not self.broker_up:
                await asyncio.sleep(0.05)
                continue
            client = _client(self.server.url)
            try:
                position = await client.get(key) or "0-0"
                while not self.stopping:
                    if self.down(windows, 0.0) > watch.now():
                        group.crashes += 1
                        down_until = self.down(windows, 0.0)
                        break
                    reply = await client.xread(
                        {LOG: position}, count=self.scenario.broker.prefetch, block=POLL_MS
                    )
                    records = [(e, f) for _, entries in reply or [] for e, f in entries]
                    for entry, fields in records:
                        watch.stored(int(fields["m"]), entry)
                        order = _order(entry)
                        if order <= self.read_upto[g]:
                            group.redeliveries += 1  # read again after a rewind or a loss
                        else:
                            self.read_upto[g] = order
                    if records and deliver.drops(watch.now()):
                        # the fetch answer is lost: noticed ack_timeout later, and the fetch
                        # repeated from the same position (as the model's streaming reader)
                        await asyncio.sleep(self.scenario.delivery.ack_timeout)
                        continue
                    crashed = False
                    for entry, fields in records:
                        m = int(fields["m"])
                        order = _order(entry)
                        position = entry
                        if early and not commit_link.drops(watch.now()):
                            await client.set(key, entry)
                        if draws.crashes_before():
                            crashed = True
                            break
                        await asyncio.sleep(draws.service_time())
                        after = draws.crashes_after()
                        if not group.store.apply(m, watch.now(), dedup, atomic, after):
                            group.deduplicated += 1
                        if after:
                            crashed = True
                            break
                        self.done_upto[g] = max(self.done_upto[g], order)
                        if not early and not commit_link.drops(watch.now()):
                            await client.set(key, entry)
                    if crashed:
                        group.crashes += 1
                        down_until = watch.now() + draws.restart_time()
                        break
            except Exception:  # the broker went down under the instance: connect again
                await asyncio.sleep(0.05)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _last_entry(self, client: Any) -> tuple[int, int] | None:
        try:
            last = await client.xrevrange(LOG, count=1)
        except Exception:
            return None
        return _order(last[0][0]) if last else (0, 0)

    async def setup(self) -> Send:
        """Connect; the producers' publish (the stream is created by its first append)."""
        self.admin = _client(self.server.url, 1.0)
        send, self.producer = self._sender()
        return send

    def instances(self) -> list[Coroutine[Any, Any, None]]:
        """One instance per group (a Redis stream is one partition)."""
        return [self._instance(g) for g in range(len(self.scenario.consumers))]

    async def settled(self) -> bool:
        """Every group has finished the log's last entry."""
        last = await self._last_entry(self.admin)
        return last is not None and all(d >= last for d in self.done_upto)

    async def finish(self) -> None:
        """A group that has not finished the log's last entry is unfinished."""
        last = await self._last_entry(self.admin)
        for g, group in enumerate(self.watch.groups):
            group.unfinished = last is None or self.done_upto[g] < last

    async def close(self) -> None:
        """Close the admin and producer clients."""
        for client in (self.admin, self.producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
