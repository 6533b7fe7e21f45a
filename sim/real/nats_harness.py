"""The pub/sub pattern on a real NATS JetStream.

One stream stores the messages: file storage for ``durable``, memory storage for ``memory``;
exactly-once publishes carry the message id as ``Nats-Msg-Id`` and the stream's duplicate
window is ``dedup_window``. Each consumer group is a durable pull consumer with explicit acks
(no acks under at-most-once, which acks on receipt), AckWait = the ack deadline and
MaxAckPending = ``prefetch`` and MaxDeliver = ``max_deliveries`` (NATS counts every delivery,
acked or not, as the model counts every push); each instance is a connection of its own that
fetches up to ``prefetch`` messages and processes them one by one. A poison message fails
processing and is given back with a negative ack (``nak``: NATS redelivers it at once). NATS
has no dead-letter queue: with ``dead_letter`` the harness subscribes to the advisory NATS
publishes when a message reaches MaxDeliver, reads the message at the stream sequence it names
and moves it to the group's dead-letter record, as NATS users build one. A crash closes the
instance's connection and opens a new one after the restart time; the broker's crash window is
a SIGKILL of the server and a restart on the same data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
from typing import Any

from sim.real.harness import Consumer, Harness, RunFailed
from sim.real.injection import Draws
from sim.real.producing import Reply, Send
from sim.real.record import GroupWatch, Watch
from sim.real.servers import Server

STREAM = "DSIM"
SUBJECT = "dsim.messages"
FOREVER = 24 * 3600.0
"""The duplicate window NATS gets for ``dedup_window = inf`` (a day: longer than any run)."""
POLL = 0.1
"""Seconds a fetch waits for messages before the instance looks at its fault windows again."""
MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
"""The subject NATS publishes an advisory on (``.<stream>.<consumer>``) when a message reaches
a consumer's MaxDeliver."""
ADVISORY_GRACE = 0.25
"""Seconds the end of a run waits for advisories already published to arrive."""


async def _quiet(*_: Any) -> None:
    """The client's callbacks: a broker that goes away is a fault the harness injected."""


async def _connect(url: str) -> Any:
    import nats

    return await nats.connect(
        url,
        error_cb=_quiet,
        disconnected_cb=_quiet,
        reconnected_cb=_quiet,
        closed_cb=_quiet,
        connect_timeout=1,
        reconnect_time_wait=0.05,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
    )


class NatsRun(Harness):
    """One real run of a pub/sub scenario on a NATS server."""

    def __init__(self, watch: Watch, draws: Draws, server: Server):
        super().__init__(watch, draws, server)
        self.admin: Any = None
        self.producer: Any = None
        self.generation = 0
        """How many times the stream was created anew (a memory stream after a restart)."""
        self.moving = 0
        """Dead letters being moved now (advisories received, their message not yet read)."""
        self.unreadable: Exception | None = None
        """An advisory the dead-letter record could not read for another reason than the
        broker's: raised at the run's end (a callback's error would vanish in the client)."""

    # --- the broker side ---------------------------------------------------------------------

    async def ensure(self, js: Any) -> None:
        """The stream and one durable consumer per group (again after a restart: a memory
        stream does not survive it)."""
        from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

        s = self.scenario
        window = s.delivery.dedup_window if math.isfinite(s.delivery.dedup_window) else FOREVER
        storage = StorageType.FILE if s.broker.durability == "durable" else StorageType.MEMORY
        await js.add_stream(
            StreamConfig(name=STREAM, subjects=[SUBJECT], storage=storage, duplicate_window=window)
        )
        for c in s.consumers:
            explicit = not self.semantics.ack_before_process
            await js.add_consumer(
                STREAM,
                ConsumerConfig(
                    durable_name=c.name,
                    ack_policy=AckPolicy.EXPLICIT if explicit else AckPolicy.NONE,
                    ack_wait=s.delivery.redelivery_after if explicit else None,
                    max_ack_pending=s.broker.prefetch if explicit else None,
                    max_deliver=(s.delivery.max_deliveries or -1) if explicit else -1,
                ),
            )

    def copy(self, sequence: int) -> str:
        """The id of the stored copy at stream ``sequence``: a memory stream is created anew
        after a restart and numbers its messages from 1 again, so the id says which one."""
        return f"{self.generation}:{sequence}"

    async def restarted(self) -> None:
        """A memory stream is gone after a restart: create it and the consumers again."""
        if self.scenario.broker.durability == "memory":
            self.generation += 1
        for _ in range(100):
            with contextlib.suppress(Exception):
                await self.ensure(self.admin.jetstream())
                return
            await asyncio.sleep(0.05)

    # --- producers ---------------------------------------------------------------------------

    def _sender(self, nc: Any) -> Send:
        exactly_once = self.semantics.idempotent_publish

        async def send(m: int, attempt: int, timeout: float) -> Reply | None:
            if not self.broker_up or not nc.is_connected:
                return None  # a broker that is down drops every publish
            headers = {"Nats-Msg-Id": str(m)} if exactly_once else None
            try:
                msg = await nc.request(SUBJECT, str(m).encode(), timeout=timeout, headers=headers)
                ack = json.loads(msg.data)
            except Exception:  # no reply in time, no responders, a closed connection
                return None
            if "seq" not in ack:
                return None  # an error reply (the stream is not there yet)
            return self.copy(int(ack["seq"])), bool(ack.get("duplicate", False))

        return send

    # --- consumers ---------------------------------------------------------------------------

    async def session(self, c: Consumer) -> None:
        """One connection of an instance: fetch, process, ack, until it crashes."""
        explicit = not self.semantics.ack_before_process
        watch = self.watch
        nc = await _connect(self.server.url)
        try:
            sub = await nc.jetstream().pull_subscribe_bind(c.name, STREAM)
            while not self.stopping:
                self.check_window(c)
                try:
                    batch = await sub.fetch(self.scenario.broker.prefetch, timeout=POLL)
                except Exception:  # nothing to fetch in time, or the broker is down
                    continue
                for msg in batch:
                    m = int(msg.data)
                    self.received(c, m, self.copy(msg.metadata.sequence.stream))
                    if c.deliver.drops(watch.now()):
                        continue  # dropped on receipt, never acked
                    done = await self.process(c, m)
                    if explicit and not c.consume_ack.drops(watch.now()):
                        with contextlib.suppress(Exception):
                            await (msg.ack() if done else msg.nak())
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    def connection_lost(self) -> tuple[type[BaseException], ...]:
        """A client error of nats-py, besides the socket's own."""
        import nats.errors

        return (*super().connection_lost(), nats.errors.Error)

    # --- the dead-letter record ---------------------------------------------------------------

    async def _dead_letters(self) -> None:
        """Subscribe to each group's MaxDeliver advisory (with ``dead_letter`` and a limit)."""
        s = self.scenario
        if not s.delivery.dead_letter:  # the schema gives a dead-letter queue a limit
            return
        if self.semantics.ack_before_process:
            return  # no acks, no redeliveries: nothing reaches the limit
        for group in self.watch.groups:
            subject = f"{MAX_DELIVERIES}.{STREAM}.{group.name}"
            await self.admin.subscribe(subject, cb=functools.partial(self._move, group))

    async def _move(self, group: GroupWatch, advisory: Any) -> None:
        """A message reached the group's MaxDeliver: read it at the stream sequence the
        advisory names and move it to the group's dead-letter record."""
        self.moving += 1
        try:
            sequence = int(json.loads(advisory.data)["stream_seq"])
            stored = await self.admin.jetstream().get_msg(STREAM, sequence)
            group.dead_lettered(int(stored.data))
        except self.connection_lost():  # the stream is gone (a memory stream after a crash)
            pass
        except Exception as exc:  # an advisory or a message the record cannot read
            self.unreadable = self.unreadable or exc
        finally:
            self.moving -= 1

    async def setup(self) -> Send:
        """Connect, create the stream and the consumers, subscribe to the MaxDeliver
        advisories for the dead-letter record; the producers' publish."""
        self.admin = await _connect(self.server.url)
        self.producer = await _connect(self.server.url)
        await self.ensure(self.admin.jetstream())
        await self._dead_letters()
        return self._sender(self.producer)

    async def settled(self) -> bool:
        """Every group's consumer has nothing left to deliver or to be acked."""
        js = self.admin.jetstream()
        for g in self.watch.groups:
            try:
                info = await js.consumer_info(STREAM, g.name, timeout=1)
            except Exception:
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def finish(self) -> None:
        """A group whose consumer still has copies to deliver or to be acked is unfinished.
        Advisories NATS published as the last copies reached MaxDeliver are let in first."""
        js = self.admin.jetstream()
        if self.scenario.delivery.dead_letter:
            with contextlib.suppress(Exception):
                await self.admin.flush(timeout=1)
            await asyncio.sleep(ADVISORY_GRACE)
            for _ in range(40):
                if not self.moving:
                    break
                await asyncio.sleep(0.05)
            if self.unreadable is not None:
                raise RunFailed(
                    "a MaxDeliver advisory could not be moved to the dead-letter record: "
                    f"{self.unreadable!r}"
                ) from self.unreadable
        for g in self.watch.groups:
            try:
                info = await js.consumer_info(STREAM, g.name, timeout=1)
                g.unfinished = bool(info.num_pending or info.num_ack_pending)
            except Exception:
                g.unfinished = True

    async def close(self) -> None:
        """Close the admin and producer connections."""
        for nc in (self.admin, self.producer):
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
