"""Publish/subscribe: each subscription gets its own copy of every message stored after it
subscribed.

The broker pushes up to ``prefetch`` unacked copies to each instance, redelivers a copy whose
ack did not come back within the ack deadline (when the semantics redelivers) and deletes a
message once every subscription acked it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sim.engine.codes import CAUSE_NONE, DUP_NONE
from sim.engine.patterns.storage import Log, Storage
from sim.engine.shapes import ConsumerSide
from sim.engine.trace import Event, Wire
from sim.registry.causes import Cause, DupCause
from sim.scenario.schema import Scenario

_NOT_FOR_GROUP, _READY, _OUT, _DONE = 0, 1, 2, 3


class _PushSession:
    __slots__ = ("credit", "instance", "joined")

    def __init__(self, instance: ConsumerSide, prefetch: int):
        self.instance = instance
        self.credit = prefetch
        self.joined = False


class PubSub(Storage):
    """Pub/sub: each group's subscription holds its own copy of every message, delivered on
    prefetch, acked one by one, redelivered after the ack wait, deleted once consumed."""

    deletes_consumed = True

    def _setup(self, scenario: Scenario) -> None:
        self.log = Log()
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
        """Per subscription, copies stored and not yet acked (at-most-once: not yet pushed)."""
        self._why: list[dict[int, DupCause]] = [{} for _ in groups]
        """Per subscription, why a copy was put back for redelivery (while it is live)."""
        self._ack_dropped: list[set[int]] = [set() for _ in groups]
        """Per subscription, copies whose consumer ack was lost (why their deadline passes)."""
        self._push_lost: list[set[int]] = [set() for _ in groups]
        """Copies whose last push was lost on the way (their deadline says nothing new)."""
        self._crashed_after: list[set[int]] = [set() for _ in groups]
        """Per subscription, copies whose consumer crashed after applying them, before its
        ack (why their deadline passes)."""
        self._pushes: list[dict[int, int]] = [{} for _ in groups]
        """Per subscription, pushes of each live copy so far (with ``max_deliveries`` only)."""

    def _logs(self) -> list[Log]:
        return [self.log]

    def publish_attempt(self, token: Any) -> int:
        return self.log.attempts[token[0]]

    def provenance(self, instance: ConsumerSide, token: Any) -> tuple[int, DupCause]:
        """A pushed copy carries its entry and why it was pushed again (if it was)."""
        e, why = token
        return self.log.copies[e], why

    def lag(self, g: int) -> int:
        """Copies the subscription holds that its consumers have not acked yet."""
        return self._held[g]

    def attach(self, instance: ConsumerSide) -> None:
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

    def _drop(self, log: Log, e: int, cause: Cause) -> None:
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
            if self.max_deliveries:
                pushes = self._pushes[g]
                pushes[e] = pushes.get(e, 0) + 1  # every push counts, arrived or not
            self._delivery_no += 1
            session.credit -= 1
            why = self._why[g].get(e, DUP_NONE)  # travels with the copy
            arrived = self.deliver[g].send(self._on_copy, (session, e, m, why))
            if arrived:
                self.ledger.born(g, m, arrived)
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
            if self._redelivers:
                state[e] = _OUT
                if not arrived:
                    self.ledger.never_born(g, m, Cause.DELIVER_LOST)
            else:  # at-most-once: the broker forgets a copy once it is sent
                state[e] = _DONE
                self._held[g] -= 1
                self.ledger.died(g, m, CAUSE_NONE if arrived else Cause.DELIVER_LOST)
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
                            self._why[g].get(e, DUP_NONE),
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
        if self.max_deliveries:
            self._pushes[g].pop(e, None)

    def _requeue(self, g: int, entries: list[int]) -> None:
        """Put unacked copies back at the front of the queue, to be pushed again, except those
        pushed ``max_deliveries`` times already: they end at the delivery limit."""
        if self.max_deliveries:
            entries = [e for e in entries if not self._at_limit(g, e)]
        self._redeliveries[g] += len(entries)
        self.ready[g].extendleft(reversed(entries))

    def _at_limit(self, g: int, e: int) -> bool:
        """Whether copy ``e`` reached the delivery limit; if so it is done for group ``g``."""
        pushes = self._pushes[g].get(e, 0)
        if pushes < self.max_deliveries:
            return False
        self.state[g][e] = _DONE
        self._held[g] -= 1
        self._limit_reached(g, self.log.msgs[e], pushes)
        self._consumed(self.log, e)
        self._settled(g, e)
        return True

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
            self.ledger.died(g, self.log.msgs[e], CAUSE_NONE)
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

    def join(self, instance: ConsumerSide) -> None:
        instance.session.joined = True
        self._push(instance.g)

    def want_more(self, instance: ConsumerSide) -> None:
        pass  # push-based: credit comes back with acks

    def _on_copy(self, payload: tuple[_PushSession, int, int, DupCause]) -> None:
        session, e, m, why = payload
        inst = session.instance
        if not inst.up:
            if self.trace:
                self.trace(Event.DROPPED, m, inst.g, inst.trace_id, e, Cause.CONSUMER_CRASH)
            self.ledger.died(inst.g, m, Cause.CONSUMER_CRASH)
            return
        if self._ack_first:
            self._ack(session, e)
        if self.trace:
            self.trace(Event.RECEIVED, m, inst.g, inst.trace_id, e, why)
        inst.accept(((m, (e, why)),))

    def processed(self, instance: ConsumerSide, m: int, token: Any) -> None:
        if not self._ack_first:
            self._ack(instance.session, token[0])

    def give_back(self, instance: ConsumerSide, m: int, token: Any) -> None:
        """A negative ack on the ``consume_ack`` link: the broker redelivers the copy at once
        (if the nack is lost, once its ack deadline passes)."""
        e, g = token[0], instance.g
        self.commit[g].send(self._on_nack, (instance.session, e))

    def _on_nack(self, payload: tuple[_PushSession, int]) -> None:
        if not self.broker.up:
            return
        session, e = payload
        g = session.instance.g
        held = self.outstanding[g].get(e)
        if held is None or held[0] is not session or self.state[g][e] != _OUT:
            return  # its deadline passed already: it was put back then
        del self.outstanding[g][e]
        session.credit += 1
        self.state[g][e] = _READY
        self._requeue(g, [e])
        self._push(g)

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

    def instance_down(self, instance: ConsumerSide) -> None:
        """Its unacked copies are redelivered when their deadlines pass."""
        if instance.crashed_after is not None:
            self._crashed_after[instance.g].add(instance.crashed_after[0])

    def instance_up(self, instance: ConsumerSide) -> None:
        self._push(instance.g)
