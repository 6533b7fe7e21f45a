"""Delivery patterns: how stored copies reach consumer groups and how their acks come back.

A pattern is a strategy with two sides. The broker side stores copies (``append``), loses them
in a crash (``wipe``) and expires them (retention). The consumer side is each instance's
*session* with the broker: fetches and offset commits for streaming, pushed copies and acks
for pub/sub. Consumer instances only process what they are given and report it processed.

* :class:`Streaming`: an append-only log, split in partitions; each group has a committed
  offset per partition, commits are cumulative, and a restarted instance resumes from its
  group's last commit. Reads are long polls (or polls every ``poll_interval``); a fetch answer
  lost on the ``deliver`` link is noticed ``ack_timeout`` later and the fetch repeated from the
  same position. Under at-most-once the commit is synchronous: records are processed only once
  the broker confirmed the commit, so a crash can lose them but never replay them.
* :class:`PubSub`: each subscription gets a copy of every message stored after it subscribed;
  the broker pushes up to ``prefetch`` unacked copies to each instance, redelivers a copy whose
  ack did not come back within ``ack_timeout`` (at-least-once, exactly-once) and deletes a
  message once every subscription acked it.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from sim.engine.clock import Clock
from sim.engine.ledger import Ledger
from sim.engine.network import Link
from sim.engine.semantics import Semantics
from sim.engine.trace import Event, Recorder, Wire
from sim.registry.causes import Cause, DupCause
from sim.scenario.schema import ConsumerGroup, Scenario

if TYPE_CHECKING:
    from sim.engine.broker import Broker
    from sim.engine.consumer import ConsumerInstance


class Pattern(Protocol):
    """What the broker and consumer instances ask of a delivery pattern."""

    unconsumed: int
    """Stored copies some group still has to consume (the broker's ``capacity`` bounds it)."""

    def append(self, m: int, now: float, attempt: int, copy: int) -> None: ...
    def publish_attempt(self, token: Any) -> int: ...
    def provenance(self, instance: ConsumerInstance, token: Any) -> tuple[int, DupCause]: ...
    def wipe(self, since: float) -> None: ...
    def broker_down(self) -> None: ...
    def broker_up(self) -> None: ...
    def join(self, instance: ConsumerInstance) -> None: ...
    def want_more(self, instance: ConsumerInstance) -> None: ...
    def processed(self, instance: ConsumerInstance, m: int, token: Any) -> None: ...
    def instance_down(self, instance: ConsumerInstance) -> None: ...
    def instance_up(self, instance: ConsumerInstance) -> None: ...
    def redeliveries(self, g: int) -> int: ...
    def lag(self, g: int) -> int: ...


class _Log:
    """Stored copies in store order: message ids (-1 once lost), store times, and how many
    groups still have to consume each one. ``base`` is the first copy retention kept."""

    __slots__ = ("attempts", "base", "copies", "index", "msgs", "remaining", "times")

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.msgs = array("q")
        self.times = array("d")
        self.remaining = array("i")
        self.attempts = array("i")
        self.copies = array("h")
        """Which stored copy of its message each one is (1, 2, ...)."""
        """The publish attempt each copy was stored from (its id under ``retry_new_id``)."""
        self.base = 0


class _Storage:
    """What both patterns share: retention, crash wipes and the unconsumed count."""

    deletes_consumed = False
    """Whether a copy every reader is done with is deleted (pub/sub) or kept (a log)."""

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        semantics: Semantics,
        ledger: Ledger,
        deliver: list[Link],
        commit: list[Link],
    ):
        self.trace: Recorder | None = None  # an instance attribute: read fastest
        self.trace_id = 0
        self.clock = clock
        self.semantics = semantics
        self.ledger = ledger
        self.deliver = deliver
        self.commit = commit
        self.groups: list[ConsumerGroup] = list(scenario.consumers)
        self.prefetch = scenario.broker.prefetch
        self.retention = scenario.broker.retention
        self.ack_timeout = scenario.delivery.ack_timeout
        self.ack_deadline = scenario.delivery.redelivery_after
        self.broker: Broker
        self.unconsumed = 0
        self._redeliveries = [0] * len(self.groups)
        self._retention_armed: set[int] = set()
        self._setup(scenario)

    def _setup(self, scenario: Scenario) -> None:
        """The pattern's own state."""
        raise NotImplementedError

    def redeliveries(self, g: int) -> int:
        return self._redeliveries[g]

    def _logs(self) -> list[_Log]:
        raise NotImplementedError

    def _drop(self, log: _Log, o: int, cause: Cause) -> None:
        """Group-side effects of losing stored copy ``o`` of ``log``."""
        raise NotImplementedError

    def _consumed(self, log: _Log, o: int) -> None:
        left = log.remaining[o] - 1
        log.remaining[o] = left
        if left == 0:
            self.unconsumed -= 1
            if self.trace and self.deletes_consumed:
                self.trace(Event.DELETED, log.msgs[o], -1, self.trace_id, log.copies[o])

    def _lose(self, log: _Log, o: int, cause: Cause) -> None:
        if log.msgs[o] >= 0:
            if self.trace:
                event = Event.EXPIRED if cause == Cause.RETENTION else Event.WIPED
                self.trace(event, log.msgs[o], -1, self.trace_id, log.copies[o], cause)
            self._drop(log, o, cause)
            if log.remaining[o] > 0:
                log.remaining[o] = 0
                self.unconsumed -= 1
            log.msgs[o] = -1

    # retention: copies expire in store order, so one timer per log at its oldest copy

    def _arm_retention(self, index: int) -> None:
        if self.retention == math.inf or index in self._retention_armed:
            return
        log = self._logs()[index]
        if log.base < len(log.msgs):
            self._retention_armed.add(index)
            expiry = log.times[log.base] + self.retention
            self.clock.schedule(max(0.0, expiry - self.clock.now), self._on_retention, index)

    def _on_retention(self, index: int) -> None:
        self._retention_armed.discard(index)
        log = self._logs()[index]
        now, retention = self.clock.now, self.retention
        end = len(log.msgs)
        while log.base < end and log.times[log.base] + retention <= now:
            self._lose(log, log.base, Cause.RETENTION)
            log.base += 1
        self._arm_retention(index)

    def wipe(self, since: float) -> None:
        """A broker crash loses every copy stored after ``since`` (``-inf``: all of them)."""
        for log in self._logs():
            o = len(log.msgs) - 1
            while o >= log.base and log.times[o] > since:
                self._lose(log, o, Cause.BROKER_CRASH)
                o -= 1


# =============================================================================================
# Streaming


class _StreamSession:
    """One consumer instance's session: its partitions, positions, and the fetch under way."""

    __slots__ = (
        "awaiting",
        "commit_no",
        "crashed_after",
        "fetch_no",
        "instance",
        "joined",
        "outstanding",
        "parked",
        "partitions",
        "position",
        "turn",
    )

    def __init__(self, instance: ConsumerInstance, partitions: list[int]):
        self.instance = instance
        self.partitions = partitions
        self.position = dict.fromkeys(partitions, 0)
        self.joined = False
        self.outstanding = False
        self.parked = False
        self.fetch_no = 0
        self.commit_no = 0
        self.awaiting: list[tuple[int, int, int]] | None = None
        self.crashed_after: Any = None
        """The record the instance had just applied when it last crashed (if so)."""
        self.turn = 0


Record = tuple[int, int, int]
"""(partition, offset, message)"""


class Streaming(_Storage):
    def _setup(self, scenario: Scenario) -> None:
        self.partitions = scenario.partitions
        self.poll_interval = scenario.delivery.poll_interval
        self.logs = [_Log(p) for p in range(self.partitions)]
        unread = 1 << 62
        self.started = [c.start == "earliest" for c in self.groups]
        self.committed = [[0 if s else unread] * self.partitions for s in self.started]
        self._sent_upto = [[0] * self.partitions for _ in self.groups]
        self._commit_lost = [[0] * self.partitions for _ in self.groups]
        """Per group and partition, the highest offset a lost commit would have committed."""
        self.readers: list[list[_StreamSession | None]] = [
            [None] * self.partitions for _ in self.groups
        ]
        self._sessions: list[_StreamSession] = []

    def _logs(self) -> list[_Log]:
        return self.logs

    def attach(self, instance: ConsumerInstance) -> None:
        g, group = instance.g, self.groups[instance.g]
        owned = [p for p in range(self.partitions) if p % group.instances == instance.index]
        session = _StreamSession(instance, owned)
        instance.session = session
        self._sessions.append(session)
        for p in owned:
            self.readers[g][p] = session

    def publish_attempt(self, token: Any) -> int:
        p, o = token
        return self.logs[p].attempts[o]

    def provenance(self, instance: ConsumerInstance, token: Any) -> tuple[int, DupCause]:
        """The stored copy a record is, and why the group reads it again if it does: a
        reader reads a record again only after a crash rewound it to the last commit."""
        p, o = token
        if token == instance.session.crashed_after:
            again = DupCause.CRASH_AFTER_PROCESS
        elif o < self._commit_lost[instance.g][p]:
            again = DupCause.CONSUME_ACK_LOST
        else:
            again = DupCause.CONSUMER_CRASH  # its commit was still on its way
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

    def _drop(self, log: _Log, o: int, cause: Cause) -> None:
        p = log.index
        m = log.msgs[o]
        for g, committed in enumerate(self.committed):
            if o >= committed[p]:
                self.ledger.died(g, m, cause)

    def broker_down(self) -> None:
        pass

    def broker_up(self) -> None:
        for session in self._sessions:
            if session.parked:
                self._serve(session)

    def _serve(self, s: _StreamSession) -> None:
        """Answer a fetch if records are available; otherwise park it (long poll) or poll."""
        inst = s.instance
        if not self.broker.up:
            s.parked = True
            return
        logs, position = self.logs, s.position
        if all(len(logs[p].msgs) <= position[p] for p in s.partitions):
            self._wait(s)  # nothing new: the usual case of a reader that keeps up
            return
        budget = self.prefetch - len(inst.buffer)
        records: list[Record] = []
        positions: list[tuple[int, int]] = []
        owned = s.partitions
        for i in range(len(owned)):
            p = owned[(s.turn + i) % len(owned)]
            log = self.logs[p]
            pos = max(s.position[p], log.base)
            end = len(log.msgs)
            msgs = log.msgs
            while pos < end and len(records) < budget:
                m = msgs[pos]
                if m >= 0:
                    records.append((p, pos, m))
                pos += 1
            positions.append((p, pos))
        s.turn += 1
        if not records:
            s.position.update(positions)  # only lost or expired records were skipped
            self._wait(s)
            return
        s.parked = False
        g = inst.g
        sent_upto = self._sent_upto[g]
        for p, o, _ in records:
            if o < sent_upto[p]:
                self._redeliveries[g] += 1
            else:
                sent_upto[p] = o + 1
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
        g = s.instance.g
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
                for o in range(max(committed[p], log.base), offset):
                    m = msgs[o]
                    if m >= 0:
                        self.ledger.died(g, m, Cause.NONE)
                        self._consumed(log, o)
                committed[p] = offset
        if self.semantics.ack_before_process:
            self.deliver[g].send(self._on_commit_confirmed, (s, epoch, commit_no))

    # --- consumer side -----------------------------------------------------------------------

    def _rewind(self, s: _StreamSession) -> None:
        committed = self.committed[s.instance.g]
        for p in s.partitions:
            s.position[p] = committed[p]

    def join(self, instance: ConsumerInstance) -> None:
        s: _StreamSession = instance.session
        self._start(instance.g)
        s.joined = True
        self._rewind(s)
        self.want_more(instance)

    def want_more(self, instance: ConsumerInstance) -> None:
        s: _StreamSession = instance.session
        if (
            not instance.up
            or not s.joined
            or s.outstanding
            or s.awaiting is not None
            or not s.partitions
            or len(instance.buffer) >= self.prefetch
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
        g = inst.g
        if not inst.up or epoch != inst.epoch:
            for _, o, m in records:
                if self.trace:
                    self.trace(Event.DROPPED, m, g, inst.trace_id, o, Cause.CONSUMER_CRASH)
                self.ledger.died(g, m, Cause.CONSUMER_CRASH)
            return
        if fetch_no != s.fetch_no or not s.outstanding:
            for _, _, m in records:  # a duplicate of an answer already taken
                self.ledger.died(g, m, Cause.NONE)
            return
        s.outstanding = False
        s.position.update(positions)
        if self.trace:
            for _, o, m in records:
                self.trace(Event.RECEIVED, m, g, inst.trace_id, o)
        if self.semantics.ack_before_process:
            s.awaiting = records
            self._commit_awaiting(s)
            return
        inst.accept((m, (p, o)) for p, o, m in records)
        self.want_more(inst)

    def _commit_awaiting(self, s: _StreamSession) -> None:
        s.commit_no += 1
        epoch = s.instance.epoch
        offsets = tuple((p, s.position[p]) for p in s.partitions)
        self.commit[s.instance.g].send(self._on_commit, (s, epoch, s.commit_no, offsets))
        self.clock.schedule(self.ack_timeout, self._on_commit_timeout, (s, epoch, s.commit_no))

    def _on_commit_timeout(self, payload: tuple[_StreamSession, int, int]) -> None:
        s, epoch, commit_no = payload
        if epoch == s.instance.epoch and commit_no == s.commit_no and s.awaiting is not None:
            self._commit_awaiting(s)

    def _on_commit_confirmed(self, payload: tuple[_StreamSession, int, int]) -> None:
        s, epoch, commit_no = payload
        inst = s.instance
        if not inst.up or epoch != inst.epoch or commit_no != s.commit_no or s.awaiting is None:
            return
        records, s.awaiting = s.awaiting, None
        inst.accept((m, (p, o)) for p, o, m in records)
        self.want_more(inst)

    def processed(self, instance: ConsumerInstance, m: int, token: Any) -> None:
        if not self.semantics.ack_before_process:
            p, o = token
            arrived = self.commit[instance.g].send(
                self._on_commit, (instance.session, instance.epoch, 0, ((p, o + 1),))
            )
            if not arrived:
                self._lost_commit(instance.g, ((p, o + 1),))
            if self.trace:
                self.trace(Event.ACK_SENT, m, instance.g, instance.trace_id, o + 1)
                if not arrived:
                    self.trace(
                        Event.LOST, m, instance.g, instance.trace_id, o + 1, Wire.CONSUME_ACK
                    )

    def _lost_commit(self, g: int, offsets: tuple[tuple[int, int], ...]) -> None:
        lost = self._commit_lost[g]
        for p, offset in offsets:
            lost[p] = max(lost[p], offset)

    def instance_down(self, instance: ConsumerInstance) -> None:
        s: _StreamSession = instance.session
        s.crashed_after = instance.crashed_after
        s.outstanding = False
        s.parked = False
        if s.awaiting is not None:
            for _, _, m in s.awaiting:
                self.ledger.died(instance.g, m, Cause.CONSUMER_CRASH)
            s.awaiting = None

    def instance_up(self, instance: ConsumerInstance) -> None:
        s: _StreamSession = instance.session
        if s.joined:
            self._rewind(s)
            self.want_more(instance)


# =============================================================================================
# Pub/sub

_NOT_FOR_GROUP, _READY, _OUT, _DONE = 0, 1, 2, 3


class _PushSession:
    __slots__ = ("credit", "instance", "joined")

    def __init__(self, instance: ConsumerInstance, prefetch: int):
        self.instance = instance
        self.credit = prefetch
        self.joined = False


class PubSub(_Storage):
    deletes_consumed = True

    def _setup(self, scenario: Scenario) -> None:
        self.log = _Log()
        groups = range(len(self.groups))
        self.state = [bytearray() for _ in groups]
        self.ready: list[deque[int]] = [deque() for _ in groups]
        self.outstanding: list[dict[int, tuple[_PushSession, int]]] = [{} for _ in groups]
        self._deadlines: list[deque[tuple[float, int, int]]] = [deque() for _ in groups]
        self._deadline_armed = [False] * len(self.groups)
        self.sessions: list[list[_PushSession]] = [[] for _ in groups]
        self._turn = [0] * len(self.groups)
        self._delivery_no = 0
        self._held = [0] * len(self.groups)
        self._why: list[dict[int, DupCause]] = [{} for _ in groups]
        """Per subscription, why a copy was put back for redelivery (while it is live)."""
        self._ack_dropped: list[set[int]] = [set() for _ in groups]
        self._push_lost: list[set[int]] = [set() for _ in groups]
        """Copies whose last push was lost on the way (their deadline says nothing new)."""
        self._crashed_after: list[set[int]] = [set() for _ in groups]
        """Per subscription, copies stored and not yet acked (or, at-most-once, pushed)."""

    def _logs(self) -> list[_Log]:
        return [self.log]

    def publish_attempt(self, token: Any) -> int:
        return self.log.attempts[token[0]]

    def provenance(self, instance: ConsumerInstance, token: Any) -> tuple[int, DupCause]:
        """A pushed copy carries its entry and why it was pushed again (if it was)."""
        e, why = token
        return self.log.copies[e], why

    def lag(self, g: int) -> int:
        """Copies the subscription holds that its consumers have not acked yet."""
        return self._held[g]

    def attach(self, instance: ConsumerInstance) -> None:
        session = _PushSession(instance, self.prefetch)
        instance.session = session
        self.sessions[instance.g].append(session)

    # --- broker side -------------------------------------------------------------------------

    def append(self, m: int, now: float, attempt: int, copy: int) -> None:
        log = self.log
        e = len(log.msgs)
        log.msgs.append(m)
        log.attempts.append(attempt)
        log.copies.append(copy)
        log.times.append(now)
        readers = 0
        for g, group in enumerate(self.groups):
            if now >= group.join_at:
                self.state[g].append(_READY)
                self.ready[g].append(e)
                self._held[g] += 1
                self.ledger.store_for(g, m)
                readers += 1
            else:
                self.state[g].append(_NOT_FOR_GROUP)
        log.remaining.append(readers)
        if readers:
            self.unconsumed += 1
            self._arm_retention(0)
            for g in range(len(self.groups)):
                if self.state[g][e] == _READY:
                    self._push(g)

    def _drop(self, log: _Log, e: int, cause: Cause) -> None:
        m = log.msgs[e]
        for g, state in enumerate(self.state):
            if state[e] == _READY or state[e] == _OUT:
                state[e] = _DONE
                self._held[g] -= 1
                self.ledger.died(g, m, cause)
                self._settled(g, e)
                held = self.outstanding[g].pop(e, None)
                if held is not None:
                    held[0].credit += 1

    def _push(self, g: int) -> None:
        """Push ready copies to instances with credit left (round robin)."""
        if not self.broker.up:
            return
        ready, state, sessions = self.ready[g], self.state[g], self.sessions[g]
        now = self.clock.now
        while ready:
            session = None
            for i in range(len(sessions)):
                candidate = sessions[(self._turn[g] + i) % len(sessions)]
                if candidate.credit > 0 and candidate.joined and candidate.instance.up:
                    session = candidate
                    self._turn[g] = (self._turn[g] + i + 1) % len(sessions)
                    break
            if session is None:
                return
            e = ready.popleft()
            if state[e] != _READY:
                continue
            m = self.log.msgs[e]
            self._delivery_no += 1
            session.credit -= 1
            why = self._why[g].get(e, DupCause.NONE)  # travels with the copy
            arrived = self.deliver[g].send(self._on_copy, (session, e, m, why))
            if arrived:
                self.ledger.born(g, m, arrived)
            if arrived:
                self._push_lost[g].discard(e)
            else:
                self._push_lost[g].add(e)
            if self.trace:
                self.trace(Event.DELIVERED, m, g, self.trace_id, self._delivery_no, why)
                if arrived != 1:
                    self.trace(
                        Event.DUPLICATED if arrived else Event.LOST,
                        m,
                        g,
                        self.trace_id,
                        self._delivery_no,
                        Wire.DELIVER,
                    )
            self.outstanding[g][e] = (session, self._delivery_no)
            self._deadlines[g].append((now + self.ack_deadline, e, self._delivery_no))
            if not self._deadline_armed[g]:
                self._deadline_armed[g] = True
                self.clock.schedule(self.ack_deadline, self._on_deadline, g)
            if self.semantics.broker_redelivers:
                state[e] = _OUT
                if not arrived:
                    self.ledger.never_born(g, m, Cause.DELIVER_LOST)
            else:  # at-most-once: the broker forgets a copy once it is sent
                state[e] = _DONE
                self._held[g] -= 1
                self.ledger.died(g, m, Cause.NONE if arrived else Cause.DELIVER_LOST)
                self._consumed(self.log, e)

    def _on_deadline(self, g: int) -> None:
        """Ack deadlines passed: free the credit and (unless at-most-once) redeliver."""
        now = self.clock.now
        deadlines, outstanding, state = self._deadlines[g], self.outstanding[g], self.state[g]
        expired = []
        while deadlines:
            deadline, e, number = deadlines[0]
            held = outstanding.get(e)
            if held is not None and held[1] == number:
                if deadline > now:
                    self.clock.schedule(deadline - now, self._on_deadline, g)
                    break
                del outstanding[e]
                held[0].credit += 1
                if state[e] == _OUT:
                    state[e] = _READY
                    expired.append(e)
                    if e not in self._push_lost[g]:  # else it keeps the reason it had
                        self._why[g][e] = self._expired_because(g, e)
                    if self.trace:
                        self.trace(
                            Event.REDELIVERY,
                            self.log.msgs[e],
                            g,
                            self.trace_id,
                            e,
                            self._why[g].get(e, DupCause.NONE),
                        )
            deadlines.popleft()
        else:
            self._deadline_armed[g] = False
        self._requeue(g, expired)
        self._push(g)

    def _expired_because(self, g: int, e: int) -> DupCause:
        """Why an ack deadline passed: the ack was lost, the consumer crashed after applying
        the copy, or it was still on it."""
        if e in self._ack_dropped[g]:
            self._ack_dropped[g].discard(e)
            return DupCause.CONSUME_ACK_LOST
        if e in self._crashed_after[g]:
            self._crashed_after[g].discard(e)
            return DupCause.CRASH_AFTER_PROCESS
        return DupCause.ACK_DEADLINE

    def _settled(self, g: int, e: int) -> None:
        """A subscription is done with a copy: forget what was noted about its deliveries."""
        self._why[g].pop(e, None)
        self._ack_dropped[g].discard(e)
        self._push_lost[g].discard(e)
        self._crashed_after[g].discard(e)

    def _requeue(self, g: int, entries: list[int]) -> None:
        self._redeliveries[g] += len(entries)
        self.ready[g].extendleft(reversed(entries))

    def _on_ack(self, payload: tuple[_PushSession, int]) -> None:
        if not self.broker.up:
            return
        session, e = payload
        g = session.instance.g
        if self.trace:
            self.trace(Event.ACK_RECEIVED, self.log.msgs[e], g, self.trace_id, e)
        held = self.outstanding[g].pop(e, None)
        if held is not None:
            held[0].credit += 1
        state = self.state[g]
        if state[e] == _READY or state[e] == _OUT:
            state[e] = _DONE
            self._held[g] -= 1
            self.ledger.died(g, self.log.msgs[e], Cause.NONE)
            self._consumed(self.log, e)
            self._settled(g, e)
        self._push(g)

    def broker_down(self) -> None:
        """Sessions break: unacked copies go back to the front of their queue, credit resets."""
        for g, outstanding in enumerate(self.outstanding):
            back = sorted(e for e in outstanding if self.state[g][e] == _OUT)
            for e in back:
                self.state[g][e] = _READY
                self._why[g][e] = DupCause.BROKER_CRASH
                if self.trace:
                    self.trace(
                        Event.REDELIVERY,
                        self.log.msgs[e],
                        g,
                        self.trace_id,
                        e,
                        DupCause.BROKER_CRASH,
                    )
            outstanding.clear()
            self._deadlines[g].clear()
            self._requeue(g, back)
            for session in self.sessions[g]:
                session.credit = self.prefetch

    def broker_up(self) -> None:
        for g in range(len(self.groups)):
            self._push(g)

    # --- consumer side -----------------------------------------------------------------------

    def join(self, instance: ConsumerInstance) -> None:
        instance.session.joined = True
        self._push(instance.g)

    def want_more(self, instance: ConsumerInstance) -> None:
        pass  # push-based: credit comes back with acks

    def _on_copy(self, payload: tuple[_PushSession, int, int, DupCause]) -> None:
        session, e, m, why = payload
        inst = session.instance
        if not inst.up:
            if self.trace:
                self.trace(Event.DROPPED, m, inst.g, inst.trace_id, e, Cause.CONSUMER_CRASH)
            self.ledger.died(inst.g, m, Cause.CONSUMER_CRASH)
            return
        if self.semantics.ack_before_process:
            self._ack(session, e)
        if self.trace:
            self.trace(Event.RECEIVED, m, inst.g, inst.trace_id, e, why)
        inst.accept(((m, (e, why)),))

    def processed(self, instance: ConsumerInstance, m: int, token: Any) -> None:
        if not self.semantics.ack_before_process:
            self._ack(instance.session, token[0])

    def _ack(self, session: _PushSession, e: int) -> None:
        g = session.instance.g
        arrived = self.commit[g].send(self._on_ack, (session, e))
        if not arrived:
            self._ack_dropped[g].add(e)
        if self.trace:
            m, where = self.log.msgs[e], session.instance.trace_id
            self.trace(Event.ACK_SENT, m, g, where, e)
            if not arrived:
                self.trace(Event.LOST, m, g, where, e, Wire.CONSUME_ACK)

    def instance_down(self, instance: ConsumerInstance) -> None:
        """Its unacked copies are redelivered when their deadlines pass."""
        if instance.crashed_after is not None:
            self._crashed_after[instance.g].add(instance.crashed_after[0])

    def instance_up(self, instance: ConsumerInstance) -> None:
        self._push(instance.g)


def make_pattern(
    name: str,
    clock: Clock,
    scenario: Scenario,
    semantics: Semantics,
    ledger: Ledger,
    deliver: list[Link],
    commit: list[Link],
) -> Streaming | PubSub:
    kinds: dict[str, type[Streaming] | type[PubSub]] = {"streaming": Streaming, "pubsub": PubSub}
    return kinds[name](clock, scenario, semantics, ledger, deliver, commit)
