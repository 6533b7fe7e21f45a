"""Streaming: an append-only log in partitions, read by consumer groups from their offsets.

Each group has a committed offset per partition; commits are cumulative, and a restarted
instance resumes from its group's last commit. Reads are long polls (or polls every
``poll_interval``); a fetch answer lost on the ``deliver`` link is noticed ``ack_timeout``
later and the fetch repeated from the same position. Under at-most-once the commit is
synchronous: records are processed only once the broker confirmed the commit, so a crash can
lose them but never replay them.
"""

from __future__ import annotations

import math
from typing import Any

from sim.engine.codes import CAUSE_NONE, DUP_CONSUMER_CRASH
from sim.engine.patterns.storage import Log, Storage
from sim.engine.shapes import ConsumerSide, Record
from sim.engine.trace import Event, Wire
from sim.registry.causes import Cause, DupCause
from sim.scenario.schema import Scenario


class _StreamSession:
    """One consumer instance's session: its partitions, positions, and the fetch under way."""

    __slots__ = (
        "awaiting",
        "buffer",
        "commit_no",
        "crashed_after",
        "discarded",
        "done",
        "fetch_no",
        "g",
        "home",
        "instance",
        "joined",
        "outstanding",
        "parked",
        "partitions",
        "position",
        "turn",
    )

    def __init__(self, instance: ConsumerSide, partitions: list[int]):
        self.instance = instance
        self.g = instance.g
        """The instance's group (read here, natively, on every fetch and commit)."""
        self.buffer = instance.buffer
        """The instance's buffer (the same deque for its whole life)."""
        self.home = partitions
        """The partitions the group's assignment gives it (it reads others' after a rebalance)."""
        self.partitions = list(partitions)
        self.position = dict.fromkeys(partitions, 0)
        self.done: dict[int, int] = {}
        """Per partition, the offset after the last record processed and not yet committed
        (periodic commits, ``commit_interval``)."""
        self.joined = False
        self.outstanding = False
        self.parked = False
        self.fetch_no = 0
        self.discarded = -1
        """The fetch whose answer the instance will drop unread (a seek or a rebalance)."""
        self.commit_no = 0
        self.awaiting: list[tuple[int, int, int]] | None = None
        self.crashed_after: Any = None
        """The record the instance had just applied when it last crashed (if so)."""
        self.turn = 0


class Streaming(Storage):
    """Event streaming: a partitioned, replayable log that every group reads at its own
    committed offset; a crash or a rebalance replays from the last commit."""

    def _setup(self, scenario: Scenario) -> None:
        self.partitions = scenario.partitions
        self.poll_interval = scenario.delivery.poll_interval
        self.logs = [Log(p) for p in range(self.partitions)]
        unread = 1 << 62
        self.started = [c.start == "earliest" for c in self.groups]
        self.committed = [[0 if s else unread] * self.partitions for s in self.started]
        self._sent_upto = [[0] * self.partitions for _ in self.groups]
        self._commit_lost = [[0] * self.partitions for _ in self.groups]
        """Per group and partition, the highest offset a lost commit would have committed."""
        self.readers: list[list[_StreamSession | None]] = [
            [None] * self.partitions for _ in self.groups
        ]
        self._members: list[list[_StreamSession]] = [[] for _ in self.groups]
        self._reads: list[dict[tuple[int, int], int]] = [{} for _ in self.groups]
        """Per group, reads of each uncommitted record so far (with ``max_deliveries`` only)."""
        self._skipped: list[list[set[int]]] = [
            [set() for _ in range(self.partitions)] for _ in self.groups
        ]
        """Per group and partition, the offsets the delivery limit ended (the group's copy of
        them is gone: commits and wipes pass over them)."""
        self._periodic = [bool(c.commit_interval) for c in self.groups]
        """Per group, whether it commits periodically (``commit_interval``), not per record."""
        self._paused = [0] * len(self.groups)
        """Rebalances of the group under way: while there is one, its instances do not fetch."""
        self._moved_upto = [[0] * self.partitions for _ in self.groups]
        """Per group and partition, the offsets below which a record was sent before the
        partition last moved: read again after it, it is a duplicate caused by the rebalance."""

    def _logs(self) -> list[Log]:
        return self.logs

    def attach(self, instance: ConsumerSide) -> None:
        g, group = instance.g, self.groups[instance.g]
        owned = [p for p in range(self.partitions) if p % group.instances == instance.index]
        session = _StreamSession(instance, owned)
        instance.session = session
        self._members[g].append(session)
        for p in owned:
            self.readers[g][p] = session

    def publish_attempt(self, token: Any) -> int:
        p, o = token
        return self.logs[p].attempts[o]

    def provenance(self, instance: ConsumerSide, token: Any) -> tuple[int, DupCause]:
        """The stored copy a record is, and why the group reads it again if it does: a
        reader reads a record again only after a crash rewound it to the last commit."""
        p, o = token
        s: _StreamSession = instance.session
        if token == s.crashed_after:
            again = DupCause.CRASH_AFTER_PROCESS
        elif o < self._moved_upto[s.g][p]:
            again = DupCause.REBALANCE
        elif o < self._commit_lost[s.g][p]:
            again = DupCause.CONSUME_ACK_LOST
        else:
            again = DUP_CONSUMER_CRASH  # its commit was still on its way
        return self.logs[p].copies[o], again

    def lag(self, g: int) -> int:
        """Records the group has yet to commit (its consumer lag)."""
        if not self.started[g]:
            return 0
        return sum(
            max(0, len(log.msgs) - max(c, log.base))
            for log, c in zip(self.logs, self.committed[g], strict=True)
        )

    def _start(self, g: int) -> None:
        """A ``start = "latest"`` group begins at the end of the log when it joins."""
        if not self.started[g]:
            self.started[g] = True
            self.committed[g] = [len(log.msgs) for log in self.logs]

    # --- broker side -------------------------------------------------------------------------

    def append(self, m: int, now: float, attempt: int, copy: int) -> None:
        if False in self.started:
            for g, group in enumerate(self.groups):
                if not self.started[g] and now >= group.join_at:
                    self._start(g)
        p = m % self.partitions
        log = self.logs[p]
        o = len(log.msgs)
        log.msgs.append(m)
        log.attempts.append(attempt)
        log.copies.append(copy)
        log.times.append(now)
        readers = 0
        for g, committed in enumerate(self.committed):
            if o >= committed[p]:
                self.ledger.store_for(g, m)
                readers += 1
        log.remaining.append(readers)
        if readers:
            self.unconsumed += 1
        self._arm_retention(p)
        for group_readers in self.readers:
            session = group_readers[p]
            if session is not None and session.parked:
                self._serve(session)

    def _drop(self, log: Log, o: int, cause: Cause) -> None:
        p = log.index
        m = log.msgs[o]
        for g, committed in enumerate(self.committed):
            if o >= committed[p] and o not in self._skipped[g][p]:
                self.ledger.died(g, m, cause)

    def broker_down(self) -> None:
        pass

    def broker_up(self) -> None:
        for members in self._members:
            for session in members:
                if session.parked:
                    self._serve(session)

    def _serve(self, s: _StreamSession) -> None:
        """Answer a fetch if records are available; otherwise park it (long poll) or poll."""
        inst = s.instance
        if not self.broker.up:
            s.parked = True
            return
        logs, position = self.logs, s.position
        for p in s.partitions:
            if len(logs[p].msgs) > position[p]:
                break
        else:  # nothing new: the usual case of a reader that keeps up
            self._wait(s)
            return
        budget = self.prefetch - len(s.buffer)
        records: list[Record] = []
        positions: list[tuple[int, int]] = []
        owned = s.partitions
        g = s.g
        limit = self.max_deliveries
        sent_upto = self._sent_upto[g]
        for i in range(len(owned)):
            p = owned[(s.turn + i) % len(owned)]
            log = logs[p]
            pos = max(position[p], log.base)
            end = len(log.msgs)
            msgs = log.msgs
            while pos < end and len(records) < budget:
                m = msgs[pos]
                if m >= 0 and not (limit and self._over_limit(g, p, pos, m)):
                    records.append((p, pos, m))
                    if pos < sent_upto[p]:
                        self._redeliveries[g] += 1
                    else:
                        sent_upto[p] = pos + 1
                pos += 1
            positions.append((p, pos))
        s.turn += 1
        if not records:
            position.update(positions)  # only lost or expired records were skipped
            self._wait(s)
            return
        s.parked = False
        arrived = self.deliver[g].send(
            self._on_records, (s, inst.epoch, s.fetch_no, records, positions)
        )
        ledger = self.ledger
        for _, o, m in records:
            if arrived:
                ledger.born(g, m, arrived)
            else:
                ledger.never_born(g, m, Cause.DELIVER_LOST)
            if self.trace:
                self.trace(Event.DELIVERED, m, g, self.trace_id, o)
                if not arrived:
                    self.trace(Event.LOST, m, g, self.trace_id, o, Wire.DELIVER)
        if not arrived:
            self.clock.schedule(
                self.ack_timeout, self._on_fetch_timeout, (s, inst.epoch, s.fetch_no)
            )

    def _over_limit(self, g: int, p: int, o: int, m: int) -> bool:
        """Whether record ``o`` of partition ``p`` was read ``max_deliveries`` times by group
        ``g`` already (then it is skipped, dead-lettered or dropped, and the partition goes
        on); otherwise counts this read."""
        skipped = self._skipped[g][p]
        if o in skipped:
            return True
        key = (p, o)
        reads = self._reads[g].get(key, 0)
        if reads < self.max_deliveries:
            self._reads[g][key] = reads + 1
            return False
        if o < self.committed[g][p]:
            return False  # committed already: the group's copy is gone, nothing to end
        skipped.add(o)
        del self._reads[g][key]
        self._limit_reached(g, m, reads)
        self._consumed(self.logs[p], o)
        return True

    def _wait(self, s: _StreamSession) -> None:
        """No record for this fetch yet: park it (a long poll) or ask again later."""
        if self.poll_interval > 0:
            s.parked = False
            self.clock.schedule(self.poll_interval, self._poll, (s, s.instance.epoch, s.fetch_no))
        else:
            s.parked = True

    def _poll(self, payload: tuple[_StreamSession, int, int]) -> None:
        s, epoch, fetch_no = payload
        if s.instance.up and epoch == s.instance.epoch and fetch_no == s.fetch_no and s.outstanding:
            self._serve(s)

    def _on_fetch_timeout(self, payload: tuple[_StreamSession, int, int]) -> None:
        s, epoch, fetch_no = payload
        if epoch == s.instance.epoch and fetch_no == s.fetch_no and s.outstanding:
            s.outstanding = False
            self.want_more(s.instance)

    def _on_commit(
        self, payload: tuple[_StreamSession, int, int, tuple[tuple[int, int], ...]]
    ) -> None:
        s, epoch, commit_no, offsets = payload
        g = s.g
        if not self.broker.up:
            self._lost_commit(g, offsets)
            return
        committed = self.committed[g]
        if self.trace:
            for p, offset in offsets:
                log = self.logs[p]
                if log.base < offset <= len(log.msgs):
                    self.trace(Event.ACK_RECEIVED, log.msgs[offset - 1], g, self.trace_id, offset)
        for p, offset in offsets:
            if offset > committed[p]:
                log = self.logs[p]
                msgs = log.msgs
                skipped, start = self._skipped[g][p], max(committed[p], log.base)
                for o in range(start, offset):
                    m = msgs[o]
                    if m >= 0 and not (skipped and o in skipped):
                        self.ledger.died(g, m, CAUSE_NONE)
                        self._consumed(log, o)
                reads = self._reads[g]
                if reads:  # committed: their reads no longer matter
                    for o in range(start, offset):
                        reads.pop((p, o), None)
                committed[p] = offset
        if self._ack_first:
            self.deliver[g].send(self._on_commit_confirmed, (s, epoch, commit_no))

    # --- consumer side -----------------------------------------------------------------------

    def _rewind(self, s: _StreamSession) -> None:
        committed = self.committed[s.instance.g]
        for p in s.partitions:
            s.position[p] = committed[p]

    def join(self, instance: ConsumerSide) -> None:
        s: _StreamSession = instance.session
        self._start(instance.g)
        s.joined = True
        self._rewind(s)
        self._start_commits(s)
        self.want_more(instance)

    def want_more(self, instance: ConsumerSide) -> None:
        s: _StreamSession = instance.session
        if (
            not instance.up
            or not s.joined
            or s.outstanding
            or s.awaiting is not None
            or not s.partitions
            or len(s.buffer) >= self.prefetch
            or self._paused[s.g]
        ):
            return
        s.outstanding = True
        s.fetch_no += 1
        self._serve(s)

    def _on_records(
        self, payload: tuple[_StreamSession, int, int, list[Record], list[tuple[int, int]]]
    ) -> None:
        s, epoch, fetch_no, records, positions = payload
        inst = s.instance
        g = s.g
        if not inst.up or epoch != inst.epoch:
            for _, o, m in records:
                if self.trace:
                    self.trace(Event.DROPPED, m, g, inst.trace_id, o, Cause.CONSUMER_CRASH)
                self.ledger.died(g, m, Cause.CONSUMER_CRASH)
            return
        if fetch_no != s.fetch_no or not s.outstanding:
            for _, _, m in records:  # a duplicate of an answer already taken, or a stale one
                self.ledger.died(g, m, CAUSE_NONE)
            if fetch_no == s.discarded:
                s.discarded = -1
                self._unread(g, [(p, o) for p, o, _ in records])
            return
        s.outstanding = False
        s.position.update(positions)
        if self.trace:
            for _, o, m in records:
                self.trace(Event.RECEIVED, m, g, inst.trace_id, o)
        if self._ack_first:
            s.awaiting = records
            self._commit_awaiting(s, tuple((p, s.position[p]) for p in s.partitions))
            return
        inst.accept((m, (p, o)) for p, o, m in records)
        self.want_more(inst)

    def _commit_awaiting(self, s: _StreamSession, offsets: tuple[tuple[int, int], ...]) -> None:
        """At-most-once: commit the fetched records' ``offsets`` before processing them (sent
        again, the same offsets, until the broker confirms)."""
        s.commit_no += 1
        epoch = s.instance.epoch
        self.commit[s.instance.g].send(self._on_commit, (s, epoch, s.commit_no, offsets))
        self.clock.schedule(
            self.ack_timeout, self._on_commit_timeout, (s, epoch, s.commit_no, offsets)
        )

    def _on_commit_timeout(
        self, payload: tuple[_StreamSession, int, int, tuple[tuple[int, int], ...]]
    ) -> None:
        s, epoch, commit_no, offsets = payload
        if epoch == s.instance.epoch and commit_no == s.commit_no and s.awaiting is not None:
            self._commit_awaiting(s, offsets)

    def _on_commit_confirmed(self, payload: tuple[_StreamSession, int, int]) -> None:
        s, epoch, commit_no = payload
        inst = s.instance
        if not inst.up or epoch != inst.epoch or commit_no != s.commit_no or s.awaiting is None:
            return
        records, s.awaiting = s.awaiting, None
        inst.accept((m, (p, o)) for p, o, m in records)
        self.want_more(inst)

    def processed(self, instance: ConsumerSide, m: int, token: Any) -> None:
        if not self._ack_first:
            p, o = token
            if self._periodic[instance.g]:
                instance.session.done[p] = o + 1  # committed with the next periodic commit
            else:
                self._send_commit(instance, ((p, o + 1),))

    def _send_commit(self, instance: ConsumerSide, offsets: tuple[tuple[int, int], ...]) -> None:
        """Commit ``offsets`` (cumulative, per partition) on the ``consume_ack`` link."""
        s: _StreamSession = instance.session
        g = s.g
        payload = (s, instance.epoch, 0, offsets)
        arrived = self.commit[g].send(self._on_commit, payload)
        if not arrived:
            self._lost_commit(g, offsets)
        if self.trace:
            for p, offset in offsets:
                m = self.logs[p].msgs[offset - 1]
                self.trace(Event.ACK_SENT, m, g, instance.trace_id, offset)
                if not arrived:
                    self.trace(Event.LOST, m, g, instance.trace_id, offset, Wire.CONSUME_ACK)

    def _commit_done(self, s: _StreamSession) -> None:
        """Commit what the instance processed since its last commit, as Kafka's auto-commit
        does every ``auto.commit.interval.ms``."""
        offsets = tuple(s.done.items())
        s.done.clear()
        if offsets:
            self._send_commit(s.instance, offsets)

    def _on_commit_tick(self, payload: tuple[_StreamSession, int]) -> None:
        s, epoch = payload
        inst = s.instance
        if inst.up and epoch == inst.epoch:
            self._commit_done(s)
            interval = self.groups[inst.g].commit_interval
            self.clock.schedule(interval, self._on_commit_tick, (s, epoch))

    def _start_commits(self, s: _StreamSession) -> None:
        """Periodic commits (``commit_interval``): the first one an interval from now."""
        interval = self.groups[s.instance.g].commit_interval
        if interval and not self._ack_first:
            self.clock.schedule(interval, self._on_commit_tick, (s, s.instance.epoch))

    def give_back(self, instance: ConsumerSide, m: int, token: Any) -> None:
        """The record could not be processed: the instance seeks back to it (it cannot commit
        past it), drops what it holds behind it in that partition and fetches again."""
        p, o = token
        s: _StreamSession = instance.session
        if p not in s.partitions:
            return  # its partition moved away meanwhile
        s.position[p] = o
        self._forget_partition(s, p)
        self._discard_answer(s)

    def _discard_answer(self, s: _StreamSession) -> None:
        """The answer of the fetch under way (if any) will be dropped unread."""
        if s.outstanding:
            s.outstanding = False
            s.discarded = s.fetch_no

    def _forget_partition(self, s: _StreamSession, p: int) -> None:
        """Drop the copies of partition ``p`` the instance holds, unprocessed: they are read
        again, and this read does not count towards the delivery limit."""
        inst = s.instance
        if any(token[0] == p for _, token in inst.buffer):
            kept = [c for c in inst.buffer if c[1][0] != p]
            for m, token in inst.buffer:
                if token[0] == p:
                    self.ledger.died(inst.g, m, Cause.NONE)
            self._unread(inst.g, [token for _, token in inst.buffer if token[0] == p])
            inst.buffer.clear()
            inst.buffer.extend(kept)

    def _unread(self, g: int, records: list[tuple[int, int]]) -> None:
        """Records read and dropped before processing: their reads do not count."""
        if self.max_deliveries:
            reads = self._reads[g]
            for key in records:
                if reads.get(key, 0) > 0:
                    reads[key] -= 1

    def _lost_commit(self, g: int, offsets: tuple[tuple[int, int], ...]) -> None:
        lost = self._commit_lost[g]
        for p, offset in offsets:
            lost[p] = max(lost[p], offset)

    def instance_down(self, instance: ConsumerSide) -> None:
        s: _StreamSession = instance.session
        s.crashed_after = instance.crashed_after
        s.outstanding = False
        s.parked = False
        s.done.clear()  # processed, never committed: read again
        if s.awaiting is not None:
            for _, _, m in s.awaiting:
                self.ledger.died(instance.g, m, Cause.CONSUMER_CRASH)
            s.awaiting = None
        timeout = self.groups[instance.g].session_timeout
        if s.joined and timeout != math.inf:
            self.clock.schedule(timeout, self._on_session_timeout, (s, instance.epoch))

    def instance_up(self, instance: ConsumerSide) -> None:
        s: _StreamSession = instance.session
        if not s.joined:
            return
        readers = self.readers[instance.g]
        if any(readers[p] is not s for p in s.home):
            self._restore(s)
            return
        self._rewind(s)
        self._start_commits(s)
        self.want_more(instance)

    # --- consumer-group rebalancing (session_timeout) ----------------------------------------

    def _on_session_timeout(self, payload: tuple[_StreamSession, int]) -> None:
        """The instance has been down for the session timeout: its partitions move to the
        group's live instances (none live: they wait)."""
        s, epoch = payload
        inst = s.instance
        if inst.up or epoch != inst.epoch or not s.partitions:
            return
        g = inst.g
        live = [x for x in self._members[g] if x.instance.up and x.joined]
        if not live:
            return
        moving, s.partitions = s.partitions, []
        for i, p in enumerate(moving):
            receiver = live[i % len(live)]
            receiver.partitions.append(p)
            receiver.position[p] = self.committed[g][p]
            self.readers[g][p] = receiver
        self._rebalance(g, moving)

    def _restore(self, s: _StreamSession) -> None:
        """The instance is back: it takes its own partitions again from whoever reads them,
        which commits what it processed of them first."""
        g = s.instance.g
        for p in s.home:
            owner = self.readers[g][p]
            if owner is not None and owner is not s:
                owner.partitions.remove(p)
                if owner.instance.up and p in owner.done:
                    # a synchronous commit: the rebalance waits for it (Kafka commits on revoke)
                    offsets = ((p, owner.done.pop(p)),)
                    self._on_commit((owner, owner.instance.epoch, 0, offsets))
                if not self._ack_first:  # else they are committed: kept
                    self._forget_partition(owner, p)
                owner.position.pop(p, None)
        s.partitions = s.home + [p for p in s.partitions if p not in s.home]
        for p in s.home:
            self.readers[g][p] = s
        self._start_commits(s)
        self._rebalance(g, s.home)

    def _rebalance(self, g: int, moved: list[int]) -> None:
        """Partitions ``moved`` changed hands: every instance of the group stops fetching for
        ``rebalance_time``, then reads them from the group's last commit."""
        now = self.clock.now
        pause = self.groups[g].rebalance_time
        self.rebalances.append((g, now, now + pause))
        for p in moved:
            self._moved_upto[g][p] = max(self._moved_upto[g][p], self._sent_upto[g][p])
        self._paused[g] += 1
        for member in self._members[g]:
            self._discard_answer(member)
            member.parked = False
        self.clock.schedule(pause, self._on_rebalanced, (g, moved))

    def _on_rebalanced(self, payload: tuple[int, list[int]]) -> None:
        g, moved = payload
        self._paused[g] -= 1
        committed = self.committed[g]
        for p in moved:
            owner = self.readers[g][p]
            if owner is not None:
                owner.position[p] = committed[p]
        for member in self._members[g]:
            self.want_more(member.instance)
