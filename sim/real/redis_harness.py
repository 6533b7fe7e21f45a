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
from typing import Any

from sim.real.harness import Consumer, Harness
from sim.real.injection import Draws
from sim.real.producing import Reply, Send
from sim.real.record import Watch
from sim.real.servers import Server

LOG = "dsim:log"
POLL_MS = 100
"""Milliseconds an ``XREAD BLOCK`` waits before the instance looks at its fault windows."""


def _offset_key(group: str) -> str:
    return f"dsim:offset:{group}"


def entry_order(entry: str) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) as a pair that sorts as the log does."""
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


def connect(url: str, timeout: float | None = None) -> Any:
    """An asyncio Redis client (``timeout``: seconds a reply may take)."""
    import redis.asyncio as redis

    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=1.0
    )


class RedisHarness(Harness):
    """What both Redis harnesses share: the log, the producers' ``XADD``, the clients."""

    def __init__(self, watch: Watch, draws: Draws, server: Server):
        super().__init__(watch, draws, server)
        self.admin: Any = None
        self.producer: Any = None

    def _sender(self) -> tuple[Send, Any]:
        client = connect(self.server.url, self.scenario.delivery.ack_timeout)

        async def send(m: int, attempt: int, timeout: float) -> Reply | None:
            if not self.broker_up:
                return None
            try:
                entry = await client.xadd(LOG, {"m": str(m), "attempt": str(attempt)})
            except Exception:  # a broker that is down, a reply that did not come in time
                return None
            return str(entry), False

        return send, client

    def connection_lost(self) -> tuple[type[BaseException], ...]:
        """A client error of redis-py, besides the socket's own."""
        import redis.exceptions

        return (*super().connection_lost(), redis.exceptions.RedisError)

    async def last_entry(self) -> tuple[int, int] | None:
        """The log's last entry ((0, 0) when empty; None when the broker does not answer)."""
        try:
            last = await self.admin.xrevrange(LOG, count=1)
        except Exception:
            return None
        return entry_order(last[0][0]) if last else (0, 0)

    async def setup(self) -> Send:
        """Connect; the producers' publish (the stream is created by its first append)."""
        self.admin = connect(self.server.url, 1.0)
        send, self.producer = self._sender()
        return send

    async def close(self) -> None:
        """Close the admin and producer clients."""
        for client in (self.admin, self.producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()


class RedisRun(RedisHarness):
    """One real run of a streaming scenario on a Redis server."""

    def __init__(self, watch: Watch, draws: Draws, server: Server):
        super().__init__(watch, draws, server)
        self.done_upto = [(0, 0)] * len(self.scenario.consumers)
        """Per group, the last entry its instance finished (applied or skipped)."""

    async def session(self, c: Consumer) -> None:
        """One connection of a group's reader: from the last commit, read, process, commit,
        until it crashes."""
        early = self.semantics.ack_before_process
        watch = self.watch
        key = _offset_key(c.name)
        client = connect(self.server.url)
        try:
            position = await client.get(key) or "0-0"
            while not self.stopping:
                self.check_window(c)
                reply = await client.xread(
                    {LOG: position}, count=self.scenario.broker.prefetch, block=POLL_MS
                )
                records = [(e, f) for _, entries in reply or [] for e, f in entries]
                for entry, fields in records:
                    self.received(c, int(fields["m"]), entry)
                if records and c.deliver.drops(watch.now()):
                    # the fetch answer is lost: noticed ack_timeout later, and the fetch
                    # repeated from the same position (as the model's streaming reader)
                    await asyncio.sleep(self.scenario.delivery.ack_timeout)
                    continue
                for entry, fields in records:
                    position = entry
                    if early and not c.consume_ack.drops(watch.now()):
                        await client.set(key, entry)
                    await self.process(c, int(fields["m"]))
                    self.done_upto[c.g] = max(self.done_upto[c.g], entry_order(entry))
                    if not early and not c.consume_ack.drops(watch.now()):
                        await client.set(key, entry)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def settled(self) -> bool:
        """Every group has finished the log's last entry."""
        last = await self.last_entry()
        return last is not None and all(d >= last for d in self.done_upto)

    async def finish(self) -> None:
        """A group that has not finished the log's last entry is unfinished."""
        last = await self.last_entry()
        for g, group in enumerate(self.watch.groups):
            group.unfinished = last is None or self.done_upto[g] < last
