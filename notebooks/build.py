"""Build the notebooks from their cells and execute them, so they are committed with outputs.

    python notebooks/build.py            # every notebook
    python notebooks/build.py tuning     # one

The notebooks call the public API only (``sim`` and ``sim.plots``); this file only writes
their cells. The test suite executes the committed notebooks again (tests/test_notebooks.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent

SETUP = """\
import matplotlib.pyplot as plt
import pandas as pd

import sim
from sim import plots

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)


def table(results, figures, **where):
    \"\"\"Means of some figures, one row per point and group (a quick look at a summary).\"\"\"
    rows = results.summary[results.summary["figure"].isin(figures)]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    keys = [k for k in results.by if k != "scenario" and rows[k].nunique() > 1] or ["group"]
    return rows.pivot_table(index=keys, columns="figure", values="mean", sort=False)[figures]"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["tour"] = [
    (
        "md",
        """\
# A tour: the delivery semantics under each failure point

A message can go missing or arrive twice at four places: the publish on its way to the broker,
the broker's ack on its way back, the consumer between receiving and applying it, and the
consumer's ack on its way back. This notebook injects each failure alone and looks at what
each delivery semantics does with it, then all of them together with the built-in comparison
(`dsim run`). Everything comes from `sim`'s public API; numbers are means over replications
with 95% intervals.""",
    ),
    ("code", SETUP),
    (
        "md",
        """\
## One failure point at a time

`scenarios/delivery-semantics.toml` crosses every semantics with a *linked* sweep
dimension, `failure_point`: at each value exactly one failure is switched on.""",
    ),
    (
        "code",
        """\
scenario = sim.load_scenario("../scenarios/delivery-semantics.toml")
print(scenario.description)
results = sim.run(scenario, replications=3, jobs=2)
table(results, ["loss_rate", "dup_rate", "latency_p99", "publish_latency_p99"])""",
    ),
    (
        "md",
        """\
How to read it:

* **publish lost**: at-most-once loses exactly that share (nobody resends); the others resend
  after the ack timeout and lose nothing, paying in publish latency.
* **publish ack lost**: the broker stored the message but the producer never heard. At-least-once
  resends and the message is stored twice: a duplicate, `q/(1-q)` per message. Exactly-once
  sends the same idempotency id, so the broker drops the second copy; the idempotent consumer
  lets the broker store it and skips it by the message's id.
* **crash before process**: the consumer dies holding the message. At-most-once had already
  acknowledged it: lost. The others never acked, so it comes back.
* **crash after process**: the effect is applied but the ack never leaves. At-least-once
  applies it again; exactly-once and the idempotent consumer find the message id in their
  processed-id store.
* **consume ack lost**: harmless in streaming (the next commit covers it), a redelivery (and a
  duplicate) in pub/sub under at-least-once.""",
    ),
    (
        "code",
        """\
others = [c for c in plots.sweep_columns(results.summary) if c != "failure_point"]
sliced, _ = plots.at_point(results.summary, others)
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
plots.sweep_curve(sliced, "failure_point", "loss_rate", left, title="Lost")
plots.sweep_curve(sliced, "failure_point", "dup_rate", right, title="Applied twice or more")
for ax in (left, right):
    ax.tick_params(axis="x", labelrotation=20)
plots.system_legend(fig, plots.systems_of(sliced), points=True)""",
    ),
    (
        "md",
        """\
## All of them together, getting worse

The built-in comparison raises every failure point at once (`failure_rate`: the loss
probability of each link, consumer crashes at a tenth of it) and adds a one-second broker crash
at t = 10 s. It is what `dsim run` runs; here with fewer replications.""",
    ),
    (
        "code",
        """\
default = sim.load_scenario("../scenarios/default.toml")
study = sim.run(default, replications=3, jobs=2)
point, where = plots.at_point(study.summary, plots.sweep_columns(study.summary))
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
plots.rate_bars(point, "loss_rate", left, title="How many messages are lost?" + where)
plots.cause_bars(point, right)
plots.system_legend(fig, plots.systems_of(point))""",
    ),
    (
        "md",
        """\
At the harshest level at-most-once loses about one message in six, by three causes: the lost
publishes themselves, the broker crash (publishes that arrived while it was down), and consumer
crashes after the commit. The three that resend lose nothing. The price shows in
latency and traffic:""",
    ),
    (
        "code",
        """\
latency, _ = plots.at_point(study.latency, plots.sweep_columns(study.summary))
runs, _ = plots.at_point(study.runs, plots.sweep_columns(study.summary))
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
plots.latency_cdf(latency, "end_to_end", left, title="Time until the effect is applied")
plots.price_bars(runs, "wire_messages", "delivered", right,
                 title="Network messages per delivered message")
plots.system_legend(fig, plots.systems_of(point), lines=True)""",
    ),
    (
        "md",
        """\
The step near 0.1 s in the latency curves is the ack timeout: every message that needed a retry
waits for it. At-most-once in streaming is slower than in pub/sub because its commit is
synchronous (the records wait a round trip for the broker's confirmation). The timeline of one
replication shows where the damage happens:""",
    ),
    (
        "code",
        """\
columns = plots.sweep_columns(study.summary)
timeline, _ = plots.at_point(study.timeline, columns)
faults, _ = plots.at_point(study.faults, columns)
present = [s for s, p in plots.systems_of(timeline) if p == "pubsub"]
fig, axes = plt.subplots(3, len(present), figsize=(5 * len(present), 8), sharex=True,
                         sharey="row", layout="constrained", squeeze=False)
for j, semantics in enumerate(present):
    mine = timeline[(timeline.semantics == semantics) & (timeline.pattern == "pubsub")]
    windows = faults[(faults.semantics == semantics) & (faults.pattern == "pubsub")
                     & (faults.replication == 0)]
    last = j == len(present) - 1
    plots.throughput(mine, axes[0, j], faults=windows, legend=last)
    plots.backlog(mine, axes[1, j], faults=windows, legend=last)
    plots.damage(mine, axes[2, j], faults=windows, legend=last)
    axes[0, j].set_title(semantics, color=plots.semantics_colour(semantics), pad=14)""",
    ),
    (
        "md",
        """\
During the broker crash (grey) nothing is applied; at-most-once's losses jump, while the others
catch up in a burst after the restart. At-least-once's duplicates grow steadily: every lost ack
or crash after processing adds some. The idempotent consumer's and exactly-once's stay at zero.""",
    ),
]

NOTEBOOKS["streaming-vs-pubsub"] = [
    (
        "md",
        """\
# Streaming or pub/sub: replay, late joiners, retention, and what "lost" means

Both patterns hand the same messages to consumer groups, but they keep them differently.
A **streaming** broker keeps an append-only log for `retention`; each group reads it at its own
pace and can start from the beginning. A **pub/sub** broker keeps a copy per subscription until
it is acked, and only for subscriptions that existed when the message was stored. This notebook
shows what that means for a group that joins late, and for what counts as lost.""",
    ),
    ("code", SETUP),
    (
        "md",
        """\
## A late joiner

Two groups read the same events: `live` from the start, `late` from t = 20 s. The broker keeps
messages for 10 s. We compare three set-ups in one sweep: streaming where the late group starts
from the earliest retained record, streaming from the latest, and pub/sub.""",
    ),
    (
        "code",
        """\
late_joiner = sim.validate({
    "name": "late-joiner", "duration": 40.0, "drain": 20.0, "replications": 3,
    "workload": {"rate": 50.0},
    "broker": {"retention": 10.0, "prefetch": 50},
    "consumers": [
        {"name": "live", "service_time": {"dist": "exponential", "mean": 0.002}},
        {"name": "late", "join_at": 20.0, "service_time": {"dist": "exponential", "mean": 0.002}},
    ],
    "sweep": {"setup": {
        "label": ["streaming, earliest", "streaming, latest", "pubsub"],
        "delivery.pattern": ["streaming", "streaming", "pubsub"],
        "consumers.late.start": ["earliest", "latest", "earliest"],
    }},
})
results = sim.run(late_joiner, jobs=2)
table(results, ["eligible", "delivered", "lost", "lost_retention", "latency_p99"])""",
    ),
    (
        "md",
        """\
* **streaming, earliest**: the late group is eligible for every message ever produced (about
  2,000). Those stored more than 10 s before it joined were deleted by retention: they are
  **lost** for it (cause `retention`), about 500. The rest it replays, which is why its p99
  latency is around 10 s: a record's age when the replay reaches it.
* **streaming, latest**: it starts at the end of the log; earlier messages are not eligible, so
  nothing is lost, and latency is live latency.
* **pub/sub**: only messages stored after the subscription existed are eligible, the same
  count as `latest`. There is nothing to replay.

The latency distribution of the late group shows the replay:""",
    ),
    (
        "code",
        """\
latency = results.latency
late = latency[(latency["group"] == "late") & (latency["kind"] == "end_to_end")]
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
setups = ["streaming, earliest", "streaming, latest", "pubsub"]
for setup, style in zip(setups, ["-", "--", ":"], strict=True):
    mine = late[late["setup"] == setup]
    ax.plot(mine["seconds"], mine["quantile"], linestyle=style, label=setup)
ax.set_xscale("log")
ax.set_xlabel("latency (s, log scale)")
ax.set_ylabel("fraction of messages")
ax.set_title("The late group: a replay is old news")
ax.legend(frameon=False)""",
    ),
    (
        "md",
        """\
## What "lost" means in each pattern

In streaming, a delivery is a fetch: if the answer is lost on the network, the reader notices
after its timeout and fetches the same records again. Nothing is lost, it is late, and late
in a way that adds up: a reader that keeps up fetches about one record at a time, so every
record risks a 0.2 s stall (5% of 0.2 s is 10 ms, more than the 4 ms it takes to process it),
the reader falls behind and p99 latency reaches a second (several under at-most-once, whose
synchronous commit crosses the lossy link too). In pub/sub
the broker pushes copies; under at-most-once it forgets a copy once it is sent, so a copy lost
on the way is gone (cause `deliver_lost`). At-least-once redelivers it after the ack deadline.""",
    ),
    (
        "code",
        """\
lossy_delivery = sim.validate({
    "name": "lossy-delivery", "duration": 30.0, "drain": 10.0, "replications": 3,
    "workload": {"rate": 100.0}, "broker": {"prefetch": 10},
    "network": {"deliver": {"loss": 0.05}},
    "sweep": {"delivery.semantics": ["at-most-once", "at-least-once"],
              "delivery.pattern": ["streaming", "pubsub"]},
})
lossy = sim.run(lossy_delivery, jobs=2)
table(lossy, ["loss_rate", "lost_deliver_lost", "redeliveries", "latency_p99"])""",
    ),
    (
        "md",
        """\
The other difference is where a crash hurts. Under at-most-once a streaming reader commits the
offset before processing: a crash after the commit loses the records it held (cause
`consumer_crash`), the same as in pub/sub. Under at-least-once, a streaming group resumes from
its last commit after a crash: everything after it is read again. Commits are cumulative, so a
lost commit costs nothing unless a crash follows, whereas a lost ack in pub/sub is a
redelivery, and a duplicate:""",
    ),
    (
        "code",
        """\
lossy_acks = sim.validate({
    "name": "lossy-acks", "duration": 30.0, "drain": 10.0, "replications": 3,
    "workload": {"rate": 100.0}, "broker": {"prefetch": 10},
    "network": {"consume_ack": {"loss": 0.05}},
    "consumers": [{"name": "consumer", "crash_after_process": 0.002,
                   "restart_time": {"dist": "constant", "value": 0.2}}],
    "sweep": {"delivery.pattern": ["streaming", "pubsub"]},
})
acks = sim.run(lossy_acks, jobs=2)
table(acks, ["dup_rate", "redeliveries", "consumer_crashes"])""",
    ),
    (
        "md",
        """\
Streaming's duplicates come only from the crashes (each one re-reads what was processed since
the last commit arrived); pub/sub's mostly from the lost acks, one redelivery each.""",
    ),
]

NOTEBOOKS["tuning"] = [
    (
        "md",
        """\
# Tuning: ack timeouts, dedup windows, and where exactly-once stops being exactly-once

Three knobs decide most of what a delivery guarantee costs: how long a producer waits for an
ack before it resends, how long the broker remembers ids it has stored, and how the consumer
records what it has applied. This notebook turns each one and shows the broker presets' values.""",
    ),
    ("code", SETUP),
    (
        "md",
        """\
## The ack timeout: duplicates against latency

A producer that resends too early resends messages that were merely slow: the broker stores them
twice. One that waits too long makes the application wait on every lost ack. Here the broker's
service time has a heavy tail (lognormal) and 2% of acks are lost; we sweep the timeout.""",
    ),
    (
        "code",
        """\
slow_broker = sim.validate({
    "name": "ack-timeout", "duration": 30.0, "drain": 10.0, "replications": 3,
    "workload": {"rate": 100.0},
    "broker": {"service_time": {"dist": "lognormal", "median": 0.002, "sigma": 1.0},
               "servers": 2, "prefetch": 10},
    "network": {"publish_ack": {"loss": 0.02}},
    "delivery": {"backoff": {"kind": "exponential", "base": 0.01, "cap": 1.0, "jitter": True}},
    "sweep": {"delivery.ack_timeout": [0.01, 0.02, 0.05, 0.1, 0.3, 1.0]},
})
timeouts = sim.run(slow_broker, jobs=2)
table(timeouts, ["dup_rate", "broker_duplicates", "publish_latency_p99"])""",
    ),
    (
        "code",
        """\
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
for ax, figure in ((left, "dup_rate"), (right, "publish_latency_p99")):
    plots.sweep_curve(timeouts.summary, "delivery.ack_timeout", figure, ax)
    ax.set_xscale("log")
left.set_title("Premature retries: stored twice")
right.set_title("What the application waits for")""",
    ),
    (
        "md",
        """\
Below the broker's slow tail (its p99 is about 20 ms) duplicates climb: they are premature
retries of messages that were only slow, not lost. (Without backoff, timeouts well below the
tail feed a retry storm: every premature retry adds load, which makes more acks late.)
Above it only the 2% lost acks cause duplicates (`q/(1-q)`, about 2%), and each costs one
timeout of waiting, which the p99 publish latency shows growing with the timeout.

## The dedup window against the retry delay

Exactly-once's broker remembers each stored id for `dedup_window`. A retry that arrives after
the window is stored again. Here acks are lost 10% of the time and a retry comes after the
0.2 s timeout plus backoff, so windows shorter than that let retries through.""",
    ),
    (
        "code",
        """\
windows = sim.validate({
    "name": "dedup-window", "duration": 30.0, "drain": 10.0, "replications": 3,
    "workload": {"rate": 100.0},
    "network": {"publish_ack": {"loss": 0.1}},
    "delivery": {"semantics": "exactly-once"},
    "sweep": {"delivery.dedup_window": [0.0, 0.1, 0.2, 0.3, 0.5, 1.0, float("inf")]},
})
window = sim.run(windows, jobs=2)
table(window, ["broker_duplicates", "broker_deduplicated", "consumer_deduplicated", "dup_rate"])""",
    ),
    (
        "md",
        """\
Short windows let the broker store the retries (`broker_duplicates`), but the consumer's
processed-id store still catches every one (`consumer_deduplicated`), so effects are never
applied twice: the consumer's store is what makes this exactly-once. The broker presets set
these windows from the brokers' documentation (SQS FIFO 5 minutes, NATS JetStream 2 minutes;
RabbitMQ and Google Pub/Sub have none):""",
    ),
    (
        "code",
        """\
presets = sim.validate({
    "name": "presets", "duration": 30.0, "drain": 120.0, "replications": 3,
    "workload": {"rate": 50.0},
    "network": {"publish_ack": {"loss": 0.05}, "consume_ack": {"loss": 0.05}},
    "delivery": {"semantics": "exactly-once", "ack_timeout": 0.5},
    "sweep": {"delivery.preset": ["kafka", "rabbitmq", "sqs-fifo", "nats-jetstream",
                                  "gcp-pubsub"]},
})
brokers = sim.run(presets, jobs=2)
table(brokers, ["broker_duplicates", "dup_rate", "latency_p99", "publish_latency_p99"])""",
    ),
    (
        "md",
        """\
Every preset keeps effects exactly once except Google Pub/Sub: there a retried publish is a
new message with a new id, so neither the broker nor the consumer's processed-id store can tell
it from a new message. Its duplicates are the lost acks, `q/(1-q)`, the same as at-least-once.
(The publish timeout is set to 0.5 s for all of them here; Kafka's real 30 s request timeout
would hold its window back for 30 s after each lost ack.)

## Where exactly-once stops being exactly-once

Exactly-once here is a chain: the same id on every attempt, the broker's dedup, and a consumer
that writes the effect and the id in one transaction. Break one link and duplicates come back:""",
    ),
    (
        "code",
        """\
broken = sim.validate({
    "name": "broken-links", "duration": 30.0, "drain": 10.0, "replications": 3,
    "workload": {"rate": 100.0}, "broker": {"prefetch": 10},
    "network": {"publish_ack": {"loss": 0.05}},
    "delivery": {"semantics": "exactly-once", "pattern": "pubsub"},
    "consumers": [{"name": "consumer", "crash_after_process": 0.01,
                   "restart_time": {"dist": "constant", "value": 0.05}}],
    "sweep": {"variant": {
        "label": ["exactly-once", "non-atomic dedup", "new id per retry", "at-least-once"],
        "delivery.atomic_dedup": [True, False, True, True],
        "delivery.retry_new_id": [False, False, True, False],
        "delivery.semantics": ["exactly-once", "exactly-once", "exactly-once",
                               "at-least-once"],
    }},
})
chain = sim.run(broken, jobs=2)
table(chain, ["dup_rate", "broker_duplicates", "consumer_deduplicated"])""",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
plots.sweep_curve(chain.summary, "variant", "dup_rate", ax,
                  title="Duplicates when one link of the chain breaks")""",
    ),
    (
        "md",
        """\
* **non-atomic dedup**: the effect and the id are two writes; a crash between them (1% of
  deliveries here) leaves the effect without the id, and the redelivered copy is applied again,
  `c/(1-c)` per message.
* **new id per retry**: the publish side falls back to at-least-once.
* **at-least-once** has both kinds of duplicates.""",
    ),
    (
        "md",
        """\
## Poison messages: a delivery limit and a dead-letter queue

"Deliver the order or send an email explaining why it wasn't successful." An order whose
processing fails every time (a *poison message*) is retried for ever unless a delivery limit
ends it. `scenarios/poison-orders.toml` makes one order in a thousand poison, in both patterns,
with no limit, with a limit of 5 deliveries that drops the order, and with the same limit and
a dead-letter queue.""",
    ),
    (
        "code",
        """\
poison = sim.load_scenario("../scenarios/poison-orders.toml")
poisoned = sim.run(poison, jobs=2)
table(poisoned, ["dead_lettered", "lost", "pending", "latency_p99"])""",
    ),
    (
        "md",
        """\
Without a limit, streaming stops at the poison record: the consumer cannot commit past it,
so every later order of its partition is still `pending` at the end (head-of-line blocking).
Pub/sub pushes the poison copy again and again, and only the poison orders stay pending (the
p99 latency pays for the consumer time they take). A limit of 5 ends it in both patterns:
dropped, the order is lost (`lost_delivery_limit`) and nobody is told; with a dead-letter
queue it is `dead_lettered`, where the email can be sent from. A traced run tells one:""",
    ),
    (
        "code",
        """\
one = poison.with_values({"sweep": {}, "delivery.pattern": "streaming",
                          "delivery.max_deliveries": 5, "delivery.dead_letter": True})
traced = sim.simulate(one, 1, trace=True)
moved = traced.trace[traced.trace["event"] == "dead_lettered"]["message"]
print(sim.explain.story(traced.trace, int(moved.iloc[0])))""",
    ),
    (
        "md",
        """\
## A Kafka consumer group: auto-commit and rebalances

Most duplicates of a real Kafka consumer group come from two things: offsets committed every
few seconds (`enable.auto.commit`, every 5 s) and partitions moving between instances. In
`scenarios/kafka-group.toml` one of three instances is down for two minutes; after the
session timeout (45 s) its partition moves to the others, which read it again from the last
commit, and back when it returns. Each move pauses the group (3 s here).""",
    ),
    (
        "code",
        """\
kafka = sim.load_scenario("../scenarios/kafka-group.toml")
group = sim.run(kafka, jobs=2)
table(group, ["dup_rate", "dup_rebalance", "latency_p99", "latency_p999"])""",
    ),
    (
        "code",
        """\
first = group.faults[group.faults["replication"] == 0]
print(first[["commits", "target", "kind", "start", "end"]].to_string(index=False))
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
plots.sweep_curve(group.summary, "commits", "dup_rebalance", ax,
                  title="Orders applied again after a rebalance, per run")""",
    ),
    (
        "md",
        """\
With a commit after each record the move replays nothing; with auto-commit the new reader
applies again what the lost instance had processed since its last commit, about
`l * T / 2` records (here 33 orders/s on the partition and `T` = 5 s). The orders of the lost
instance's partition wait for the session timeout and the pause (the p99.9 latency), not for
the two minutes of the outage.""",
    ),
]


NOTEBOOKS["architectures"] = [
    (
        "md",
        """\
# Chain, orchestration or events: telling services about a subscription

A user subscribes, and four services must learn of it: `accounts` (which answers the user),
`billing`, and two non-critical ones, `email` and `recommendations`. Three ways to do it:

* a **chain** of synchronous calls, each service calling the next;
* an **orchestrator** that calls all of them in parallel;
* **events**: `accounts` applies the change, answers the user at once, and publishes one event
  through a broker; the other services consume it.

`scenarios/subscription.toml` sets the services up (latencies, failure probabilities) and takes
`recommendations` down from t = 15 s for a longer and longer outage.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
story = sim.load_scenario("../scenarios/subscription.toml")
print(story.description)
results = sim.run(story, replications=3, jobs=2)
table(results, ["success_rate", "user_latency_p50", "user_latency_p99", "inconsistent_rate",
                "agree_time_p99"], recommendations_down_s=20.0)""",
    ),
    (
        "md",
        """\
With recommendations down for 20 of the 60 seconds:

* the **chain** and the **orchestrator** fail a third of the requests: a non-critical service
  being down denies the subscription. Worse, a failed request leaves the services that already
  applied it changed: about a third of all requests end **inconsistent**. And the user waits
  for the call timeout (1 s) on each of those.
* **events** answer the user after `accounts` alone, in about 20 ms, whatever happens
  downstream, and every service eventually has every subscription. The price is the time
  until they all agree: up to the length of the outage, since recommendations catches up when
  it is back.""",
    ),
    (
        "code",
        """\
point, where = plots.at_point(results.summary, ["recommendations_down_s"],
                              {"recommendations_down_s": 20.0})
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="constrained")
for ax, (figure, title) in zip(axes, [("success_rate", "Succeeded"),
                                      ("user_latency_p99", "User wait, p99"),
                                      ("inconsistent_rate", "Left inconsistent"),
                                      ("agree_time_p99", "Until all agree, p99")]):
    plots.approach_bars(point, figure, ax, title)""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(1, 3, figsize=(16, 4), layout="constrained")
for ax, figure in zip(axes, ["success_rate", "inconsistent_rate", "agree_time_p99"]):
    plots.approach_curve(results.summary, "recommendations_down_s", figure, ax)
axes[0].legend(frameon=False)""",
    ),
    (
        "md",
        """\
## Making the synchronous designs consistent, and what it costs

Two fixes are available to the synchronous designs. A chain can **compensate**: undo the
services it already changed when a later one fails (one more call each, so failed requests
take longer). An orchestrator can **require only the critical services** and repair the rest
in the background, retrying every second.""",
    ),
    (
        "code",
        """\
fixes = story.with_values({
    "sweep": {"fix": {"label": ["none", "compensate", "critical only"],
                      "architecture.compensate": [False, True, False],
                      "architecture.require": ["all", "all", "critical"]}},
    "faults[0].duration": 20.0,
})
fixed = sim.run(fixes, replications=3, jobs=2)
table(fixed, ["success_rate", "user_latency_p99", "inconsistent_rate", "agree_time_p99"])""",
    ),
    (
        "md",
        """\
Compensation makes the chain and the orchestrator consistent (nothing half-applied) but does not
make them succeed more; requiring only the critical services restores success for the
orchestrator, and its repairs bring every service in line seconds later, like the events do,
while the user still waits for the slowest call.

## Events are only as good as their delivery semantics

The event-driven design hands the hard part to the broker. With lost acks and a service whose
consumer crashes sometimes, at-least-once delivers every event, some twice; exactly-once (an
idempotency id and a processed-id store) applies each once.""",
    ),
    (
        "code",
        """\
events = story.with_values({
    "architecture.approaches": ["event-driven"],
    "network.consume_ack.loss": 0.05, "network.publish_ack.loss": 0.05,
    "faults[0].duration": 10.0,
    "sweep": {"delivery.semantics": ["at-most-once", "at-least-once", "exactly-once"]},
})
semantics = sim.run(events, replications=3, jobs=2)
table(semantics, ["success_rate", "inconsistent", "unsettled", "duplicates", "agree_time_p99"])""",
    ),
    (
        "md",
        """\
At-most-once leaves some services without the subscription for good (inconsistent), at-least-
once applies some twice downstream, exactly-once neither. That is the choice the other
notebooks explore in detail.""",
    ),
]

NOTEBOOKS["explain"] = [
    (
        "md",
        """\
# Why was this order charged twice? Explaining single messages

Counting duplicates says how often; a trace says why. `scenarios/orders.toml` charges orders
under at-least-once with lost publish acks, billing crashes after charging and a broker crash
at 30 s. Traced (`trace=True`, or `dsim run --trace`), every event of every message of
replication 0 is kept; `sim.explain` turns it into stories and counts by cause, and
`plots.sequence_diagram` draws it.""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
from sim import explain

orders = sim.load_scenario("../scenarios/orders.toml", ["delivery.semantics=at-least-once"])
run = sim.simulate(orders, seed=7, trace=True)
trace = run.trace
print(f"{len(trace):,} events for {run.rows[0]['produced']:,} orders")
trace.head(8)""",
    ),
    (
        "md",
        """\
## Every duplicate has one cause

`representatives` counts the duplicate charges per cause and picks a message whose
duplicates all have that cause: its story is the typical one. The counts are the
`dup_<cause>` columns of `runs.csv`.""",
    ),
    (
        "code",
        """\
billing = trace[trace["group"].isna() | (trace["group"] == "billing")]
causes = explain.representatives(billing, "duplicated")
causes""",
    ),
    (
        "code",
        """\
for cause, example in zip(causes["cause"], causes["example"]):
    print(f"{cause}:")
    print(explain.story(billing, int(example)), end="\\n\\n")""",
    ),
    (
        "md",
        """\
A lost publish ack makes the producer resend an order the broker had stored: the broker
stores it again (at-least-once has no idempotency id) and billing charges both copies. A
crash after charging, before the commit, makes billing read the order again after its
restart. The sequence diagrams of the two examples (billing's part of them) show how.""",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(9, 6), layout="constrained")
plots.sequence_diagram(billing, message=int(causes["example"].iloc[0]), ax=ax,
                       title="A duplicate charge caused by a lost publish ack")
plt.show()""",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
plots.sequence_diagram(billing, message=int(causes["example"].iloc[1]), ax=ax,
                       title="A duplicate charge caused by a crash after charging")
plt.show()""",
    ),
    (
        "md",
        """\
## What the broker crash did

A time slice shows every message around the crash at 30 s: publishes pile up unanswered
while the broker is down, and are resent after it restarts.""",
    ),
    (
        "code",
        """\
faults = pd.DataFrame(run.windows)  # the run's fault windows (dataclasses), shaded
fig, ax = plt.subplots(figsize=(9, 7), layout="constrained")
plots.sequence_diagram(trace, start=29.95, end=30.1, ax=ax, faults=faults,
                       title="Messages around the broker crash at 30 s")
plt.show()""",
    ),
]


def build(name: str) -> Path:
    cells = [
        nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        for kind, text in NOTEBOOKS[name]
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    path = HERE / f"{name}.ipynb"
    nbformat.write(notebook, path)
    print(f"{path.name}: executed in {time.perf_counter() - started:.0f} s")
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or list(NOTEBOOKS):
        build(name)
