"""Scenario files (SPEC section 5): defaults, the resolved copy, overrides and every refusal.

A refusal must name the file, the exact key path and what was expected, so every bad-input
case below checks all three.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sim.registry.semantics import SEMANTICS
from sim.scenario.errors import ScenarioError
from sim.scenario.loading import load_scenario, validate
from sim.scenario.paths import parse_assignment, set_path
from sim.scenario.schema import DISTRIBUTIONS, LINKS, Constant, Exponential, Uniform

# The example of SPEC section 5, verbatim: the documented format must load as documented.
SPEC_EXAMPLE = """
name = "orders"                      # required
description = "Orders must never be lost."
seed = 7
replications = 10
duration = 60.0                      # seconds of workload
drain = 30.0                         # seconds after it for retries to settle

[workload]
producers = 1
arrival = "poisson"                  # poisson | constant
rate = 200.0                         # messages per second per producer
spikes = [{ at = 20.0, duration = 5.0, rate = 2000.0 }]

[delivery]
semantics = "at-least-once"          # at-most-once | at-least-once | exactly-once
pattern = "streaming"                # streaming | pubsub
ack_timeout = 0.2
max_attempts = 0                     # 0 = no limit
backoff = { kind = "exponential", base = 0.05, cap = 2.0, jitter = true }
dedup = "id"                         # id | sequence   (exactly-once)
dedup_window = inf
atomic_dedup = true
outbox = "memory"                    # memory | durable

[broker]
servers = 1
service_time = { dist = "exponential", mean = 0.001 }
capacity = inf
durability = "durable"               # durable | memory
flush_interval = 0.0
retention = inf
prefetch = 1

[network]                            # defaults for every link, overridable per link
latency = { dist = "constant", value = 0.002 }
loss = 0.0
[network.publish_ack]
loss = 0.1

[[consumers]]                        # one table per consumer group / subscription
name = "billing"
instances = 1
service_time = { dist = "exponential", mean = 0.004 }
join_at = 0.0
start = "earliest"                   # earliest | latest   (streaming)
crash_before_process = 0.0
crash_after_process = 0.01
restart_time = { dist = "constant", value = 1.0 }

[[faults]]                           # time windows, scheduled or random
target = "broker"                    # broker | producer | consumer:<group> | link:<name>
kind = "crash"                       # crash | partition
at = 30.0
duration = 5.0
# or: mtbf = 100.0, mttr = 5.0

[sweep]                              # optional: the cartesian product of these values
"delivery.semantics" = ["at-most-once", "at-least-once", "exactly-once"]
"delivery.pattern" = ["streaming", "pubsub"]
"network.publish_ack.loss" = [0.0, 0.05, 0.1, 0.2]
"""

TWO_GROUPS = """
name = "x"

[[consumers]]
name = "billing"

[[consumers]]
name = "analytics"
instances = 2
"""

EVERY_DISTRIBUTION = """
name = "dists"
duration = 5.0
drain = 1.5

[broker]
service_time = { dist = "uniform", low = 0.001, high = 0.002 }

[network]
latency = { dist = "lognormal", median = 0.002, sigma = 0.5 }
duplication = 0.01

[network.deliver]
latency = { dist = "normal", mean = 0.01, sd = 0.002 }
loss = 0.05

[[consumers]]
name = "a"
service_time = { dist = "constant", value = 0.003 }
mtbf = 50.0
mttr = 2.0

[[faults]]
target = "link:publish"
kind = "partition"
mtbf = 10.0
mttr = 1.0
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def at(data: Any, path: str) -> Any:
    """The value at a dotted path (``a.b[0].c``) of plain nested data."""
    for part in path.replace("[", ".").replace("]", "").split("."):
        data = data[int(part)] if part.isdigit() else data[part]
    return data


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The dotted paths where two scenarios (or their dumped data) differ."""
    if hasattr(a, "model_dump"):
        a, b = a.model_dump(), b.model_dump()
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b), key=str)
            for d in differences(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


# ---------------------------------------------------------------------------------------------
# Defaults


def _leaves(example: dict[str, Any], prefix: str = ""):
    """(dotted path, value) of every key of the SPEC example that a minimal file must carry."""
    for key, value in example.items():
        path = f"{prefix}{key}"
        if key == "sweep":
            continue
        if isinstance(value, dict) and "dist" in value:
            yield f"{path}.dist", value["dist"]
        elif isinstance(value, dict):
            yield from _leaves(value, f"{path}.")
        elif key == "consumers":
            yield from _leaves(value[0], f"{path}[0].")
        else:
            yield path, value


SPEC_LEAVES = list(_leaves(tomllib.loads(SPEC_EXAMPLE)))


@pytest.mark.parametrize("path, example", SPEC_LEAVES, ids=[p for p, _ in SPEC_LEAVES])
def test_a_minimal_file_gets_every_key_of_the_spec(tmp_path, path, example):
    resolved = load_scenario(write(tmp_path, 'name = "x"\n')).resolved()
    value = at(resolved, path)
    assert type(value) is type(example), f"{path} = {value!r}, the SPEC writes {example!r}"
    if path.endswith(".dist"):
        assert value in DISTRIBUTIONS


@pytest.mark.parametrize(
    "path, expected",
    [
        ("description", ""),
        ("delivery.dedup_window", math.inf),  # "default: forever"
        ("delivery.atomic_dedup", True),
        ("delivery.poll_interval", 0.0),  # long polls unless the scenario sets one
        ("broker.servers", 1),
        ("broker.capacity", math.inf),  # "default: unbounded"
        ("broker.retention", math.inf),  # "default: forever"
        ("broker.prefetch", 1),
        ("network.duplication", 0.0),
        ("faults", []),
        ("workload.spikes", []),
    ],
)
def test_defaults_stated_by_the_spec(tmp_path, path, expected):
    scenario = load_scenario(write(tmp_path, 'name = "x"\n'))
    assert at(scenario.resolved(), path) == expected


def test_a_minimal_file_has_one_consumer_group_and_every_link(tmp_path):
    scenario = load_scenario(write(tmp_path, 'name = "x"\n'))
    assert scenario.name == "x"
    assert len(scenario.consumers) == 1
    network = scenario.resolved()["network"]
    for link in LINKS:
        assert set(network[link]) == {"latency", "loss", "duplication"}
        assert network[link]["latency"]["dist"] in DISTRIBUTIONS


def test_the_spec_example_loads_with_its_values(tmp_path):
    scenario = load_scenario(write(tmp_path, SPEC_EXAMPLE))
    assert scenario.replications == 10
    assert scenario.workload.spikes[0].rate == 2000.0
    assert scenario.delivery.backoff.jitter is True
    assert scenario.broker.service_time == Exponential(mean=0.001)
    assert scenario.network.link("publish_ack").loss == 0.1
    assert scenario.consumers[0].name == "billing"
    assert scenario.consumers[0].crash_after_process == 0.01
    assert scenario.faults[0].target == "broker"
    assert (scenario.faults[0].at, scenario.faults[0].duration) == (30.0, 5.0)
    assert scenario.sweep["network.publish_ack.loss"] == [0.0, 0.05, 0.1, 0.2]


def test_an_integer_is_accepted_where_a_number_is_expected(tmp_path):
    scenario = load_scenario(write(tmp_path, 'name = "x"\nduration = 10\n'))
    assert scenario.duration == 10.0
    assert isinstance(scenario.duration, float)


# ---------------------------------------------------------------------------------------------
# The resolved copy


@pytest.mark.parametrize(
    "text",
    ['name = "x"\n', SPEC_EXAMPLE, EVERY_DISTRIBUTION, TWO_GROUPS],
    ids=["minimal", "spec-example", "every-distribution", "two-groups"],
)
def test_the_resolved_toml_reloads_to_an_equal_scenario(tmp_path, text):
    scenario = load_scenario(write(tmp_path, text))
    reloaded = load_scenario(write(tmp_path, scenario.to_toml(), "resolved.toml"))
    assert reloaded.resolved() == scenario.resolved()  # the same values in effect...
    for name in LINKS:  # ...on every link
        assert reloaded.network.link(name) == scenario.network.link(name)


def test_the_resolved_toml_is_plain_toml_with_inf(tmp_path):
    scenario = load_scenario(write(tmp_path, 'name = "x"\n'))
    data = tomllib.loads(scenario.to_toml())
    assert data["delivery"]["dedup_window"] == math.inf
    assert data["broker"]["capacity"] == math.inf
    assert "sweep" not in data  # an empty sweep is left out
    assert data == scenario.resolved()


def test_the_resolved_toml_pins_every_link(tmp_path):
    # "Every default filled in": each link's table carries the values it ran with, so a
    # --set over a network default reaches the links of the original file but not of the
    # resolved one (documented in Scenario.resolved).
    scenario = load_scenario(write(tmp_path, 'name = "x"\n'))
    reloaded = load_scenario(write(tmp_path, scenario.to_toml(), "resolved.toml"))
    changed = scenario.with_values({"network.loss": 0.25})
    assert [changed.network.link(n).loss for n in LINKS] == [0.25] * len(LINKS)
    pinned = reloaded.with_values({"network.loss": 0.25})
    assert [pinned.network.link(n).loss for n in LINKS] == [0.0] * len(LINKS)


# ---------------------------------------------------------------------------------------------
# Per-link network settings


def test_links_fall_back_to_the_network_defaults(tmp_path):
    text = """
name = "x"
[network]
latency = { dist = "uniform", low = 0.001, high = 0.003 }
loss = 0.01
duplication = 0.02
[network.publish_ack]
loss = 0.3
[network.deliver]
latency = { dist = "constant", value = 0.5 }
duplication = 0.0
"""
    network = load_scenario(write(tmp_path, text)).network
    default_latency = Uniform(low=0.001, high=0.003)
    publish_ack, deliver = network.link("publish_ack"), network.link("deliver")
    assert (publish_ack.latency, publish_ack.loss, publish_ack.duplication) == (
        default_latency,
        0.3,
        0.02,
    )
    assert (deliver.latency, deliver.loss, deliver.duplication) == (Constant(value=0.5), 0.01, 0.0)
    for name in ("publish", "consume_ack"):
        link = network.link(name)
        assert (link.latency, link.loss, link.duplication) == (default_latency, 0.01, 0.02)


def test_a_network_override_reaches_links_without_their_own_value(tmp_path):
    path = write(tmp_path, 'name = "x"\n[network.publish_ack]\nloss = 0.3\n')
    network = load_scenario(path, ["network.loss=0.2"]).network
    assert network.link("publish").loss == 0.2
    assert network.link("consume_ack").loss == 0.2
    assert network.link("publish_ack").loss == 0.3


# ---------------------------------------------------------------------------------------------
# --set style overrides


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a=1", ("a", 1)),
        ("delivery.semantics=at-most-once", ("delivery.semantics", "at-most-once")),
        ('delivery.semantics="exactly-once"', ("delivery.semantics", "exactly-once")),
        (" broker.capacity = inf ", ("broker.capacity", math.inf)),
        ("x=-inf", ("x", -math.inf)),
        ("x=1.5e-3", ("x", 0.0015)),
        ("x=true", ("x", True)),
        ("x=[0.0, 0.1]", ("x", [0.0, 0.1])),
        ('x={ dist = "constant", value = 1.0 }', ("x", {"dist": "constant", "value": 1.0})),
        ("description=hello world", ("description", "hello world")),
        ("x=a=b", ("x", "a=b")),
    ],
)
def test_parse_assignment(text, expected):
    key, value = parse_assignment(text)
    assert (key, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["delivery.semantics", "=1", " = 1", ""])
def test_parse_assignment_refuses_text_without_key_and_value(text):
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_assignment(text)


def test_set_path_creates_tables_on_the_way():
    raw: dict[str, Any] = {"name": "x"}
    set_path(raw, "network.publish_ack.loss", 0.1)
    set_path(raw, "delivery.semantics", "at-most-once")
    assert raw == {
        "name": "x",
        "network": {"publish_ack": {"loss": 0.1}},
        "delivery": {"semantics": "at-most-once"},
    }


@pytest.mark.parametrize(
    "key", ["consumers.analytics.instances", "consumers[1].instances", "consumers.1.instances"]
)
def test_set_path_reaches_a_consumer_by_name_or_index(key):
    raw = tomllib.loads(TWO_GROUPS)
    set_path(raw, key, 7)
    assert raw["consumers"][1]["instances"] == 7
    assert "instances" not in raw["consumers"][0]


@pytest.mark.parametrize(
    "key, message",
    [
        ("name.first", "name is not a table"),
        ("consumers.nope.instances", "no entry named 'nope'"),
        ("consumers[5].instances", "index 5 is out of range (there are 2)"),
        ("delivery..semantics", "empty part"),
    ],
)
def test_set_path_refuses_a_path_that_cannot_exist(key, message):
    raw = tomllib.loads(TWO_GROUPS)
    before = tomllib.loads(TWO_GROUPS)
    with pytest.raises(KeyError) as info:
        set_path(raw, key, 1)
    assert message in info.value.args[0]
    assert raw == before


def test_overrides_in_load_scenario(tmp_path):
    path = write(tmp_path, TWO_GROUPS)
    scenario = load_scenario(
        path,
        [
            "consumers.analytics.instances=3",
            "consumers[0].join_at=inf",
            'consumers.billing.restart_time={ dist = "exponential", mean = 2.0 }',
            "broker.capacity=inf",
            "delivery.semantics=exactly-once",
            "delivery.backoff.cap=5",
            "workload.spikes=[{ at = 1.0, duration = 2.0, rate = 50.0 }]",
            "network.publish_ack.loss=0.05",
            "description=plain words, not TOML",
            "seed=42",
        ],
    )
    billing, analytics = scenario.consumers
    assert analytics.instances == 3
    assert billing.join_at == math.inf
    assert billing.restart_time == Exponential(mean=2.0)
    assert scenario.broker.capacity == math.inf
    assert scenario.delivery.semantics == "exactly-once"
    assert scenario.delivery.backoff.cap == 5.0
    assert scenario.delivery.backoff.kind == "exponential"  # the rest of the table stays
    assert [(s.at, s.duration, s.rate) for s in scenario.workload.spikes] == [(1.0, 2.0, 50.0)]
    assert scenario.network.link("publish_ack").loss == 0.05
    assert scenario.description == "plain words, not TOML"
    assert scenario.seed == 42
    assert load_scenario(path).consumers[1].instances == 2  # the file itself is untouched


def test_overrides_as_a_mapping(tmp_path):
    path = write(tmp_path, TWO_GROUPS)
    scenario = load_scenario(path, {"consumers.billing.instances": 4, "duration": 9.0})
    assert (scenario.consumers[0].instances, scenario.duration) == (4, 9.0)


@pytest.mark.parametrize("key", ["consumers.consumer.instances", "consumers[0].instances"])
def test_overrides_reach_the_default_consumer_group(tmp_path, key):
    # A file without [[consumers]] has one group, named "consumer" (it is in scenario.toml and
    # in every result table); --set must reach it as a sweep does (Scenario.with_values).
    path = write(tmp_path, 'name = "x"\n')
    assert load_scenario(path).with_values({key: 3}).consumers[0].instances == 3
    assert load_scenario(path, [f"{key}=3"]).consumers[0].instances == 3


def test_with_values_validates(tmp_path):
    scenario = load_scenario(write(tmp_path, TWO_GROUPS))
    assert scenario.with_values({"consumers.billing.instances": 5}).consumers[0].instances == 5
    with pytest.raises(ScenarioError) as info:
        scenario.with_values({"network.loss": 2.0}, source="sweep")
    assert info.value.source == "sweep"
    assert [p.path for p in info.value.problems] == ["network.loss"]


# ---------------------------------------------------------------------------------------------
# Refusals: (file text, exact key path, what the message must say)

FAULT = '[[faults]]\ntarget = "{target}"\nkind = "{kind}"\nat = 1.0\nduration = 2.0\n'

BAD_FILES = {
    "unknown-key-top-level": (
        'name = "x"\ndurration = 10.0\n',
        "durration",
        ["unknown key", "did you mean 'duration'?", "expected one of"],
    ),
    "unknown-key-nested": (
        'name = "x"\n[delivery]\nsemantcs = "at-most-once"\n',
        "delivery.semantcs",
        ["unknown key", "did you mean 'semantics'?", "ack_timeout"],
    ),
    "unknown-key-in-a-link": (
        'name = "x"\n[network.publish_ack]\nlos = 0.1\n',
        "network.publish_ack.los",
        ["unknown key", "did you mean 'loss'?"],
    ),
    "unknown-link": (
        'name = "x"\n[network.publsh]\nloss = 0.1\n',
        "network.publsh",
        ["unknown key", "did you mean 'publish'?"],
    ),
    "unknown-key-in-a-consumer": (
        TWO_GROUPS + "instnces = 3\n",
        "consumers[1].instnces",
        ["unknown key", "did you mean 'instances'?"],
    ),
    "unknown-key-in-a-distribution": (
        'name = "x"\n[broker]\nservice_time = { dist = "exponential", mean = 0.1, sd = 0.1 }\n',
        "broker.service_time.sd",
        ["unknown key", "expected one of: dist, mean"],
    ),
    "missing-name": ("duration = 10.0\n", "name", ["required"]),
    "string-for-number": (
        'name = "x"\nduration = "10"\n',
        "duration",
        ["expected a number", "'10' (string)"],
    ),
    "string-for-number-nested": (
        'name = "x"\n[network.deliver]\nloss = "0.1"\n',
        "network.deliver.loss",
        ["expected a number", "(string)"],
    ),
    "number-for-bool": (
        'name = "x"\n[delivery]\natomic_dedup = 1\n',
        "delivery.atomic_dedup",
        ["expected true or false", "1 (integer)"],
    ),
    "bool-for-number": (
        'name = "x"\nduration = true\n',
        "duration",
        ["expected a number", "(boolean)"],
    ),
    "number-for-table": (
        'name = "x"\nnetwork = 3\n',
        "network",
        ["expected a table", "3 (integer)"],
    ),
    "not-a-choice": (
        'name = "x"\n[delivery]\nsemantics = "twice"\n',
        "delivery.semantics",
        [
            "expected "
            + ", ".join(f"'{n}'" for n in SEMANTICS.names[:-1])
            + f" or '{SEMANTICS.names[-1]}'",
            "'twice'",
        ],
    ),
    "probability-above-1": (
        'name = "x"\n[network]\nloss = 1.5\n',
        "network.loss",
        ["expected a value <= 1", "1.5"],
    ),
    "probability-below-0": (
        TWO_GROUPS + "crash_after_process = -0.1\n",
        "consumers[1].crash_after_process",
        ["expected a value >= 0", "-0.1"],
    ),
    "probability-inf": (
        'name = "x"\n[network.publish]\nduplication = inf\n',
        "network.publish.duplication",
        ["expected a finite number", "inf"],
    ),
    "negative-time": ('name = "x"\ndrain = -1.0\n', "drain", ["expected a value >= 0", "-1.0"]),
    "negative-time-in-a-spike": (
        'name = "x"\n[workload]\nspikes = [{ at = 1.0, duration = -5.0, rate = 10.0 }]\n',
        "workload.spikes[0].duration",
        ["expected a value >= 0", "-5.0"],
    ),
    "negative-time-in-a-fault": (
        'name = "x"\n[[faults]]\ntarget = "broker"\nat = -1.0\nduration = 1.0\n',
        "faults[0].at",
        ["expected a value >= 0", "-1.0"],
    ),
    "non-positive-ack-timeout": (
        'name = "x"\n[delivery]\nack_timeout = 0.0\n',
        "delivery.ack_timeout",
        ["expected a value > 0", "0.0"],
    ),
    "unknown-distribution": (
        'name = "x"\n[broker]\nservice_time = { dist = "gamma", mean = 1.0 }\n',
        "broker.service_time",
        ["unknown distribution 'gamma'", "'exponential'", "'lognormal'"],
    ),
    "distribution-without-dist": (
        'name = "x"\n[network]\nlatency = { mean = 1.0 }\n',
        "network.latency",
        ["needs a 'dist' key", "'constant'", "'uniform'"],
    ),
    "uniform-high-below-low": (
        TWO_GROUPS + 'service_time = { dist = "uniform", low = 2.0, high = 1.0 }\n',
        "consumers[1].service_time",
        ["expected high >= low", "low=2.0, high=1.0"],
    ),
    "negative-distribution-parameter": (
        'name = "x"\n[network]\nlatency = { dist = "constant", value = -0.1 }\n',
        "network.latency.value",
        ["expected a value >= 0", "-0.1"],
    ),
    "duplicate-consumer-name": (
        TWO_GROUPS + '[[consumers]]\nname = "billing"\n',
        "consumers[2].name",
        ["'billing' is already used by consumers[0]"],
    ),
    "missing-fault-target": (
        TWO_GROUPS + FAULT.format(target="consumer:biling", kind="crash"),
        "faults[0].target",
        [
            "no such target 'consumer:biling'",
            "did you mean 'consumer:billing'?",
            "consumer:<group>",
        ],
    ),
    "missing-link-target": (
        'name = "x"\n' + FAULT.format(target="link:ack", kind="partition"),
        "faults[0].target",
        ["no such target 'link:ack'", "link:<publish|publish_ack"],
    ),
    "partition-on-broker": (
        'name = "x"\n' + FAULT.format(target="broker", kind="partition"),
        "faults[0].kind",
        ["takes kind = 'crash'", "got 'partition'"],
    ),
    "crash-on-link": (
        'name = "x"\n' + FAULT.format(target="link:deliver", kind="crash"),
        "faults[0].kind",
        ["takes kind = 'partition'", "got 'crash'"],
    ),
    "fault-scheduled-and-random": (
        'name = "x"\n[[faults]]\ntarget = "broker"\nat = 1.0\nduration = 2.0\n'
        "mtbf = 10.0\nmttr = 1.0\n",
        "faults[0]",
        ["either at/duration (scheduled) or mtbf/mttr (random), not both"],
    ),
    "fault-half-scheduled": (
        'name = "x"\n[[faults]]\ntarget = "broker"\nat = 1.0\n',
        "faults[0]",
        ["needs both 'at' and 'duration'"],
    ),
    "dead-letter-without-a-limit": (
        'name = "x"\n[delivery]\ndead_letter = true\n',
        "delivery.dead_letter",
        ["max_deliveries is 0 (no limit)", "set max_deliveries >= 1"],
    ),
    "empty-sweep": (
        'name = "x"\n[sweep]\n"delivery.semantics" = []\n',
        'sweep."delivery.semantics"',
        ["expected a non-empty array"],
    ),
    "invalid-toml": ('name = "x"\nduration = \n', "", ["invalid TOML", "line 2"]),
}


@pytest.mark.parametrize("text, key, says", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_with_file_key_and_expectation(tmp_path, text, key, says):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    error = info.value
    assert error.source == str(path)
    by_path = {p.path: p.message for p in error.problems}
    assert key in by_path, f"no problem at {key!r}; got {[str(p) for p in error.problems]}"
    for fragment in says:
        assert fragment in by_path[key]
    shown = str(error)
    assert shown.startswith(f"{path}: invalid scenario")
    assert (f"  {key}: {by_path[key]}" if key else f"  {by_path[key]}") in shown.splitlines()


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, 'name = "x"\nseed = "a"\nduration = -1.0\n[delivery]\nouttbox = 1\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert {p.path for p in info.value.problems} == {"seed", "duration", "delivery.outtbox"}


def test_validate_refuses_data_that_is_not_a_table():
    with pytest.raises(ScenarioError) as info:
        validate(["name", "x"], source="data")  # type: ignore[arg-type]
    assert info.value.source == "data"
    assert "expected a table" in str(info.value)


def test_validate_names_its_source():
    with pytest.raises(ScenarioError) as info:
        validate({"name": "x", "drain": -2.0}, source="somewhere.toml")
    assert str(info.value).startswith("somewhere.toml: invalid scenario")
    assert [p.path for p in info.value.problems] == ["drain"]


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda d: d / "missing.toml", "no such file"),
        (lambda d: d, "is a directory, expected a .toml file"),
    ],
    ids=["missing-file", "directory"],
)
def test_an_unreadable_path_is_refused(tmp_path, make, says):
    path = make(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert [p.message for p in info.value.problems] == [says]
    assert str(info.value).startswith(f"{path}: invalid scenario")


TARGET_OF_SETS = """
name = "x"
duration = 5.0

[delivery]
semantics = "at-least-once"

[[consumers]]
name = "billing"

[[consumers]]
name = "analytics"
"""

BAD_SETS = {
    "no-equals-sign": (
        "delivery.semantics",
        "--set",
        ["expected KEY=VALUE", "'delivery.semantics'"],
    ),
    "empty-key": ("=3", "--set", ["expected KEY=VALUE"]),
    "path-into-a-number": ("duration.seconds=3", "duration.seconds", ["not a table"]),
    "path-into-a-string": ("delivery.semantics.x=3", "delivery.semantics.x", ["not a table"]),
    "unknown-consumer-name": (
        "consumers.nope.instances=2",
        "consumers.nope.instances",
        ["no entry named 'nope'", "billing", "analytics"],
    ),
    "consumer-index-out-of-range": (
        "consumers[5].instances=2",
        "consumers[5].instances",
        ["index 5 is out of range"],
    ),
    "value-out-of-range": ("network.loss=2", "network.loss", ["expected a value <= 1"]),
    "unknown-key": (
        "delivery.semantcs=at-most-once",
        "delivery.semantcs",
        ["did you mean 'semantics'?"],
    ),
    "wrong-type": ("duration=ten", "duration", ["expected a number", "'ten' (string)"]),
}


@pytest.mark.parametrize("assignment, key, says", BAD_SETS.values(), ids=BAD_SETS.keys())
def test_a_bad_override_is_refused_with_file_key_and_expectation(tmp_path, assignment, key, says):
    path = write(tmp_path, TARGET_OF_SETS, "good.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, [assignment])
    error = info.value
    assert error.source == str(path)
    by_path = {p.path: p.message for p in error.problems}
    assert key in by_path, f"no problem at {key!r}; got {[str(p) for p in error.problems]}"
    for fragment in says:
        assert fragment in by_path[key]
    assert str(error).startswith(f"{path}: invalid scenario")


# ---------------------------------------------------------------------------------------------
# Sweeps


@pytest.mark.parametrize(
    ("sweep", "path", "message"),
    [
        ('"delivery.semantix" = ["a"]', 'sweep."delivery.semantix"[0]', "did you mean 'semantics'"),
        ('"broker.servers" = [1, 0]', 'sweep."broker.servers"[1]', "expected a value >= 1"),
        (
            '"consumers.nope.instances" = [2]',
            'sweep."consumers.nope.instances"[0]',
            "no entry named 'nope'",
        ),
        ('"duration" = []', 'sweep."duration"', "non-empty array"),
    ],
)
def test_every_swept_value_is_validated_up_front(tmp_path, sweep, path, message):
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, f'name = "x"\n[sweep]\n{sweep}\n'))
    assert [p.path for p in info.value.problems] == [path]
    assert message in info.value.problems[0].message


def test_a_valid_sweep_loads_and_its_points_validate(tmp_path):
    from sim.scenario.points import points_of

    text = 'name = "x"\n[sweep]\n"delivery.semantics" = ["at-most-once", "exactly-once"]\n'
    text += '"network.publish_ack.loss" = [0.0, 0.1, 0.2]\n'
    scenario = load_scenario(write(tmp_path, text))
    table, points = points_of(scenario)
    assert list(table) == ["delivery.semantics", "network.publish_ack.loss"]
    assert len(points) == 6
    assert points[5][0] == {"delivery.semantics": "exactly-once", "network.publish_ack.loss": 0.2}
    assert points[5][1].network.link("publish_ack").loss == 0.2
    assert not points[5][1].sweep


def test_setting_a_swept_key_fixes_it(tmp_path):
    text = 'name = "x"\n[sweep]\n"delivery.semantics" = ["at-most-once", "exactly-once"]\n'
    text += '"network.loss" = [0.0, 0.1]\n[sweep.level]\n"network.publish.loss" = [0.0, 0.1]\n'
    text += '"broker.prefetch" = [1, 5]\n'
    scenario = load_scenario(
        write(tmp_path, text), ["delivery.semantics=exactly-once", "broker.prefetch=3"]
    )
    assert scenario.delivery.semantics == "exactly-once" and scenario.broker.prefetch == 3
    assert list(scenario.sweep) == ["network.loss", "level"]
    assert list(scenario.sweep["level"]) == ["network.publish.loss"]
