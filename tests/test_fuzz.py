"""Fuzzed input: whatever a scenario file or a ``--set`` holds, ``dsim`` either accepts it
(exit code 0) or refuses it (exit code 2) with a message that names the key path, or says
that the TOML is invalid or the file empty; never a traceback.

Hypothesis writes scenario files of three kinds: text that is not TOML (or not text at all),
TOML of random structure (random keys and values, unicode, deep nesting), and valid scenarios
(the shipped ones, and those of the strategy of ``tests/test_properties.py``) with a few keys
mutated (values of the right type at their extremes, huge or non-finite numbers, negative
zero, wrong types, arrays for tables, deleted keys, unknown unicode keys); and random
``--set`` options. ``dsim validate`` checks every one; a
small share of those that validate also runs, kept tiny with ``--set duration=0.5 --set
drain=0.5 --replications 1``. The examples above the fuzzing are the inputs it found (or that
were found while writing it), kept as regressions.
"""

from __future__ import annotations

import copy
import datetime
import math
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import typer.main
import typer.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sim
import sim.scenario
from sim.cli import app
from sim.scenario.files import MAX_DEPTH, MAX_KEY_PARTS
from sim.scenario.limits import (
    MAX_EVENTS,
    MAX_MESSAGES,
    MAX_POINTS,
    MAX_TIMELINE_SAMPLES,
    expected_messages,
)
from tests.test_properties import scenarios

runner = CliRunner(env={"COLUMNS": "300"})


@pytest.fixture(scope="module", autouse=True)
def command_built_once() -> Iterator[None]:
    """typer's CliRunner builds the click command from the app on every call (about 4 ms, as
    much as the rest of an example): build it once for the thousands of calls here."""
    built = typer.main.get_command(app)
    original = typer.testing._get_command
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda a: built if a is app else original(a))
        yield


FILE_PROBLEMS = ("invalid TOML", "the file is empty", "cannot read", "expected a table")
"""What a refusal of the whole file says (it has no key path)."""
RUNAWAY = "the run cannot end"


def dsim(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def problems(stderr: str) -> list[tuple[str, str]]:
    """The (key path, message) pairs of a refusal."""
    assert stderr.startswith("error: "), stderr
    assert ": invalid scenario\n" in stderr, stderr
    found = []
    for line in stderr.split(": invalid scenario\n", 1)[1].splitlines():
        if not line.startswith("  "):
            continue  # the message of a problem goes on past a line break
        path, sep, message = line[2:].partition(": ")
        if not sep or path.startswith(FILE_PROBLEMS):
            path, message = "", line[2:]
        found.append((path, message))
    assert found, stderr
    return found


def assert_clean(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )


def top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def escaped(text: str) -> str:
    """Characters that cannot be shown as they are, as ``\\uXXXX`` (or ``\\UXXXXXXXX``)."""
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in text
    )


def shown(key: str) -> str:
    """A key as a path in a message shows it: quoted and escaped when empty or not
    printable."""
    return key if key and key.isprintable() else f'"{escaped(key)}"'


REFERENCES = {"faults", "consumers", "sweep"}
REFERENCED = {"consumers", "workload", "architecture", "faults"}
"""Tables whose keys others refer to: a fault names a consumer group or a producer, a sweep
key can name a consumer group, and an architecture comparison makes the consumer groups. A
change to one can be refused where the reference is (``faults[0].target: no such target
...``, ``sweep."failure_rate"[0]: consumers.billing...: no entry named 'billing'``)."""


def check_refusal(result, touched: list[str]) -> None:
    """Exit code 2, and a message naming one of the key paths ``touched`` (or a path in the
    same top-level table, or a message that names the key: a limit on the whole run), or
    a problem of the whole file."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.split("\n")
    assert all(line.isprintable() for line in lines), lines  # no raw escape or line break
    found = problems(result.stderr)
    if any(path == "" and message.startswith(FILE_PROBLEMS) for path, message in found):
        return
    if not touched:
        assert all(path for path, _ in found), found
        return
    for path, message in found:
        line = f"{path}: {message}"
        for key in touched:
            leaf = escaped(re.split(r"[.\[\]]", key.strip("."))[-1] or key)
            if (
                path == "--set"
                or top(path) in (shown(top(key)), escaped(top(key)))
                or leaf in line
                or (top(path) in REFERENCES and top(key) in REFERENCED)
            ):
                return
    pytest.fail(f"no problem names any of {touched}: {found}")


# ---------------------------------------------------------------------------------------------
# Inputs found by the fuzzing (or while writing it), each with what the refusal must say


def huge_sweep_duration() -> str:
    return 'name = "x"\n[sweep]\nduration = [1.0, 1e308]\n'


FOUND = {
    # the file as a whole
    "empty-file": ("", "", "the file is empty"),
    "whitespace-only": ("  \n\t\n", "", "the file is empty"),
    "binary": (b"\x00\x01\xfe\xff", "", "cannot read"),
    "arrays-nested-990-deep": (
        'name = "x"\ndescription = ' + "[" * 990 + "]" * 990,
        "",
        "invalid TOML: arrays or tables nested too deeply",
    ),
    "tables-nested-990-deep": (
        'name = "x"\n[workload]\nrate = ' + "{a=" * 990 + "1" + "}" * 990,
        "",
        "invalid TOML: arrays or tables nested too deeply",
    ),
    "dotted-key-of-20000-parts": (
        'name = "x"\n' + ".".join(["a"] * 20000) + " = 1",
        "",
        f"a dotted key with more than {MAX_KEY_PARTS} parts",
    ),
    "tables-nested-300-deep": (
        'name = "x"\n[workload]\nrate = ' + "{a=" * 300 + "1" + "}" * 300,
        "workload.rate.a",
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    # huge numbers: a valid scenario that would run for ever or fill the memory
    "duration-1e308": ('name = "x"\nduration = 1e308\n', "workload.rate", "messages per"),
    "rate-1e300": ('name = "x"\n[workload]\nrate = 1e300\n', "workload.rate", "at most 1e+08"),
    "spike-of-1e300": (
        'name = "x"\n[[workload.spikes]]\nat = 1.0\nduration = 1.0\nrate = 1e300\n',
        "workload.rate",
        "workload.spikes included",
    ),
    "instances-10**30": (
        'name = "x"\n[[consumers]]\ninstances = 1' + "0" * 30 + "\n",
        "consumers[0].instances",
        "expected a value <= 10000",
    ),
    "seed-10**30": ('name = "x"\nseed = 1' + "0" * 30 + "\n", "seed", "expected a value <"),
    "rate-10**400": ('name = "x"\n[workload]\nrate = 1' + "0" * 400 + "\n", "workload.rate", ""),
    "timeline-step-1e-9": (
        'name = "x"\ntimeline_step = 1e-9\n',
        "timeline_step",
        "timeline samples",
    ),
    "poll-interval-1e-300": (
        'name = "x"\n[delivery]\npoll_interval = 1e-300\n',
        "delivery.poll_interval",
        "timer events",
    ),
    "consumer-crashes-every-nanosecond": (
        'name = "x"\n[[consumers]]\nmtbf = 1e-9\nmttr = 1e-9\n',
        "consumers[0].mtbf",
        "timer events",
    ),
    "fault-every-nanosecond": (
        'name = "x"\n[[faults]]\ntarget = "broker"\nmtbf = 1e-9\nmttr = 1e-9\n',
        "faults[0].mtbf",
        "timer events",
    ),
    "swept-duration-1e308": (huge_sweep_duration(), "workload.rate", "messages per"),
    "a-sweep-of-10**9-points": (
        'name = "x"\n[sweep]\n'
        + "".join(f'"{k}" = [{", ".join(str(v) for v in range(1000))}]\n' for k in "abc"),
        "sweep",
        "a sweep of 1,000,000,000 points (1000 x 1000 x 1000 values); at most 10,000",
    ),
    "architecture-needs-1e299-instances": (
        'name = "x"\nduration = 1e-9\n[workload]\nrate = 1e300\n[architecture]\n'
        'services = [{ name = "a" }, { name = "b" }]\n',
        "architecture.services[1].instances",
        "would start",
    ),
    "lognormal-with-an-infinite-mean": (
        'name = "x"\n[architecture]\nservices = [{ name = "a" }, '
        '{ name = "b", latency = { dist = "lognormal", median = 0.01, sigma = 100.0 } }]\n',
        "architecture.services[1].latency",
        "is a finite number",
    ),
    "capacity-2.5": ('name = "x"\n[broker]\ncapacity = 2.5\n', "broker.capacity", "whole number"),
    "nan-duration": ('name = "x"\nduration = nan\n', "duration", "finite"),
    "negative-zero-is-zero": ('name = "x"\nduration = -0.0\ndrain = -0.0\n', None, ""),
    "unicode-name-is-fine": ('name = "ordres ☃ é"\n', None, ""),
    "unicode-group-name": ('name = "x"\n[[consumers]]\nname = "é"\n', "consumers[0].name", ""),
    "unicode-key": ('name = "x"\n"é☃" = 1\n', "é☃", "unknown key"),
    "terminal-escape-in-a-key": ('name = "x"\n"\\u001b[2J" = 1\n', '"\\u001b[2J"', "unknown"),
    "a-key-named-like-a-distribution": ('name = "x"\nconstant = 1\n', "constant", "unknown key"),
    "array-for-a-table": ('name = "x"\nworkload = [1, 2]\n', "workload", "expected a table"),
    "table-for-an-array": ('name = "x"\n[consumers]\nname = "a"\n', "consumers", "an array"),
    "date-for-a-number": ('name = "x"\nduration = 1979-05-27\n', "duration", "a number"),
    "a-sweep-naming-a-group-that-lost-its-name": (
        'name = "x"\nconsumers = [{}]\n[sweep]\n"consumers.billing.instances" = [1, 2]\n',
        'sweep."consumers.billing.instances"[0]',
        "no entry named 'billing' (expected one of: 'consumer')",
    ),
}


@pytest.mark.parametrize("text, key, says", FOUND.values(), ids=FOUND.keys())
def test_found_inputs(tmp_path: Path, text: str | bytes, key: str | None, says: str) -> None:
    path = tmp_path / "s.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    result = dsim("validate", path)
    assert time.perf_counter() - started < 10
    assert_clean(result)
    if key is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    found = problems(result.stderr)
    match = [(p, m) for p, m in found if (p == key or p.startswith(f"{key}.")) and says in m]
    assert match, found


SET_FOUND = {
    "value-nested-too-deeply": ("workload.rate=" + "[" * 2000 + "]" * 2000, "--set", "nested"),
    "not-utf-8": ("description=\udcff", "description", "not valid UTF-8"),
    "huge-number": ("duration=1e400", "duration", "finite"),
    "empty-path-part": ("workload..rate=1", "workload..rate", "empty part"),
    "no-key": ("=1", "--set", "expected KEY=VALUE"),
    "index-out-of-range": ("consumers[5].instances=2", "consumers[5].instances", "out of range"),
    "into-a-string": ("name.x=1", "name.x", "not a table"),
    "duration-as-a-table": ("duration[0]=1", "duration", "expected a number"),
    "terminal-escape-in-a-key": ("\x1b[31mred=1", '"\\u001b[31mred"', "unknown key"),
    "escape-in-a-path": ("workload.\x07\x1b=1", 'workload."\\u0007\\u001b"', "unknown key"),
}


@pytest.mark.parametrize("assignment, key, says", SET_FOUND.values(), ids=SET_FOUND.keys())
def test_found_set_values(tmp_path: Path, assignment: str, key: str, says: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n', encoding="utf-8")
    result = dsim("validate", path, "--set", assignment)
    assert_clean(result)
    assert result.exit_code == 2, result.output
    found = problems(result.stderr)
    assert [(p, m) for p, m in found if p == key and says in m], found


def test_negative_zero_runs_as_zero(tmp_path: Path) -> None:
    """Found by the fuzzing: ``sigma = -0.0`` passed validation (-0.0 >= 0), then NumPy
    refused it ("sigma < 0") with a traceback in the middle of the run."""
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "x"\nduration = 0.5\ndrain = 0.5\nreplications = 1\n'
        '[network.latency]\ndist = "lognormal"\nmedian = 0.002\nsigma = -0.0\n',
        encoding="utf-8",
    )
    result = dsim("run", path, "--out", tmp_path / "out", "--jobs", "1", "--quiet", "--no-charts")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    assert "sigma = 0.0" in (tmp_path / "out" / "scenario.toml").read_text(encoding="utf-8")


def test_a_sweep_value_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\nduration = 0.1\ndrain = 0.1\n', encoding="utf-8")
    deep = "[" * 2000 + "]" * 2000
    result = dsim("run", path, "--sweep", f"workload.rate={deep}", "--out", tmp_path / "o")
    assert_clean(result)
    assert result.exit_code == 2
    assert "error: --sweep: invalid scenario\n  workload.rate: values nested" in result.stderr


def test_a_sweep_whose_points_are_fine_alone_is_not_refused_for_its_base(tmp_path: Path) -> None:
    """The limits apply to each point: a base rate that would be too much with a long
    duration does not matter when every swept rate is small."""
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "x"\nduration = 1e7\n[sweep]\n"workload.rate" = [0.0, 1.0]\ndrain = [0.0, 1.0]\n',
        encoding="utf-8",
    )
    result = dsim("validate", path)
    assert result.exit_code == 0, result.output
    assert "a sweep of 4 points" in " ".join(result.stdout.split())


def test_the_limits_are_the_documented_ones() -> None:
    page = Path(__file__).parents[1] / "docs" / "scenario-format.md"
    text = page.read_text(encoding="utf-8")
    paragraph = next(x for x in text.split("\n\n") if x.startswith("Limits:"))
    line = " ".join(paragraph.split())
    for text in ("10^8 expected messages", "10^8 timer events", "10^6 timeline samples"):
        assert text in line
    assert (MAX_MESSAGES, MAX_EVENTS, MAX_TIMELINE_SAMPLES) == (10**8, 10**8, 10**6)
    assert f"{MAX_DEPTH} levels" in line and f"{MAX_KEY_PARTS} parts" in line
    assert f"more than {MAX_POINTS:,} points" in line


def test_expected_messages_counts_spikes_in_place_of_the_rate() -> None:
    s = sim.validate(
        {
            "name": "x",
            "duration": 10.0,
            "workload": {
                "producers": 2,
                "rate": 5.0,
                "spikes": [
                    {"at": 2.0, "duration": 3.0, "rate": 50.0},
                    {"at": 9.0, "duration": 5.0, "rate": 1.0},
                ],
            },
        }
    )
    assert expected_messages(s) == pytest.approx(2 * (5.0 * 6 + 50.0 * 3 + 1.0 * 1))


# ---------------------------------------------------------------------------------------------
# The fuzzing


ODD = [
    1e308,
    -1e308,
    1e-300,
    5e-324,
    10**30,
    -(10**30),
    2**63,
    2**64,
    -0.0,
    0.0,
    -1,
    -1.0,
    0.5,
    1.5,
    2,
    100_000,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    "",
    "é☃",
    "\x00",
    "inf",
    "nan",
    "-0.0",
    "../../etc",
    [],
    {},
    [1, 2],
    [{"a": 1}],
    {"a": 1},
    {"dist": "constant"},
    {"dist": "constant", "value": -0.0},
    {"dist": "exponential", "mean": 0.0},
    {"dist": "exponential", "mean": 1e308},
    {"dist": "lognormal", "median": 1e300, "sigma": 1e300},
    {"dist": "uniform", "low": 2.0, "high": 1.0},
    {"dist": "normal", "mean": 1e308, "sd": 1e308},
    {"dist": "weibull", "k": 1},
    datetime.date(2020, 1, 1),
    datetime.time(12, 0),
]
scalars = st.one_of(
    st.sampled_from(ODD),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
)
keys = st.one_of(
    st.sampled_from(["name", "rate", "dist", "loss", "instances", "target", "at", "é", "☃", ""]),
    st.text(min_size=1, max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=6,
)


def deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


odd_values = st.one_of(values, st.integers(30, 60).map(deep))


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in raw scenario data (list items by index)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def mutate(raw: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> str:
    """Change ``raw`` at ``path``: replace the value, delete it, or add an unknown key
    beside it (or in it, when it is a table). Returns the key path touched."""
    *parents, last = path
    value = copy.deepcopy(value)  # ODD's tables and arrays are shared: never change them
    node: Any = raw
    for part in parents:
        node = node[part]
    if action == "delete":
        if isinstance(node, list):
            node.pop(last)
        else:
            del node[last]
        return dotted(path)
    if action == "add" and isinstance(node, dict):
        name = "é☃-unknown" if isinstance(value, bool) else "unknown_key"
        if isinstance(node[last], dict):  # into the table
            node[last][name] = value
            return dotted((*path, name))
        node[name] = value  # beside the key
        return dotted((*parents, name))
    node[last] = value
    return dotted(path)


SHIPPED = sorted((Path(__file__).parents[1] / "scenarios").glob("*.toml"))
SMALL = [
    {"name": "small"},
    {
        "name": "small",
        "duration": 1.0,
        "workload": {"rate": 20.0, "spikes": [{"at": 0.2, "duration": 0.2, "rate": 50.0}]},
        "delivery": {"semantics": "exactly-once", "pattern": "pubsub", "preset": "sqs-fifo"},
        "network": {
            "publish_ack": {
                "loss": 0.1,
                "latency": {"dist": "uniform", "low": 0.001, "high": 0.002},
            }
        },
        "consumers": [{"name": "a", "instances": 2}, {"name": "b", "join_at": 0.5}],
        "faults": [{"target": "broker", "at": 0.3, "duration": 0.1}],
        "sweep": {"network.loss": [0.0, 0.1]},
    },
]


def pool() -> list[dict[str, Any]]:
    """Valid scenarios to mutate: the shipped ones and two small ones."""
    return [sim.scenario.read_toml(path) for path in SHIPPED] + SMALL


POOL = pool()
bases = st.one_of(
    st.sampled_from(POOL).map(copy.deepcopy),
    st.sampled_from(POOL).map(copy.deepcopy),
    st.sampled_from(POOL).map(copy.deepcopy),
    scenarios(),  # the random valid scenarios of the property tests: slower to draw
)


WORDS = [
    *["", "é☃", "kafka", "gcp-pubsub", "pubsub", "streaming", "at-most-once", "exactly-once"],
    *["sequence", "latest", "constant", "exponential", "memory", "durable", "crash"],
    *["partition", "broker", "producer:0", "link:publish", "consumer:billing", "chain"],
]


def same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Values of the type already there, extreme ones first: what a valid file may hold."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        extreme = [0, 1, 2, 10_000, 10_001, 2**63 - 1, 2**63, 10**30]
        return st.one_of(st.sampled_from(extreme), st.integers(0, 50))
    if isinstance(value, float):
        extreme = [0.0, -0.0, 5e-324, 1e-300, 1e-9, 1e-3, 0.5, 1.0, 1e9, 1e300, 1e308, math.inf]
        return st.one_of(st.sampled_from(extreme), st.floats(0.0, 1e6))
    if isinstance(value, str):
        return st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
    return odd_values


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, list[str]]:
    raw = draw(bases)
    touched = []
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(raw)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["extreme", "extreme", "replace", "delete", "add"]))
        if action == "extreme":
            node: Any = raw
            for part in path:
                node = node[part]
            value = draw(same_kind(node))
        else:
            value = draw(odd_values)
        touched.append(mutate(raw, path, action, value))
    return tomli_w.dumps(raw), touched


@st.composite
def random_structure(draw: st.DrawFn) -> tuple[str, list[str]]:
    raw = draw(st.dictionaries(keys, values, max_size=5))
    if draw(st.booleans()):
        raw["name"] = draw(st.one_of(st.text(max_size=10), scalars))
    return tomli_w.dumps(raw), list(raw) or ["name"]


not_toml = st.one_of(
    st.just(""),
    st.text(max_size=60),
    st.binary(max_size=60),
    st.sampled_from(["name = ", "[[", "name = 'x'\nname = 'y'", "a = [1,", "x = 1e400", "\ufeff"]),
).map(lambda text: (text, []))

SET_KEYS = [
    "name",
    "duration",
    "drain",
    "seed",
    "replications",
    "timeline_step",
    "workload.rate",
    "workload.producers",
    "workload.spikes",
    "delivery.semantics",
    "delivery.pattern",
    "delivery.ack_timeout",
    "delivery.backoff",
    "delivery.backoff.base",
    "delivery.preset",
    "broker.capacity",
    "broker.retention",
    "broker.service_time",
    "network.loss",
    "network.publish.latency",
    "consumers[0].instances",
    "consumers.g0.join_at",
    "consumers.nope.instances",
    "consumers[9].name",
    "consumers.0.name",
    "consumers",
    "faults[0].target",
    "faults",
    "sweep.duration",
    'sweep."workload.rate"',
    "architecture",
    "é",
    "a..b",
    ".",
    "[0]",
    "duration[0]",
    "name.x",
    "",
]
SET_VALUES = [
    "",
    "=",
    "1e400",
    "nan",
    "-nan",
    "inf",
    "-0.0",
    "1" + "0" * 30,
    "[",
    "{",
    "{a=1}",
    "[1,2]",
    "[[[[]]]]",
    "true",
    '"é"',
    "é☃",
    "1979-05-27",
    "0x10",
    "1_000",
    "'x'",
    '{ dist = "constant", value = -0.0 }',
    '"at-least-once"',
    '"kafka"',
    "[{at=0.0, duration=1e308, rate=1e308}]",
]
assignment = st.one_of(
    st.builds(
        lambda k, v: f"{k}={v}",
        st.one_of(st.sampled_from(SET_KEYS), st.text(max_size=10)),
        st.one_of(st.sampled_from(SET_VALUES), st.text(max_size=10)),
    ),
    st.text(max_size=12),
)
sets = st.lists(assignment, max_size=3)


def set_keys(options: list[str]) -> list[str]:
    return [text.partition("=")[0].strip() for text in options]


def small_enough(path: Path, options: list[str]) -> bool:
    """Whether a tiny run of this scenario is cheap and cannot meet a known engine bug: a
    handful of messages and components, and nothing that fires more than about 100 times a
    second (a faster retry or redelivery loop would reach the backoff overflow reported in
    tests/test_degenerate.py, or simply take long)."""
    try:
        s = sim.load_scenario(path, [*options, *TINY])
    except (sim.ScenarioError, ValueError):
        return False
    d = s.delivery
    timers = [d.ack_timeout, d.redelivery_after, d.poll_interval or 1.0, s.timeline_step or 1.0]
    timers += [c.mtbf for c in s.consumers] + [c.mttr for c in s.consumers]
    timers += [f.mtbf or 1.0 for f in s.faults] + [f.mttr or 1.0 for f in s.faults]
    points = math.prod(len(options) for _, options in s.sweep_dimensions())
    return (
        expected_messages(s) <= 300
        and s.workload.producers <= 4
        and sum(c.instances for c in s.consumers) <= 8
        and s.partitions <= 8
        and len(s.consumers) <= 4
        and len(s.faults) <= 4
        and points <= 2
        and (s.architecture is None or len(s.architecture.services) <= 4)
        and min(timers) >= 0.01
        and min(d.backoff.base, d.backoff.cap) >= 0.01
    )


TINY = ["duration=0.5", "drain=0.5", "delivery.max_attempts=20"]


class TimedOut(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise TimedOut("a tiny run took more than 20 s")


def fuzz_once(
    directory: Path, text: str | bytes, touched: list[str], options: list[str], run: bool
) -> None:
    path = directory / "fuzz.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    args = [x for option in options for x in ("--set", option)]
    result = dsim("validate", path, *args)
    assert_clean(result)
    if result.exit_code != 0:
        event("refused")
        check_refusal(result, [*touched, *set_keys(options)])
        return
    event("accepted")
    assert result.stderr == ""
    assert "valid scenario" in result.stdout
    if not run or not small_enough(path, options):
        return
    event("ran")
    tiny = [x for option in TINY for x in ("--set", option)]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        ran = dsim(
            "run",
            path,
            *args,
            *tiny,
            "--replications",
            "1",
            "--no-charts",
            "--quiet",
            "--jobs",
            "1",
            "--out",
            directory / "out",
            "--force",
        )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert_clean(ran)
    event(f"run exit code {ran.exit_code}")
    if ran.exit_code == 1:
        assert RUNAWAY in ran.stderr, ran.output
    elif ran.exit_code != 0:
        check_refusal(ran, [*touched, *set_keys(options), *set_keys(TINY)])
    else:
        assert (directory / "out" / "runs.csv").exists()


inputs = st.one_of(mutated(), mutated(), random_structure(), not_toml)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    given_input=inputs,
    options=st.one_of(st.just([]), st.just([]), sets),
    run=st.integers(0, 24).map(lambda n: n == 0),
)
def test_fuzzed_scenarios_are_accepted_or_refused_with_the_key_path(
    directory: Path, given_input: tuple[str | bytes, list[str]], options: list[str], run: bool
) -> None:
    text, touched = given_input
    fuzz_once(directory, text, touched, options, run)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=scenarios(), options=st.one_of(st.just([]), sets))
def test_valid_scenarios_with_random_set_options_run_or_are_refused(
    directory: Path, raw: dict[str, Any], options: list[str]
) -> None:
    """A valid scenario (most of these run), then whatever --set does to it."""
    fuzz_once(directory, tomli_w.dumps(raw), [], options, run=True)
