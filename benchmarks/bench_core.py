"""Core throughput: delivery-sim against the same pipeline written in plain SimPy.

The pipeline (fixed, so figures compare across commits): one Poisson producer at 100
messages/s, a publish link and a publish-ack link (2 ms each, 10% of acks lost), a broker
station (exponential service, 1 ms), an append-only log, a consumer station (exponential
service, 4 ms, 1% of deliveries crash it after processing, 50 ms restart), at-least-once
(retry after 0.2 s without an ack; commit after processing; a crashed consumer re-reads from
its last commit).

Two references, using no delivery-sim code: the *minimal* model, as fast as plain SimPy
allows (three long-lived generator processes, link delays and ack timeouts as callbacks on
``env.timeout``, ``simpy.Store`` queues, stdlib ``random``, a dict of effect counts: what a
competent SimPy user would write), and the *naive* one (a process per message waiting on
``ack | timeout``), kept for comparison. All three are timed alternately in this process, so
their ratios hold on a noisy machine. delivery-sim runs with every fault hook on and tracing
off, and counts everything it always counts (the ledger, the causes).

    python benchmarks/bench_core.py [--sizes 100000 1000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Generator

import numpy as np
import simpy

import sim.engine
from sim import Simulation, validate

RATE = 100.0
LINK = 0.002
ACK_LOSS = 0.1
CRASH = 0.01
ACK_TIMEOUT = 0.2


def reference_scenario(messages: int) -> dict:
    return {
        "name": "bench-core",
        "duration": messages / RATE,
        "drain": 30.0,
        "workload": {"rate": RATE},
        "delivery": {"semantics": "at-least-once", "pattern": "streaming"},
        "network": {
            "latency": {"dist": "constant", "value": LINK},
            "publish_ack": {"loss": ACK_LOSS},
        },
        "consumers": [
            {
                "name": "c",
                "crash_after_process": CRASH,
                "restart_time": {"dist": "constant", "value": 0.05},
            }
        ],
    }


def run_delivery_sim(messages: int, seed: int) -> dict:
    simulation = Simulation(validate(reference_scenario(messages)), seed)
    started = time.perf_counter()
    result = simulation.run()
    seconds = time.perf_counter() - started
    row = result.rows[0]
    events = simulation.clock.env._eid  # SimPy's event counter: events scheduled in the run
    return {
        "seconds": seconds,
        "messages": row["produced"],
        "events": next(events),
        "dup_rate": row["dup_rate"],
        "lost": row["lost"],
    }


class Minimal:
    """The pipeline as fast as plain SimPy allows: a producer, a broker and a consumer
    process, link delays and ack timeouts as callbacks, a Store for the broker's inbox and
    one for the log (records reach it over the deliver link), a flag per acked message."""

    def __init__(self, messages: int, seed: int):
        self.env = env = simpy.Environment()
        self.random = random.Random(seed)
        self.duration = messages / RATE
        self.inbox: simpy.Store = simpy.Store(env)
        self.log: simpy.Store = simpy.Store(env)
        self.acked: dict[int, bool] = {}
        self.effects: dict[int, int] = {}
        self.produced = 0
        env.process(self.producer())
        env.process(self.broker())
        env.process(self.consumer())

    def later(self, delay: float, call: Callable[[object], None]) -> None:
        self.env.timeout(delay).callbacks.append(call)

    def producer(self) -> Generator[simpy.Event, object, None]:
        env, draw = self.env, self.random.expovariate
        while True:
            yield env.timeout(draw(RATE))
            if env.now >= self.duration:
                return
            self.publish(self.produced)
            self.produced += 1

    def publish(self, m: int) -> None:
        self.later(LINK, lambda _: self.inbox.put(m))
        self.later(ACK_TIMEOUT, lambda _: None if self.acked.get(m) else self.publish(m))

    def broker(self) -> Generator[simpy.Event, object, None]:
        env, draw, uniform = self.env, self.random.expovariate, self.random.random
        while True:
            m = yield self.inbox.get()
            yield env.timeout(draw(1000.0))
            self.later(LINK, lambda _, m=m: self.log.put(m))  # the deliver link
            if uniform() >= ACK_LOSS:
                self.later(LINK, lambda _, m=m: self.acked.__setitem__(m, True))

    def consumer(self) -> Generator[simpy.Event, object, None]:
        env, draw, uniform = self.env, self.random.expovariate, self.random.random
        effects = self.effects
        while True:
            m = yield self.log.get()
            while True:
                yield env.timeout(draw(250.0))
                effects[m] = effects.get(m, 0) + 1
                if uniform() >= CRASH:
                    break
                yield env.timeout(0.05)  # crashed before the commit: read it again
            self.later(LINK, lambda _: None)  # the commit on the consume-ack link

    def run(self) -> dict:
        started = time.perf_counter()
        self.env.run(until=self.duration + 30.0)
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "messages": self.produced,
            "events": next(self.env._eid),
            "dup_rate": sum(n - 1 for n in self.effects.values()) / max(1, self.produced),
            "lost": self.produced - len(self.effects),
        }


class Naive:
    """The same pipeline in the naive style: a process per message for the publish and its
    retries (waiting on ``ack | timeout``), a Resource for the broker, a Store-like list for
    the log, a long-lived consumer process."""

    def __init__(self, messages: int, seed: int):
        self.env = simpy.Environment()
        self.rng = np.random.default_rng(seed)
        self.duration = messages / RATE
        self.broker = simpy.Resource(self.env, capacity=1)
        self.log: list[int] = []
        self.new_record = self.env.event()
        self.committed = 0
        self.effects: dict[int, int] = {}
        self.produced = 0
        self.env.process(self.producer())
        self.env.process(self.consumer())

    def producer(self) -> Generator[simpy.Event, object, None]:
        env = self.env
        while True:
            yield env.timeout(self.rng.exponential(1 / RATE))
            if env.now >= self.duration:
                return
            env.process(self.publish(self.produced))
            self.produced += 1

    def publish(self, m: int) -> Generator[simpy.Event, object, None]:
        env = self.env
        while True:
            acked = env.event()
            env.process(self.attempt(m, acked))
            yield acked | env.timeout(ACK_TIMEOUT)
            if acked.triggered:
                return

    def attempt(self, m: int, acked: simpy.Event) -> Generator[simpy.Event, object, None]:
        env = self.env
        yield env.timeout(LINK)
        with self.broker.request() as slot:
            yield slot
            yield env.timeout(self.rng.exponential(0.001))
        self.log.append(m)
        if not self.new_record.triggered:
            self.new_record.succeed()
        if self.rng.random() >= ACK_LOSS:
            yield env.timeout(LINK)
            if not acked.triggered:
                acked.succeed()

    def consumer(self) -> Generator[simpy.Event, object, None]:
        env = self.env
        position = 0
        while True:
            if position >= len(self.log):
                self.new_record = env.event()
                yield self.new_record
                continue
            m = self.log[position]
            yield env.timeout(LINK)  # the record on the deliver link
            yield env.timeout(self.rng.exponential(0.004))
            self.effects[m] = self.effects.get(m, 0) + 1
            if self.rng.random() < CRASH:  # crashed before the commit: re-read from it
                yield env.timeout(0.05)
                position = self.committed
                continue
            position += 1
            env.process(self.commit(position))

    def commit(self, offset: int) -> Generator[simpy.Event, object, None]:
        yield self.env.timeout(LINK)
        self.committed = max(self.committed, offset)

    def run(self) -> dict:
        started = time.perf_counter()
        self.env.run(until=self.duration + 30.0)
        seconds = time.perf_counter() - started
        duplicates = sum(n - 1 for n in self.effects.values())
        return {
            "seconds": seconds,
            "messages": self.produced,
            "events": next(self.env._eid),
            "dup_rate": duplicates / max(1, self.produced),
            "lost": 0,
        }


def run_minimal(messages: int, seed: int) -> dict:
    return Minimal(messages, seed).run()


def run_naive(messages: int, seed: int) -> dict:
    return Naive(messages, seed).run()


def measure(messages: int, repeat: int) -> dict:
    ours, minimal, naive = [], [], []
    for seed in range(1, repeat + 1):  # alternate, so all three see the same machine
        ours.append(run_delivery_sim(messages, seed))
        minimal.append(run_minimal(messages, seed))
        naive.append(run_naive(messages, seed))

    def rate(runs: list[dict], key: str = "messages") -> float:
        return statistics.median(r[key] / r["seconds"] for r in runs)

    def per_message(runs: list[dict]) -> float:
        return statistics.median(r["events"] / r["messages"] for r in runs)

    def ratio(theirs: list[dict]) -> float:
        return statistics.median(
            (o["messages"] / o["seconds"]) / (t["messages"] / t["seconds"])
            for o, t in zip(ours, theirs, strict=True)
        )

    return {
        "messages": messages,
        "delivery_sim_messages_per_s": rate(ours),
        "minimal_messages_per_s": rate(minimal),
        "naive_messages_per_s": rate(naive),
        "ratio_to_minimal": ratio(minimal),
        "ratio_to_naive": ratio(naive),
        "delivery_sim_events_per_message": per_message(ours),
        "minimal_events_per_message": per_message(minimal),
        "naive_events_per_message": per_message(naive),
        "dup_rate": {
            "delivery_sim": statistics.mean(r["dup_rate"] for r in ours),
            "minimal": statistics.mean(r["dup_rate"] for r in minimal),
            "naive": statistics.mean(r["dup_rate"] for r in naive),
        },
        "expected_dup_rate": "about q/(1-q) = %.3f from acks, plus crash re-reads"
        % (ACK_LOSS / (1 - ACK_LOSS)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [
        measure(n, args.repeat if n <= 100_000 else max(1, args.repeat - 1)) for n in args.sizes
    ]
    print(
        f"{'messages':>10} {'ours msg/s':>11} {'minimal':>9} {'naive':>9} {'x minimal':>9} "
        f"{'x naive':>8} {'ev/msg ours':>11} {'minimal':>8} {'naive':>6}"
    )
    for r in results:
        print(
            f"{r['messages']:>10} {r['delivery_sim_messages_per_s']:>11.0f} "
            f"{r['minimal_messages_per_s']:>9.0f} {r['naive_messages_per_s']:>9.0f} "
            f"{r['ratio_to_minimal']:>9.2f} {r['ratio_to_naive']:>8.2f} "
            f"{r['delivery_sim_events_per_message']:>11.1f} "
            f"{r['minimal_events_per_message']:>8.1f} {r['naive_events_per_message']:>6.1f}"
        )
    print("references: minimal = long-lived processes and callbacks (what a competent SimPy")
    print("user writes); naive = a process per message waiting on ack | timeout")
    print(f"engine: {sim.engine.build()}")
    if args.json:
        print(json.dumps({"benchmark": "core", "engine": sim.engine.build(), "results": results}))
    assert all(math.isfinite(r["ratio_to_minimal"]) for r in results)


if __name__ == "__main__":
    main()
