"""The scenario schema of SPEC section 5: every section, key, type, default and bound.

The validated :class:`Scenario` is immutable and carries every default, so a resolved copy
written next to the results reproduces the run on its own. Loading and the checks that need
more than one key are in :mod:`sim.scenario.loading`.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.registry.approaches import APPROACHES
from sim.registry.patterns import PATTERNS
from sim.registry.presets import PRESETS
from sim.registry.semantics import SEMANTICS

# ---------------------------------------------------------------------------------------------
# Value types

if TYPE_CHECKING:
    SemanticsName = str
    PatternName = str
    PresetName = str
    ApproachName = str
else:  # the allowed values are the registries' names (pydantic lists them in its refusals)
    SemanticsName = Literal[SEMANTICS.names]
    PatternName = Literal[PATTERNS.names]
    PresetName = Literal[PRESETS.names]
    ApproachName = Literal[APPROACHES.names]

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
"""A finite, non-negative duration in simulated seconds."""
OpenSeconds = Annotated[float, Field(ge=0.0)]
"""A non-negative duration that may be ``inf`` (for example a retention that never expires)."""
OpenCount = Annotated[float, Field(ge=0.0)]
"""A non-negative number of messages that may be ``inf`` (unbounded)."""
PositiveSeconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


def meaning(model: type[BaseModel], name: str) -> str | None:
    """What a key means: the docstring written under its field in this module (or a
    ``Field(description=...)``), for the docs' tables.

    Read from the source when the docs ask, not by pydantic's ``use_attribute_docstrings``
    when the schema is imported: that parse cost every ``dsim`` command about 70 ms of
    start-up."""
    described = model.model_fields[name].description
    if described:
        return described
    for cls in model.__mro__:
        found = _attribute_docs(cls).get(name)
        if found:
            return found
    return None


@functools.cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings that follow annotated attributes in ``cls``'s own body."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.ClassDef):
        return {}
    docs = {}
    for field, doc in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field.target.id] = inspect.cleandoc(doc.value.value)
    return docs


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)
    """``defer_build``: a model's validator is built when it first validates, not when this
    module is imported; ``Scenario``'s validator holds the nested models' schemas, so loading
    a file builds one validator instead of twenty (``dsim validate`` starts about 50 ms
    sooner; only the models created as field defaults are built at import)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_negative_zero(cls, value: Any) -> Any:
        """-0.0 is 0.0: it passes every ``>= 0`` check, but NumPy refuses it as a negative
        scale (``lognormal(sigma=-0.0)``: "sigma < 0")."""
        if isinstance(value, float) and value == 0.0:
            return 0.0
        return value


# ---------------------------------------------------------------------------------------------
# Distributions of durations (simulated seconds)


class Constant(_Model):
    """Every draw takes the same time (exact event sequences in tests)."""

    dist: Literal["constant"] = "constant"
    value: Seconds = 0.0
    """The duration every draw takes, seconds."""


class Exponential(_Model):
    """Memoryless durations: an M/M/1 station's service, a Poisson process's gaps."""

    dist: Literal["exponential"] = "exponential"
    mean: PositiveSeconds
    """The mean duration, seconds."""


class Uniform(_Model):
    """Any duration between ``low`` and ``high``, equally likely."""

    dist: Literal["uniform"] = "uniform"
    low: Seconds
    """The shortest duration, seconds."""
    high: Seconds
    """The longest duration, seconds (at least ``low``)."""

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"expected high >= low; got low={self.low}, high={self.high}")
        return self


class LogNormal(_Model):
    """Durations with a long right tail, as real network and service latencies have."""

    dist: Literal["lognormal"] = "lognormal"
    median: PositiveSeconds
    """The median duration, seconds."""
    sigma: Seconds
    """The standard deviation of the duration's logarithm (the tail's weight)."""

    @model_validator(mode="after")
    def _finite_mean(self) -> LogNormal:
        if not math.isfinite(_lognormal_mean(self.median, self.sigma)):
            raise ValueError(
                "expected a lognormal whose mean, median * exp(sigma^2 / 2), is a finite "
                f"number; got median={self.median}, sigma={self.sigma}"
            )
        return self


def _lognormal_mean(median: float, sigma: float) -> float:
    try:
        return median * math.exp(sigma * sigma / 2)
    except OverflowError:
        return math.inf


class Normal(_Model):
    """A normal distribution truncated at 0 (negative draws are redrawn)."""

    dist: Literal["normal"] = "normal"
    mean: Seconds
    """The mean before truncation, seconds."""
    sd: Seconds
    """The standard deviation before truncation, seconds."""


Distribution = Annotated[
    Constant | Exponential | Uniform | LogNormal | Normal, Field(discriminator="dist")
]
DISTRIBUTIONS = ("constant", "exponential", "uniform", "lognormal", "normal")


def mean_of(dist: Distribution) -> float:
    """The mean of a duration distribution, in seconds (used by theory checks and summaries)."""
    match dist:
        case Constant(value=v):
            return v
        case Exponential(mean=m):
            return m
        case Uniform(low=lo, high=hi):
            return (lo + hi) / 2
        case LogNormal(median=med, sigma=s):
            return _lognormal_mean(med, s)
        case Normal(mean=mu, sd=sd):
            if sd == 0:
                return mu
            z = mu / sd
            pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
            cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
            return mu + sd * pdf / cdf
    raise TypeError(f"not a distribution: {dist!r}")


# ---------------------------------------------------------------------------------------------
# Sections


class Spike(_Model):
    """A burst of load: a higher rate per producer for a while."""

    at: Seconds
    """When the spike starts, seconds."""
    duration: Seconds
    """How long it lasts, seconds."""
    rate: Rate
    """The rate per producer while it lasts (messages per second), in place of ``rate``."""


class Workload(_Model):
    """The producers and the messages they create."""

    producers: Annotated[int, Field(ge=1, le=10_000)] = 1
    """Producers, each creating messages at ``rate`` with its own sequence numbers."""
    arrival: Literal["poisson", "constant"] = "poisson"
    """``poisson`` (exponential gaps) or ``constant`` (evenly spaced) arrivals."""
    rate: Rate = 100.0
    """Messages per second per producer."""
    spikes: list[Spike] = Field(default_factory=list)
    """Bursts: ``[{ at, duration, rate }]`` tables; where they overlap the highest rate holds."""
    poison: Probability = 0.0
    """The fraction of messages whose processing always fails with an error (not a crash):
    the consumer gives such a copy back unacked every time, so only a delivery limit
    (``delivery.max_deliveries``) ends it."""

    def rate_segments(self, duration: float) -> list[tuple[float, float, float]]:
        """The arrival rate per producer as ``(start, end, rate)`` pieces covering
        ``[0, duration)``: a spike replaces the base rate while it lasts, and where spikes
        overlap the highest rate holds."""
        cuts = {0.0, duration}
        for s in self.spikes:
            cuts.update(t for t in (s.at, s.at + s.duration) if 0.0 < t < duration)
        points = sorted(cuts)
        segments = []
        for start, end in itertools.pairwise(points):
            rates = [s.rate for s in self.spikes if s.at <= start < s.at + s.duration]
            segments.append((start, end, max(rates) if rates else self.rate))
        return segments

    @property
    def peak_rate(self) -> float:
        """The highest rate any producer is ever asked for, times the producers (messages
        per second): what a downstream service must be sized for."""
        return max([self.rate, *(s.rate for s in self.spikes)]) * self.producers


class Backoff(_Model):
    """How long a producer waits before each retry."""

    kind: Literal["constant", "exponential"] = "exponential"
    """``exponential`` (retry ``k`` waits ``min(cap, base * multiplier^(k-1))``) or ``constant``
    (``base`` each time)."""
    base: Seconds = 0.05
    """The first retry's wait, seconds."""
    cap: OpenSeconds = 2.0
    """The longest wait between retries, seconds."""
    multiplier: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    """Exponential backoff grows by this factor per retry (Google's clients use 1.3)."""
    jitter: bool = True
    """Draw each wait uniformly between 0 and the computed delay."""


class Delivery(_Model):
    """The delivery semantics and pattern, and the broker mechanisms they rely on."""

    preset: PresetName | None = None
    """A real broker's documented defaults and mechanisms, under what the scenario sets."""
    semantics: SemanticsName = "at-least-once"
    """The delivery semantics (see the semantics table)."""
    pattern: PatternName = "streaming"
    """How stored copies reach the consumer groups: ``streaming`` or ``pubsub``."""
    ack_timeout: PositiveSeconds = 0.2
    """Seconds a producer waits for the broker's ack before resending; also the pub/sub ack
    deadline (unless ``ack_deadline`` is set) and the streaming fetch timeout."""
    ack_deadline: Annotated[float, Field(gt=0.0)] | None = None
    """Pub/sub: how long the broker waits for a consumer's ack before redelivering (a
    visibility timeout, an ack wait); unset, it is ``ack_timeout``."""
    max_attempts: Annotated[int, Field(ge=0)] = 0
    """Publish attempts a producer makes before giving a message up (cause ``producer_gave_up``); 0
    means no limit."""
    max_in_flight: Annotated[int, Field(ge=0)] = 0
    """Unacked messages a producer may have on the wire at once; later ones wait in its
    outbox (the wait counts in the publish latency). 0 means no limit."""
    backoff: Backoff = Backoff()
    """The wait between a producer's retries (a ``[delivery.backoff]`` table)."""
    dedup: Literal["id", "sequence"] = "id"
    """Exactly-once: the broker recognises a retried publish by its idempotency ``id``, or by the
    producer's ``sequence`` number (Kafka's idempotent producer)."""
    dedup_window: OpenSeconds = math.inf
    """Exactly-once, ``dedup = "id"``: seconds the broker remembers an idempotency id; a retry
    after it is stored again."""
    atomic_dedup: bool = True
    """The processed-id store writes the effect and the id in one transaction; ``false``: two
    writes, and a ``crash_after_process`` falls between them."""
    outbox: Literal["memory", "durable"] = "memory"
    """Where a producer keeps unacked messages: ``memory`` (lost in a producer crash) or
    ``durable`` (resent after the restart)."""
    poll_interval: Seconds = 0.0
    """Streaming only: 0 means long polls; otherwise an idle reader asks again after this."""
    retry_new_id: bool = False
    """Each publish attempt gets a new message id (Google Pub/Sub): neither the broker nor
    the consumer's processed-id store can recognise a retried publish."""
    max_deliveries: Annotated[int, Field(ge=0)] = 0
    """Deliveries of a copy to a group without an ack before it is not delivered again
    (pub/sub: every push counts, arrived or not; streaming: every read of the record). Then it
    moves to the group's dead-letter queue (``dead_letter``) or is dropped (cause
    ``delivery_limit``). 0 means no limit."""
    dead_letter: bool = False
    """A copy that reaches ``max_deliveries`` moves to the group's dead-letter queue (outcome
    ``dead_lettered``) instead of being dropped; it needs a limit (``max_deliveries`` >= 1)."""

    @field_validator("dead_letter")
    @classmethod
    def _needs_a_limit(cls, value: bool, info: ValidationInfo) -> bool:
        """Without a delivery limit no copy ever reaches the dead-letter queue: a file that
        asks for one has forgotten the limit, and would silently get none."""
        if value and info.data.get("max_deliveries") == 0:
            raise ValueError(
                "a dead-letter queue takes the copies that reach delivery.max_deliveries, "
                "and max_deliveries is 0 (no limit): set max_deliveries >= 1 or dead_letter "
                "= false"
            )
        return value

    @property
    def redelivery_after(self) -> float:
        """Seconds the broker waits for a consumer's ack before redelivering (the ack deadline)."""
        return self.ack_deadline if self.ack_deadline is not None else self.ack_timeout


class BrokerSettings(_Model):
    """The ``[broker]`` section: the broker's servers, storage and delivery settings."""

    servers: Annotated[int, Field(ge=1, le=10_000)] = 1
    """Servers working through the broker's FIFO queue of publishes (an M/M/c station)."""
    service_time: Distribution = Exponential(mean=0.001)
    """How long one server takes to handle a publish."""
    capacity: OpenCount = math.inf
    """Stored, unconsumed messages (a count; ``inf`` for unbounded)."""
    durability: Literal["durable", "memory"] = "durable"
    """``durable`` storage survives a broker crash; ``memory`` loses it (and the dedup state)."""
    flush_interval: Seconds = 0.0
    """``durable`` only: seconds between flushes to disk; a crash loses what was stored since the
    last one (0: every write is durable at once)."""
    retention: OpenSeconds = math.inf
    """Seconds a stored message is kept before retention deletes it (cause ``retention`` if a group
    had not read it); ``inf`` keeps everything."""
    prefetch: Annotated[int, Field(ge=1)] = 1
    """Unacked copies the broker pushes to one pub/sub instance, or records one streaming fetch
    returns."""
    partitions: Annotated[int, Field(ge=0, le=10_000)] = 0
    """Streaming only: log partitions; 0 means as many as the largest consumer group has
    instances, so every instance owns at least one."""

    @field_validator("capacity")
    @classmethod
    def _whole_capacity(cls, value: float) -> float:
        if math.isfinite(value) and value != math.floor(value):
            raise ValueError(f"expected a whole number of messages or inf; got {value}")
        return value


class LinkSettings(_Model):
    """One link's own latency, loss and duplication, over the network's defaults."""

    latency: Distribution | None = None
    """This link's latency; unset, the network's."""
    loss: Probability | None = None
    """This link's loss probability per copy; unset, the network's."""
    duplication: Probability | None = None
    """This link's duplication probability per copy; unset, the network's."""


LINKS = ("publish", "publish_ack", "deliver", "consume_ack")


class ResolvedLink(_Model):
    """A link with the network's defaults filled in: what the engine simulates."""

    latency: Distribution
    loss: Probability
    duplication: Probability


class Network(_Model):
    """The links between producer, broker and consumers, and their defaults."""

    latency: Distribution = Constant(value=0.002)
    """The default latency of every link."""
    loss: Probability = 0.0
    """The default loss probability of every link, per message copy."""
    duplication: Probability = 0.0
    """The default probability that a link delivers a copy twice."""
    publish: LinkSettings = LinkSettings()
    """The producer -> broker link (``[network.publish]``): ``latency``, ``loss``, ``duplication``,
    each defaulting to the network's."""
    publish_ack: LinkSettings = LinkSettings()
    """The broker -> producer link that carries publish acks (``[network.publish_ack]``)."""
    deliver: LinkSettings = LinkSettings()
    """The broker -> consumer link that carries message copies (``[network.deliver]``)."""
    consume_ack: LinkSettings = LinkSettings()
    """The consumer -> broker link that carries acks and offset commits
    (``[network.consume_ack]``)."""

    def link(self, name: str) -> ResolvedLink:
        """The settings of one link: its own values where given, the network's otherwise."""
        own: LinkSettings = getattr(self, name)
        return ResolvedLink(
            latency=own.latency if own.latency is not None else self.latency,
            loss=own.loss if own.loss is not None else self.loss,
            duplication=own.duplication if own.duplication is not None else self.duplication,
        )


NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class ConsumerGroup(_Model):
    """One downstream service: a group of instances that together apply every message once."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)] = "consumer"
    """The group's name (one downstream service), as results and ``--set consumers.<name>...`` name
    it."""
    instances: Annotated[int, Field(ge=1, le=10_000)] = 1
    """Competing consumer instances in the group."""
    service_time: Distribution = Exponential(mean=0.004)
    """How long an instance takes to process one message (apply its effect)."""
    join_at: OpenSeconds = 0.0
    """When the group subscribes, seconds; pub/sub and streaming ``latest`` owe it only what is
    stored from then on."""
    start: Literal["earliest", "latest"] = "earliest"
    """Streaming: where a group that joins starts reading, ``earliest`` (the whole retained log) or
    ``latest``."""
    crash_before_process: Probability = 0.0
    """Probability per delivery that the instance crashes after receiving the copy, before applying
    it."""
    crash_after_process: Probability = 0.0
    """Probability per delivery that the instance crashes after applying the effect, before acking
    it."""
    process_failure: Probability = 0.0
    """Applying the effect fails with an error (not a crash): nothing is applied and the
    instance processes the same copy again at once."""
    restart_time: Distribution = Constant(value=1.0)
    """How long a crashed instance stays down."""
    mtbf: Annotated[float, Field(gt=0.0)] = math.inf
    """Mean time between random crashes of each instance (exponential); ``inf`` for none."""
    mttr: PositiveSeconds = 1.0
    """Mean time to repair after a random crash (exponential)."""
    dedup_time: Seconds = 0.0
    """Semantics with a processed-id store (consumer dedup) only: seconds the id's lookup and
    write add to each processing (the transaction that makes the effect idempotent is not
    free)."""
    commit_interval: Seconds = 0.0
    """Streaming: seconds between an instance's cumulative offset commits (Kafka's
    ``auto.commit.interval.ms``); a crash replays what was processed since the last one. 0
    commits after each record."""
    session_timeout: Annotated[float, Field(gt=0.0)] = math.inf
    """Streaming: seconds an instance may be down before its partitions move to the group's
    live instances (Kafka's ``session.timeout.ms``); they move back when it returns. ``inf``:
    a crashed instance's partitions wait for it."""
    rebalance_time: Seconds = 0.0
    """Streaming: seconds every instance of the group stops fetching while partitions move
    (each reassignment is a fault window, kind ``rebalance``)."""


class Fault(_Model):
    """A fault window: what fails (a crash or a partition), at a time or at random (mtbf,
    mttr), and for how long."""

    target: str
    """What fails: ``broker``, ``producer``, ``producer:<n>``, ``consumer:<group>`` (every
    instance), ``consumer:<group>:<n>``, ``link:<name>`` or ``service:<name>`` (architecture
    comparisons)."""
    kind: Literal["crash", "partition"] = "crash"
    """``crash`` (a component is down) or ``partition`` (a link drops everything)."""
    at: Seconds | None = None
    """A scheduled window's start, seconds (with ``duration``)."""
    duration: Seconds | None = None
    """A scheduled window's length, seconds."""
    mtbf: PositiveSeconds | None = None
    """Random windows: the mean time between them, seconds (exponential; with ``mttr``)."""
    mttr: PositiveSeconds | None = None
    """Random windows: their mean length, seconds (exponential)."""

    @model_validator(mode="after")
    def _one_form(self) -> Fault:
        scheduled = self.at is not None or self.duration is not None
        random = self.mtbf is not None or self.mttr is not None
        if scheduled and random:
            raise ValueError(
                "expected either at/duration (scheduled) or mtbf/mttr (random), not both"
            )
        if scheduled and (self.at is None or self.duration is None):
            raise ValueError("a scheduled fault needs both 'at' and 'duration'")
        if random and (self.mtbf is None or self.mttr is None):
            raise ValueError("a random fault needs both 'mtbf' and 'mttr'")
        if not scheduled and not random:
            raise ValueError("expected at/duration (scheduled) or mtbf/mttr (random)")
        return self

    @property
    def scheduled(self) -> bool:
        """Whether the fault is one window at ``at`` (else windows at random, by ``mtbf`` and
        ``mttr``)."""
        return self.at is not None


class Service(_Model):
    """One downstream service of an architecture comparison (SPEC section 3)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    """The service's name (it names its consumer group in the event-driven design)."""
    latency: Distribution = Exponential(mean=0.05)
    """How long the service takes to apply the change (and answer a call), seconds."""
    failure: Probability = 0.0
    """Probability that applying the change fails (an error answer, nothing changed)."""
    critical: bool = True
    """Orchestration with ``require = "critical"``: whether this service's failure denies the
    request."""
    instances: Annotated[int, Field(ge=0, le=10_000)] = 0
    """Event-driven: the service's consumer instances; 0 means enough to keep it at most half
    busy at the peak request rate (a called service serves its callers concurrently)."""


class Architecture(_Model):
    """How a change (a new subscription) reaches N services: SPEC section 3."""

    services: Annotated[list[Service], Field(min_length=2)]
    """The downstream services, at least two (``[[architecture.services]]``); the first answers the
    user and, event-driven, publishes the event."""
    approaches: Annotated[list[ApproachName], Field(min_length=1)] = Field(
        default_factory=lambda: list(APPROACHES.names)
    )
    """The approaches compared (see the approaches table)."""
    call_timeout: PositiveSeconds = 2.0
    """Chain and orchestration: a caller gives up on a call after this (the service may still
    apply the change); a service in an outage does not answer at all."""
    compensate: bool = False
    """Chain and orchestration: undo the changes of a failed request (one more call each)."""
    require: Literal["all", "critical"] = "all"
    """Orchestration: which failures deny the request; with ``critical``, failed non-critical
    calls are repaired in the background."""
    repair_interval: PositiveSeconds = 1.0
    """Orchestration with ``require = "critical"``: seconds between retries of a failed call."""


class Scenario(_Model):
    """A whole scenario: workload, delivery, broker, network, consumers and faults."""

    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    """The data this scenario was validated from (overrides start from it)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    """The scenario's name (required); it names the default result directory."""
    description: str = ""
    """The question the scenario answers, in words (``dsim list`` shows it)."""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    """The scenario seed; replication ``r`` always gets the same seed derived from it."""
    replications: Annotated[int, Field(ge=1, le=100_000)] = 5
    """Replications per point (``--replications auto`` adds them until the intervals are
    precise)."""
    duration: Seconds = 60.0
    """Seconds of workload: messages are created in ``[0, duration)``."""
    drain: Seconds = 30.0
    """Seconds after ``duration`` for retries and redeliveries to settle; what is still in flight
    then is ``pending``."""
    timeline_step: Seconds = 0.0
    """Seconds between the samples of the timeline the charts draw; 0: a 200th of the run."""
    max_events: Annotated[int, Field(ge=0, lt=2**62)] = 0
    """Simulated events one replication may take before it is stopped as a runaway; 0: 1,000
    per expected message, 10 per expected timer event, plus 10^7 (see :func:`event_budget`)."""
    workload: Workload = Workload()
    """How messages arrive (``[workload]``)."""
    delivery: Delivery = Delivery()
    """The semantics, pattern and the producer's retries (``[delivery]``)."""
    broker: BrokerSettings = BrokerSettings()
    """The broker's servers, storage and delivery settings (``[broker]``)."""
    network: Network = Network()
    """The four links (``[network]``)."""
    consumers: Annotated[list[ConsumerGroup], Field(min_length=1)] = Field(
        default_factory=lambda: [ConsumerGroup()]
    )
    """The consumer groups, one ``[[consumers]]`` table each."""
    faults: list[Fault] = Field(default_factory=list)
    """Time windows of failure, one ``[[faults]]`` table each: scheduled (``at``, ``duration``) or
    random (``mtbf``, ``mttr``)."""
    architecture: Architecture | None = None
    """An architecture comparison instead of a delivery study; the event-driven approach
    uses the broker model configured by the other sections, with one consumer group per
    downstream service."""
    sweep: dict[str, list[Any] | dict[str, list[Any]]] = Field(default_factory=dict)
    """``"dotted.key" = [values]`` dimensions, or linked ones: ``[sweep.<name>]`` tables of
    ``"dotted.key" = [values]`` that move in step, with an optional ``label = [...]``."""

    @field_validator("sweep", mode="before")
    @classmethod
    def _sweep_entries(cls, value: Any) -> Any:
        """Each sweep entry is an array of values or a table of linked arrays; anything else
        is named with what was expected (pydantic would list both union branches)."""
        if isinstance(value, Mapping):
            for key, entry in value.items():
                if not isinstance(entry, list | tuple | Mapping):
                    raise ValueError(
                        f'sweep."{key}": expected an array of values, or a table of linked '
                        f'arrays; got {entry!r} ("*", every name, works for delivery.semantics, '
                        "delivery.pattern and delivery.preset)"
                    )
        return value

    def sweep_dimensions(self) -> list[tuple[str, list[tuple[Any, dict[str, Any]]]]]:
        """Each sweep dimension as (column, [(column value, the keys it sets)])."""
        dims = []
        for name, entry in self.sweep.items():
            if isinstance(entry, dict):
                keys = [k for k in entry if k != "label"]
                labels = entry.get("label") or entry[keys[0]]
                options = [(labels[i], {k: entry[k][i] for k in keys}) for i in range(len(labels))]
            else:
                options = [(v, {name: v}) for v in entry]
            dims.append((name, options))
        return dims

    @property
    def partitions(self) -> int:
        """Streaming log partitions in effect."""
        return self.broker.partitions or max(c.instances for c in self.consumers)

    def resolved(self) -> dict[str, Any]:
        """Every key with its value in effect, defaults included, as plain TOML-ready data.

        Each link's table is filled in with the values it runs with, so the resolved file
        pins every link: a later ``--set network.loss=...`` on it changes no link.
        """
        data = self.model_dump(mode="python")
        data["network"] = {
            "latency": data["network"]["latency"],
            "loss": self.network.loss,
            "duplication": self.network.duplication,
            **{name: self.network.link(name).model_dump() for name in LINKS},
        }
        if not data["sweep"]:
            del data["sweep"]
        if self.architecture is not None:
            del data["consumers"]  # made from the services
        raw = self._raw or {}
        for name in self._swept_presets():
            _unpin(data, PRESETS[name].values, raw)
        return _plain(data)  # unset optional keys (no preset, no ack_deadline) are left out

    def _swept_presets(self) -> list[str]:
        """The presets a sweep of ``delivery.preset`` runs (each point fills its own in)."""
        return [
            values["delivery.preset"]
            for _, options in self.sweep_dimensions()
            for _, values in options
            if isinstance(values.get("delivery.preset"), str)
            and values["delivery.preset"] in PRESETS
        ]

    def to_toml(self) -> str:
        """The resolved scenario as TOML text (see :meth:`resolved`)."""
        return tomli_w.dumps(_plain(self.resolved()))

    def with_values(self, values: Mapping[str, Any], *, source: str = "<overrides>") -> Scenario:
        """A copy with dotted keys set (``delivery.semantics``, ``consumers.billing.instances``).

        The keys are set in the data the scenario was validated from, so that a preset the
        scenario names fills in again whatever the new values leave unset.
        """
        from sim.scenario.loading import set_all, validate  # the loader validates the copy

        raw = copy.deepcopy(self._raw) if self._raw is not None else self.model_dump()
        set_all(raw, values.items(), source)
        return validate(raw, source=source)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Scenario:
        """A copy with top-level fields replaced, in the kept raw data as well."""
        duplicate = super().model_copy(update=update, deep=deep)
        if self._raw is not None:
            duplicate._raw = {**copy.deepcopy(self._raw), **(update or {})}
        return duplicate


def _unpin(data: dict[str, Any], preset: Mapping[str, Any], raw: Mapping[str, Any]) -> None:
    """Leave out of resolved ``data`` what a swept ``preset`` fills in and the scenario does
    not set itself (``raw``): pinned, it would override the preset at every point."""
    for key, value in preset.items():
        if key not in data:
            continue
        own = raw.get(key) if isinstance(raw, Mapping) else None
        if isinstance(value, Mapping) and isinstance(data[key], list):  # every [[consumers]]
            owns = own if isinstance(own, list) else []
            for i, table in enumerate(data[key]):
                mine = owns[i] if i < len(owns) and isinstance(owns[i], Mapping) else {}
                _unpin(table, value, mine)
        elif isinstance(value, Mapping) and isinstance(data[key], dict):
            _unpin(data[key], value, own if isinstance(own, Mapping) else {})
            if not data[key]:
                del data[key]
        elif own is None:
            del data[key]


def _plain(value: Any) -> Any:
    """Tuples to lists and ``None`` removed, for the TOML writer."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
