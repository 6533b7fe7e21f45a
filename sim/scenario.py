"""Scenario files: the schema of SPEC section 5, loading, overrides and validation.

A scenario is refused before anything runs when it has an unknown key, a wrong type or an
impossible value; every refusal names the file, the key path and what was expected. The
validated :class:`Scenario` is immutable and carries every default, so a resolved copy written
next to the results reproduces the run on its own.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.presets import apply_preset

# ---------------------------------------------------------------------------------------------
# Value types

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
"""A finite, non-negative duration in simulated seconds."""
OpenSeconds = Annotated[float, Field(ge=0.0)]
"""A non-negative duration that may be ``inf`` (for example a retention that never expires)."""
PositiveSeconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

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
    dist: Literal["constant"] = "constant"
    value: Seconds = 0.0


class Exponential(_Model):
    dist: Literal["exponential"] = "exponential"
    mean: PositiveSeconds


class Uniform(_Model):
    dist: Literal["uniform"] = "uniform"
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"expected high >= low; got low={self.low}, high={self.high}")
        return self


class LogNormal(_Model):
    dist: Literal["lognormal"] = "lognormal"
    median: PositiveSeconds
    sigma: Seconds

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
    sd: Seconds


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
    at: Seconds
    duration: Seconds
    rate: Rate


class Workload(_Model):
    producers: Annotated[int, Field(ge=1, le=10_000)] = 1
    arrival: Literal["poisson", "constant"] = "poisson"
    rate: Rate = 100.0
    """Messages per second per producer."""
    spikes: list[Spike] = Field(default_factory=list)


class Backoff(_Model):
    kind: Literal["constant", "exponential"] = "exponential"
    base: Seconds = 0.05
    cap: OpenSeconds = 2.0
    multiplier: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    """Exponential backoff grows by this factor per retry (Google's clients use 1.3)."""
    jitter: bool = True


PRESET_NAMES = ("kafka", "rabbitmq", "sqs-fifo", "nats-jetstream", "gcp-pubsub")


class Delivery(_Model):
    preset: Literal["kafka", "rabbitmq", "sqs-fifo", "nats-jetstream", "gcp-pubsub"] | None = None
    """A real broker's documented defaults and mechanisms, under what the scenario sets."""
    semantics: Literal["at-most-once", "at-least-once", "exactly-once"] = "at-least-once"
    pattern: Literal["streaming", "pubsub"] = "streaming"
    ack_timeout: PositiveSeconds = 0.2
    ack_deadline: Annotated[float, Field(gt=0.0)] | None = None
    """Pub/sub: how long the broker waits for a consumer's ack before redelivering (a
    visibility timeout, an ack wait); unset, it is ``ack_timeout``."""
    max_attempts: Annotated[int, Field(ge=0)] = 0
    max_in_flight: Annotated[int, Field(ge=0)] = 0
    """Unacked messages a producer may have on the wire at once; later ones wait in its
    outbox (the wait counts in the publish latency). 0 means no limit."""
    backoff: Backoff = Backoff()
    dedup: Literal["id", "sequence"] = "id"
    dedup_window: OpenSeconds = math.inf
    atomic_dedup: bool = True
    outbox: Literal["memory", "durable"] = "memory"
    poll_interval: Seconds = 0.0
    """Streaming only: 0 means long polls; otherwise an idle reader asks again after this."""
    retry_new_id: bool = False
    """Each publish attempt gets a new message id (Google Pub/Sub): neither the broker nor
    the consumer's processed-id store can recognise a retried publish."""

    @property
    def redelivery_after(self) -> float:
        return self.ack_deadline if self.ack_deadline is not None else self.ack_timeout


class Broker(_Model):
    servers: Annotated[int, Field(ge=1, le=10_000)] = 1
    service_time: Distribution = Exponential(mean=0.001)
    capacity: OpenSeconds = math.inf
    """Stored, unconsumed messages (a count; ``inf`` for unbounded)."""
    durability: Literal["durable", "memory"] = "durable"
    flush_interval: Seconds = 0.0
    retention: OpenSeconds = math.inf
    prefetch: Annotated[int, Field(ge=1)] = 1
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
    latency: Distribution | None = None
    loss: Probability | None = None
    duplication: Probability | None = None


LINKS = ("publish", "publish_ack", "deliver", "consume_ack")


class ResolvedLink(_Model):
    latency: Distribution
    loss: Probability
    duplication: Probability


class Network(_Model):
    latency: Distribution = Constant(value=0.002)
    loss: Probability = 0.0
    duplication: Probability = 0.0
    publish: LinkSettings = LinkSettings()
    publish_ack: LinkSettings = LinkSettings()
    deliver: LinkSettings = LinkSettings()
    consume_ack: LinkSettings = LinkSettings()

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
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)] = "consumer"
    instances: Annotated[int, Field(ge=1, le=10_000)] = 1
    service_time: Distribution = Exponential(mean=0.004)
    join_at: OpenSeconds = 0.0
    start: Literal["earliest", "latest"] = "earliest"
    crash_before_process: Probability = 0.0
    crash_after_process: Probability = 0.0
    process_failure: Probability = 0.0
    """Applying the effect fails with an error (not a crash): nothing is applied and the
    instance processes the same copy again at once."""
    restart_time: Distribution = Constant(value=1.0)
    mtbf: Annotated[float, Field(gt=0.0)] = math.inf
    """Mean time between random crashes of each instance (exponential); ``inf`` for none."""
    mttr: PositiveSeconds = 1.0
    """Mean time to repair after a random crash (exponential)."""
    dedup_time: Seconds = 0.0
    """Exactly-once only: seconds the processed-id lookup and write add to each processing
    (the transaction that makes the effect idempotent is not free)."""


class Fault(_Model):
    target: str
    kind: Literal["crash", "partition"] = "crash"
    at: Seconds | None = None
    duration: Seconds | None = None
    mtbf: PositiveSeconds | None = None
    mttr: PositiveSeconds | None = None

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
        return self.at is not None


class Service(_Model):
    """One downstream service of an architecture comparison (SPEC section 3)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    latency: Distribution = Exponential(mean=0.05)
    """How long the service takes to apply the change (and answer a call), seconds."""
    failure: Probability = 0.0
    """Probability that applying the change fails (an error answer, nothing changed)."""
    critical: bool = True
    instances: Annotated[int, Field(ge=0, le=10_000)] = 0
    """Event-driven: the service's consumer instances; 0 means enough to keep it at most half
    busy at the peak request rate (a called service serves its callers concurrently)."""


APPROACHES = ("chain", "orchestration", "event-driven")


class Architecture(_Model):
    """How a change (a new subscription) reaches N services: SPEC section 3."""

    services: Annotated[list[Service], Field(min_length=2)]
    approaches: Annotated[
        list[Literal["chain", "orchestration", "event-driven"]], Field(min_length=1)
    ] = Field(default_factory=lambda: list(APPROACHES))
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
    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    """The data this scenario was validated from (overrides start from it)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    replications: Annotated[int, Field(ge=1, le=100_000)] = 5
    duration: Seconds = 60.0
    drain: Seconds = 30.0
    timeline_step: Seconds = 0.0
    """Seconds between the samples of the timeline the charts draw; 0: a 200th of the run."""
    max_events: Annotated[int, Field(ge=0, lt=2**62)] = 0
    """Simulated events one replication may take before it is stopped as a runaway; 0: 1,000
    per expected message, 10 per expected timer event, plus 10^7 (see :func:`event_budget`)."""
    workload: Workload = Workload()
    delivery: Delivery = Delivery()
    broker: Broker = Broker()
    network: Network = Network()
    consumers: Annotated[list[ConsumerGroup], Field(min_length=1)] = Field(
        default_factory=lambda: [ConsumerGroup()]
    )
    faults: list[Fault] = Field(default_factory=list)
    architecture: Architecture | None = None
    """An architecture comparison instead of a delivery study; the event-driven approach
    uses the broker model configured by the other sections, with one consumer group per
    downstream service."""
    sweep: dict[str, list[Any] | dict[str, list[Any]]] = Field(default_factory=dict)
    """``"dotted.key" = [values]`` dimensions, or linked ones: ``[sweep.<name>]`` tables of
    ``"dotted.key" = [values]`` that move in step, with an optional ``label = [...]``."""

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
        return _plain(data)  # unset optional keys (no preset, no ack_deadline) are left out

    def to_toml(self) -> str:
        return tomli_w.dumps(_plain(self.resolved()))

    def with_values(self, values: Mapping[str, Any], *, source: str = "<overrides>") -> Scenario:
        """A copy with dotted keys set (``delivery.semantics``, ``consumers.billing.instances``).

        The keys are set in the data the scenario was validated from, so that a preset the
        scenario names fills in again whatever the new values leave unset.
        """
        raw = copy.deepcopy(self._raw) if self._raw is not None else self.model_dump()
        _set_all(raw, values.items(), source)
        return validate(raw, source=source)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Scenario:
        """A copy with top-level fields replaced, in the kept raw data as well."""
        duplicate = super().model_copy(update=update, deep=deep)
        if self._raw is not None:
            duplicate._raw = {**copy.deepcopy(self._raw), **(update or {})}
        return duplicate


def _plain(value: Any) -> Any:
    """Tuples to lists and ``None`` removed, for the TOML writer."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(Exception):
    """A scenario that cannot run: the source (file) and every problem found in it."""

    def __init__(self, source: str, problems: Iterable[Problem]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {printable(str(p))}" for p in self.problems)
        super().__init__(f"{printable(source)}: invalid scenario\n{lines}")


def _format_path(loc: Iterable[Any], tags: bool = True, keep_last: bool = False) -> str:
    """A location as a key path. With ``tags`` the location comes from pydantic, and its
    distribution names are union tags, not keys the user wrote (except the last one with
    ``keep_last``: an unknown key the user wrote)."""
    parts: list[str] = []
    items = list(loc)
    for n, item in enumerate(items):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
        elif tags and item in DISTRIBUTIONS and not (keep_last and n == len(items) - 1):
            continue  # pydantic's union tag, not a key the user wrote
        else:
            parts.append(_key_text(str(item)))
    return ".".join(parts)


def _key_text(key: str) -> str:
    """A key as a path shows it: quoted, and escaped, when it is empty or holds characters
    that cannot be shown as they are (a line break or a terminal escape would garble the
    message)."""
    if key and key.isprintable():
        return key
    return f'"{printable(key)}"'


def printable(text: str) -> str:
    """``text`` with every character that cannot be shown as it is (control characters,
    line breaks, terminal escapes, invisible format characters) written as ``\\uXXXX``."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in text
    )


def _describe(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "table"}
    kind = kinds.get(
        type(value), "array" if isinstance(value, list | tuple) else type(value).__name__
    )
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"


_EXPECTED_TYPE = {
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "int_parsing": "an integer",
    "finite_number": "a finite number",
}


def _message(error: Mapping[str, Any], parent_fields: Iterable[str]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, list(parent_fields), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(sorted(parent_fields))
        return f"unknown key{hint} (expected one of: {known})"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}; got {_describe(value)}"
    if kind == "union_tag_invalid":
        choices = ", ".join(f"'{d}'" for d in DISTRIBUTIONS)
        return f"unknown distribution {ctx.get('tag')!r}; expected one of {choices}"
    if kind == "union_tag_not_found":
        choices = ", ".join(f"'{d}'" for d in DISTRIBUTIONS)
        return f"a distribution needs a 'dist' key, one of {choices}; got {_describe(value)}"
    if kind in _EXPECTED_TYPE:
        return f"expected {_EXPECTED_TYPE[kind]}; got {_describe(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()))
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        return f"expected a value {sign} {bound}; got {_describe(value)}"
    if kind == "string_pattern_mismatch":
        return f"expected letters, digits, '-' or '_' only; got {_describe(value)}"
    if kind in ("too_short", "too_long"):
        return error["msg"].lower()
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg']}; got {_describe(value)}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table that holds the last element of ``loc``."""
    model: Any = Scenario
    for item in loc[:-1]:
        if isinstance(item, int) or model is None:
            continue
        if item in DISTRIBUTIONS:
            model = {
                "constant": Constant,
                "exponential": Exponential,
                "uniform": Uniform,
                "lognormal": LogNormal,
                "normal": Normal,
            }[item]
            continue
        fields = getattr(model, "model_fields", {})
        if item not in fields:
            return []
        model = _model_of(fields[item].annotation)
    return list(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def problems_from(error: ValidationError) -> list[Problem]:
    out = []
    for e in error.errors():
        loc = tuple(e["loc"])
        path = _format_path(loc, keep_last=e["type"] == "extra_forbidden")
        out.append(Problem(path, _message(e, _fields_at(loc))))
    return out


# ---------------------------------------------------------------------------------------------
# Cross-field checks pydantic cannot express on one field


def _targets(s: Scenario) -> dict[str, str]:
    """Every fault target the scenario has, with the fault kind it accepts."""
    out = {"broker": "crash", "producer": "crash"}
    if s.architecture is not None:
        out.update({f"service:{v.name}": "crash" for v in s.architecture.services})
    out.update({f"producer:{i}": "crash" for i in range(s.workload.producers)})
    for c in s.consumers:
        out[f"consumer:{c.name}"] = "crash"
        out.update({f"consumer:{c.name}:{i}": "crash" for i in range(c.instances)})
    out.update({f"link:{name}": "partition" for name in LINKS})
    return out


def _cross_checks(s: Scenario) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, c in enumerate(s.consumers):
        if c.name in seen:
            problems.append(
                Problem(
                    f"consumers[{i}].name",
                    f"consumer name {c.name!r} is already used by consumers[{seen[c.name]}]",
                )
            )
        seen.setdefault(c.name, i)
    if s.architecture is not None:
        names: dict[str, int] = {}
        for i, service in enumerate(s.architecture.services):
            if service.name in names:
                problems.append(
                    Problem(
                        f"architecture.services[{i}].name",
                        f"service name {service.name!r} is already used by "
                        f"architecture.services[{names[service.name]}]",
                    )
                )
            names.setdefault(service.name, i)
        if len(set(s.architecture.approaches)) != len(s.architecture.approaches):
            problems.append(Problem("architecture.approaches", "an approach is listed twice"))
        default = [ConsumerGroup().model_dump()]
        if s._raw is not None and s._raw.get("consumers", default) != default:
            problems.append(
                Problem(
                    "consumers",
                    "an architecture comparison makes one consumer "
                    "group per downstream service; remove [[consumers]] and "
                    "describe the services in [[architecture.services]]",
                )
            )
    targets = _targets(s)
    for i, f in enumerate(s.faults):
        if f.target not in targets:
            close = difflib.get_close_matches(f.target, list(targets), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(
                Problem(
                    f"faults[{i}].target",
                    f"no such target {f.target!r}{hint} (expected broker, producer, producer:<n>, "
                    "consumer:<group>, consumer:<group>:<n>, service:<name> or "
                    "link:<publish|publish_ack|deliver|consume_ack>)",
                )
            )
        elif targets[f.target] != f.kind:
            problems.append(
                Problem(
                    f"faults[{i}].kind",
                    f"a {f.target} takes kind = {targets[f.target]!r}; got {f.kind!r}",
                )
            )
    for key, values in s.sweep.items():
        if not values:
            problems.append(Problem(f'sweep."{key}"', "expected a non-empty array of values"))
        elif isinstance(values, dict):
            lengths = {k: len(v) for k, v in values.items()}
            keys = [k for k in values if k != "label"]
            if not keys:
                problems.append(
                    Problem(
                        f'sweep."{key}"',
                        'a linked sweep needs at least one "dotted.key" = [values] entry',
                    )
                )
            elif len(set(lengths.values())) != 1 or 0 in lengths.values():
                detail = ", ".join(f"{k}: {n}" for k, n in lengths.items())
                problems.append(
                    Problem(
                        f'sweep."{key}"',
                        "the arrays of a linked sweep move in "
                        f"step and need one equal, non-zero length; got {detail}",
                    )
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Dotted key paths (used by --set and sweeps)

_INDEX = re.compile(r"^(?P<key>[^\[\]]+)\[(?P<index>\d+)\]$")


def split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.split("."):
        match = _INDEX.match(piece)
        if match:
            parts += [match["key"], int(match["index"])]
        elif piece.isdigit() and parts:
            parts.append(int(piece))
        elif piece:
            parts.append(piece)
        else:
            raise KeyError("a key path has an empty part")
    return parts


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` in raw scenario data.

    A consumer group can be named instead of indexed: ``consumers.billing.instances``.
    Raises ``KeyError`` with a readable message when the path cannot exist.
    """
    parts = split_path(path)
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list | tuple):
            if isinstance(part, str):
                unnamed = ConsumerGroup().name if parts[i - 1 : i] == ["consumers"] else None
                names = [item.get("name", unnamed) for item in node if isinstance(item, dict)]
                if part not in names:
                    known = ", ".join(repr(n) for n in names if n is not None) or "none"
                    raise KeyError(f"no entry named {part!r} (expected one of: {known})")
                part = names.index(part)
            if part >= len(node):
                raise KeyError(f"index {part} is out of range (there are {len(node)})")
            if isinstance(node, tuple):
                raise KeyError("cannot set inside a fixed value")
            if last:
                node[part] = value
            else:
                node = node[part]
            continue
        if not isinstance(node, dict):
            raise KeyError(f"{'.'.join(map(str, parts[:i]))} is not a table")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            elif isinstance(node[part], tuple):
                node[part] = list(node[part])
            node = node[part]


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML would read it (numbers, booleans, arrays, inline tables, inf);
    anything TOML cannot read is taken as a plain string (``ValueError`` if it is nested too
    deeply to read)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ValueError(f"the value is nested too deeply (at most {MAX_DEPTH} levels)") from None


def parse_assignment(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE; got {text!r}")
    try:
        return key.strip(), parse_value(value.strip())
    except ValueError as exc:
        raise ValueError(f"{key.strip()}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Entry points


def validate(raw: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate raw data (as read from TOML) into a :class:`Scenario` or raise ScenarioError."""
    return _validate(raw, source, limits=True)


def _validate(raw: Mapping[str, Any], source: str, limits: bool) -> Scenario:
    if not isinstance(raw, Mapping):
        raise ScenarioError(source, [Problem("", f"expected a table; got {_describe(raw)}")])
    shape = _shape_problems(raw)
    if shape:
        raise ScenarioError(source, shape)
    try:
        scenario = Scenario.model_validate(apply_preset(raw))
    except ValidationError as exc:
        raise ScenarioError(source, problems_from(exc)) from None
    scenario._raw = copy.deepcopy(dict(raw))
    problems = _cross_checks(scenario)
    if not problems and limits and not scenario.sweep:
        # a sweep's points are checked one by one when they are built (runner.points_of)
        problems = limit_problems(scenario)
    problems = problems or _sweep_size(scenario) or _sweep_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def _sweep_problems(s: Scenario) -> list[Problem]:
    """Each swept value must make a valid scenario on its own.

    The limits on the work of a run are left to each point of the product (a value can only
    be too much together with the others), so they are not checked here.
    """
    if not s.sweep:
        return []
    base = s.model_copy(update={"sweep": {}})
    problems = []
    for key, options in s.sweep_dimensions():
        for i, (_, values) in enumerate(options):
            try:
                raw = copy.deepcopy(base._raw) if base._raw is not None else base.model_dump()
                _set_all(raw, values.items(), "<overrides>")
                _validate(raw, "<overrides>", limits=False)
            except ScenarioError as exc:
                problems += [
                    Problem(f'sweep."{key}"[{i}]', f"{p.path}: {p.message}") for p in exc.problems
                ]
                break
            except KeyError as exc:
                problems.append(Problem(f'sweep."{key}"', str(exc.args[0])))
                break
    return problems


# ---------------------------------------------------------------------------------------------
# Limits: input that is well-formed but that no run could finish, or that would need absurd
# memory, is refused up front rather than left to run for days.

MAX_DEPTH = 32
"""Tables and arrays nested deeper than this (the format needs 5) are refused."""
MAX_MESSAGES = 10**8
"""Expected messages per replication (``workload.producers`` x rate x ``duration``, spikes
included): at about 45,000 simulated messages a second and 120 bytes a message, 10^8 is
already 40 minutes and 12 GB per replication."""
MAX_EVENTS = 10**8
"""Expected timer events per replication that no message causes: polls, random crashes."""
MAX_TIMELINE_SAMPLES = 10**6
"""Timeline samples per run (``duration + drain`` over ``timeline_step``)."""
MAX_POINTS = 10_000
"""Points of a sweep (the product of its dimensions)."""
MAX_INSTANCES = 10_000
"""Consumer instances in one group (also what an architecture service may start)."""


def _sweep_size(s: Scenario) -> list[Problem]:
    if not s.sweep:
        return []
    sizes = [len(options) for _, options in s.sweep_dimensions()]
    points = math.prod(sizes)
    if points <= MAX_POINTS:
        return []
    detail = " x ".join(str(n) for n in sizes)
    return [
        Problem(
            "sweep",
            f"a sweep of {points:,} points ({detail} values); at most {MAX_POINTS:,} are run: "
            "sweep fewer values, or split the study",
        )
    ]


def _shape_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Nesting deeper than :data:`MAX_DEPTH` and text that is not valid Unicode (lone
    surrogates, from a command line that was not UTF-8), found without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(raw, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            return [
                Problem(
                    _format_path(loc[:MAX_DEPTH], tags=False),
                    f"nested deeper than {MAX_DEPTH} levels",
                )
            ]
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(key, str) and not _encodable(key):
                    return [
                        Problem(
                            _format_path(loc, tags=False),
                            f"a key is not valid UTF-8 text: {key!r}",
                        )
                    ]
                stack.append((value, (*loc, key)))
        elif isinstance(node, list | tuple):
            stack.extend((value, (*loc, i)) for i, value in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return [
                Problem(_format_path(loc, tags=False), f"not valid UTF-8 text: {_describe(node)}")
            ]
    return []


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expected_messages(s: Scenario) -> float:
    """Messages the producers are expected to create in one replication."""
    w, duration = s.workload, s.duration
    cuts = {0.0, duration}
    for spike in w.spikes:
        cuts.update(t for t in (spike.at, spike.at + spike.duration) if 0.0 < t < duration)
    points = sorted(cuts)
    total = 0.0
    for start, end in itertools.pairwise(points):
        rates = [p.rate for p in w.spikes if p.at <= start < p.at + p.duration]
        total += (max(rates) if rates else w.rate) * (end - start)
    return total * w.producers


def timer_events(s: Scenario) -> list[tuple[float, str, str]]:
    """Expected timer events of one replication that no message causes (polls, random
    crashes and fault windows), each with the key that sets it and what it is."""
    horizon = s.duration + s.drain
    events: list[tuple[float, str, str]] = []
    if s.delivery.pattern == "streaming" and s.delivery.poll_interval > 0:
        readers = sum(c.instances for c in s.consumers)
        events.append(
            (
                readers * horizon / s.delivery.poll_interval,
                "delivery.poll_interval",
                f"{readers} reader(s) polling every {s.delivery.poll_interval:g} s",
            )
        )
    for i, c in enumerate(s.consumers):
        if math.isfinite(c.mtbf):
            events.append(
                (
                    2 * c.instances * horizon / (c.mtbf + c.mttr),
                    f"consumers[{i}].mtbf",
                    f"{c.instances} instance(s) crashing every {c.mtbf:g} s",
                )
            )
    for i, f in enumerate(s.faults):
        if f.mtbf is not None and f.mttr is not None:
            events.append(
                (
                    2 * horizon / (f.mtbf + f.mttr),
                    f"faults[{i}].mtbf",
                    f"a fault every {f.mtbf:g} s",
                )
            )
    return events


def event_budget(s: Scenario) -> int:
    """The simulated events a replication may take (``max_events``, or when 0: 1,000 per
    expected message, 10 per expected timer event, plus 10^7: a message takes about 10)."""
    if s.max_events:
        return s.max_events
    timers = sum(n for n, _, _ in timer_events(s))
    return int(min(2**62, 1000 * expected_messages(s) + 10 * timers + 10**7))


def limit_problems(s: Scenario) -> list[Problem]:
    """Runs that could not finish or would not fit in memory, each named by the key to
    change (see :data:`MAX_MESSAGES`, :data:`MAX_EVENTS`, :data:`MAX_TIMELINE_SAMPLES`)."""
    problems = []
    horizon = s.duration + s.drain
    messages = expected_messages(s)
    if not messages <= MAX_MESSAGES:
        problems.append(
            Problem(
                "workload.rate",
                f"about {messages:.3g} messages per replication (workload.producers = "
                f"{s.workload.producers} x workload.rate = {s.workload.rate:g}/s x duration = "
                f"{s.duration:g} s, workload.spikes included); at most {MAX_MESSAGES:.0e} are "
                "simulated: lower the rate, the producers, the spikes or the duration",
            )
        )
    events = timer_events(s)
    total = sum(n for n, _, _ in events)
    if not total <= MAX_EVENTS:
        _, path, what = max(events)
        problems.append(
            Problem(
                path,
                f"about {total:.3g} timer events per replication ({what}, over duration + "
                f"drain = {horizon:g} s); at most {MAX_EVENTS:.0e} are simulated: use a longer "
                "interval or a shorter run",
            )
        )
    if s.timeline_step > 0 and not horizon / s.timeline_step <= MAX_TIMELINE_SAMPLES:
        problems.append(
            Problem(
                "timeline_step",
                f"{horizon / s.timeline_step:.3g} timeline samples over duration + drain = "
                f"{horizon:g} s; at most {MAX_TIMELINE_SAMPLES:.0e}: use a step of at least "
                f"{horizon / MAX_TIMELINE_SAMPLES:.3g} s, or 0 for 200 samples",
            )
        )
    if s.architecture is not None:
        w = s.workload
        peak = max([w.rate, *(p.rate for p in w.spikes)]) * w.producers
        for i, service in enumerate(s.architecture.services[1:], start=1):
            if service.instances:
                continue
            mean = mean_of(service.latency)
            need = 2 * peak * mean
            if not (math.isfinite(mean) and need <= MAX_INSTANCES):
                problems.append(
                    Problem(
                        f"architecture.services[{i}].instances",
                        f"0 (automatic) would start {need:.3g} consumer instances (2 x peak "
                        f"rate {peak:g}/s x mean latency {mean:g} s); at most {MAX_INSTANCES}: "
                        "set instances, or lower the rate or the latency",
                    )
                )
    return problems


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [Problem("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(
            str(path), [Problem("", "is a directory, expected a .toml file")]
        ) from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ScenarioError(str(path), [Problem("", f"cannot read: {exc}")]) from None
    if not text.strip():
        raise ScenarioError(
            str(path), [Problem("", 'the file is empty (a scenario needs at least name = "...")')]
        )
    try:
        return parse_toml(text)
    except ValueError as exc:
        raise ScenarioError(str(path), [Problem("", str(exc))]) from None


MAX_KEY_PARTS = 256
"""Parts of one dotted key (``a.b.c``) that a scenario file may have: Python's TOML reader
takes memory quadratic in them (20,000 parts: 1.5 GB), so longer keys are refused unread."""
_KEY_PART = r"""(?:[A-Za-z0-9_-]++|"[^"\n]*+"|'[^'\n]*+')"""
_KEY_CHAIN = re.compile(rf"(?<![A-Za-z0-9_-])(?:{_KEY_PART}[ \t]*+\.[ \t]*+)++")
"""A run of dotted key parts, matched whole (possessive: the scan stays linear)."""


def _longest_key_parts(text: str) -> int:
    """Parts in the longest dotted key-like run of ``text`` (an upper bound for its keys)."""
    longest = 0
    if text.count(".") >= MAX_KEY_PARTS:
        for match in _KEY_CHAIN.finditer(text):
            if match.group().count(".") > longest:
                longest = max(longest, len(re.findall(_KEY_PART, match.group())))
    return longest


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as data; ``ValueError`` saying ``invalid TOML: ...`` if it is not TOML or
    is nested too deeply for the reader."""
    if _longest_key_parts(text) >= MAX_KEY_PARTS:
        raise ValueError(f"invalid TOML: a dotted key with more than {MAX_KEY_PARTS} parts")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"invalid TOML: arrays or tables nested too deeply (at most {MAX_DEPTH} levels)"
        ) from None


def load_scenario(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = ()) -> Scenario:
    """Read, override (``KEY=VALUE`` strings or a mapping of dotted keys) and validate a file."""
    raw = read_toml(path)
    items = list(
        overrides.items() if isinstance(overrides, Mapping) else _assignments(path, overrides)
    )
    _unsweep(raw, [key for key, _ in items])
    _set_all(raw, items, str(path))
    return validate(raw, source=str(path))


def _unsweep(raw: dict[str, Any], keys: Iterable[str]) -> None:
    """An override of a swept key fixes it: the key leaves the file's sweep."""
    sweep = raw.get("sweep")
    if not isinstance(sweep, dict):
        return
    for key in keys:
        sweep.pop(key, None)
        for name, entry in list(sweep.items()):
            if isinstance(entry, dict) and key in entry:
                del entry[key]
                if not [k for k in entry if k != "label"]:
                    del sweep[name]


def _set_all(raw: dict[str, Any], items: Iterable[tuple[str, Any]], source: str) -> None:
    """Set dotted keys in raw data; a list the data leaves to its default (the consumer
    groups) is filled in first, so ``consumers.consumer.instances`` reaches it."""
    defaults = None
    for key, value in items:
        try:
            top = split_path(key)[0]
            if top not in raw:
                defaults = defaults or Scenario(name="defaults").model_dump(mode="python")
                if isinstance(defaults.get(str(top)), list):
                    raw[top] = defaults[str(top)]
            set_path(raw, key, value)
        except KeyError as exc:
            raise ScenarioError(source, [Problem(key, str(exc.args[0]))]) from None


def _assignments(path: str | Path, texts: Iterable[str]) -> list[tuple[str, Any]]:
    out = []
    for text in texts:
        try:
            out.append(parse_assignment(text))
        except ValueError as exc:
            raise ScenarioError(str(path), [Problem("--set", str(exc))]) from None
    return out
