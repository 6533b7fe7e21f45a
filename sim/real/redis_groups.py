"""The pub/sub pattern on a real Redis: stream consumer groups.

Each consumer group is a Redis consumer group on the log, each instance a consumer of it with a
connection of its own. New entries come with ``XREADGROUP ... >`` (long polls, up to
``prefetch`` at a time; ``NOACK`` under at-most-once, which acks on receipt); an instance acks
with ``XACK`` over the ``consume_ack`` link. An entry whose ack did not come back within the
ack deadline stays in the group's pending entries list and is claimed again with
``XAUTOCLAIM`` (idle for at least the deadline) by the next instance that looks: that is the
redelivery.

How it differs from NATS JetStream: Redis has no MaxAckPending. An entry whose ack was lost
waits in the pending list without holding a slot, so the instance goes on reading new entries
and nothing queues behind it; and a redelivery happens when an instance next claims, not on a
broker timer (here within one poll, 0.1 s, of the deadline).
"""

from __future__ import annotations

import contextlib
from typing import Any

from sim.real.harness import Consumer
from sim.real.producing import Send
from sim.real.redis_harness import LOG, POLL_MS, RedisHarness, connect, entry_order


class RedisGroupsRun(RedisHarness):
    """One real run of a pub/sub scenario on Redis consumer groups."""

    async def setup(self) -> Send:
        """Connect, and create every group on the (empty) log before anything is produced."""
        send = await super().setup()
        for c in self.scenario.consumers:
            await self.admin.xgroup_create(LOG, c.name, id="0", mkstream=True)
        return send

    async def restarted(self) -> None:
        """Without its append-only file a killed Redis comes back empty: create the groups
        again (with it, they are there)."""
        for c in self.scenario.consumers:
            with contextlib.suppress(Exception):
                await self.admin.xgroup_create(LOG, c.name, id="0", mkstream=True)

    async def _fetch(self, client: Any, name: str, me: str) -> list[tuple[str, dict[str, str]]]:
        """Entries idle past the ack deadline first (a redelivery), else new ones."""
        s = self.scenario
        explicit = not self.semantics.ack_before_process
        if explicit:
            deadline = max(1, int(s.delivery.redelivery_after * 1000))
            claimed = await client.xautoclaim(
                LOG, name, me, deadline, start_id="0-0", count=s.broker.prefetch
            )
            entries = [(e, f) for e, f in claimed[1] if f]
            if entries:
                return entries
        reply = await client.xreadgroup(
            name, me, {LOG: ">"}, count=s.broker.prefetch, block=POLL_MS, noack=not explicit
        )
        return [(e, f) for _, entries in reply or [] for e, f in entries]

    async def session(self, c: Consumer) -> None:
        """One connection of an instance: claim or read, process, ack, until it crashes."""
        explicit = not self.semantics.ack_before_process
        watch = self.watch
        me = f"{c.name}-{c.index}"
        client = connect(self.server.url)
        try:
            while not self.stopping:
                self.check_window(c)
                for entry, fields in await self._fetch(client, c.name, me):
                    m = int(fields["m"])
                    self.received(c, m, entry)
                    if c.deliver.drops(watch.now()):
                        continue  # dropped on receipt, never acked
                    await self.process(c, m)
                    if explicit and not c.consume_ack.drops(watch.now()):
                        await client.xack(LOG, c.name, entry)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _left(self) -> list[bool] | None:
        """Per group, whether Redis still holds entries it has to deliver or see acked."""
        last = await self.last_entry()
        if last is None:
            return None
        try:
            groups = {g["name"]: g for g in await self.admin.xinfo_groups(LOG)}
        except Exception:
            return None
        left = []
        for c in self.scenario.consumers:
            info = groups.get(c.name)
            if info is None:
                left.append(True)
                continue
            behind = entry_order(str(info["last-delivered-id"])) < last
            left.append(behind or int(info["pending"]) > 0)
        return left

    async def settled(self) -> bool:
        """No group has an entry still to be delivered or acked."""
        left = await self._left()
        return left is not None and not any(left)

    async def finish(self) -> None:
        """A group with entries still to deliver or to be acked is unfinished."""
        left = await self._left()
        for k, group in enumerate(self.watch.groups):
            group.unfinished = left is None or left[k]
