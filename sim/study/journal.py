"""The journal: every finished replication on disk, so an interrupted study resumes.

Each run is one small JSON file under ``DIR/parts/``, written to a temporary name and renamed,
so a crash or Ctrl-C leaves only whole files. A file names the sweep point, the replication
and its seed; ``--resume`` reuses the files whose point and seed the new study also has, so a
study can also be extended (more replications, more sweep values) without redoing work.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario.schema import Scenario
from sim.study.files import atomic_path, write_atomic

if TYPE_CHECKING:
    import pandas as pd

Part = dict[str, Any]
"""One replication: ``rows`` (figures per consumer group), ``windows`` (fault windows),
``latency`` (quantile functions per group) and, for replication 0, ``timeline`` (columns)."""


class StudyMismatch(Exception):
    """``--resume`` pointed at results of a different scenario."""


def fingerprint(scenario: Scenario) -> str:
    """What the runs depend on, apart from the sweep, the seed and the replication count
    (of a study, or of one sweep point: the key its journaled runs are found by)."""
    core = scenario.model_copy(update={"sweep": {}, "replications": 1, "seed": 0})
    return hashlib.sha256(core.to_toml().encode()).hexdigest()[:16]


class Journal:
    """The runs of one study on disk, in ``DIR/parts``, one file each."""

    def __init__(self, directory: Path, study: str, resume: bool):
        self.parts = directory / "parts"
        marker = self.parts / "STUDY"
        if self.parts.exists():
            for orphan in self.parts.glob(".*.tmp"):
                orphan.unlink()  # a temporary file of a process killed while writing it
        if resume and marker.exists():
            found = marker.read_text(encoding="utf-8").strip()
            if found != study:
                raise StudyMismatch(
                    f"{directory} holds runs of a different scenario (study {found}, this one "
                    f"is {study}); choose another --out, or drop --resume to start again"
                )
        else:
            if self.parts.exists():
                for old in [*self.parts.glob("*.json"), *self.parts.glob("trace-*.parquet")]:
                    old.unlink()
            write_atomic(marker, study + "\n")

    @staticmethod
    def _name(key: str, replication: int, seed: int) -> str:
        digest = hashlib.sha1(f"{key}|{replication}|{seed}".encode()).hexdigest()[:20]
        return f"{digest}.json"

    def load(self) -> dict[tuple[str, int, int], Part]:
        """Every readable part, keyed by (point key, replication, seed)."""
        found = {}
        for path in sorted(self.parts.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                found[(data.pop("point"), data.pop("replication"), data.pop("seed"))] = data
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: that run is simply done again
        return found

    def _trace_path(self, key: str, seed: int) -> Path:
        return self.parts / f"trace-{self._name(key, 0, seed)[:-5]}.parquet"

    def has_trace(self, key: str, seed: int) -> bool:
        """Whether the trace of a point's replication 0 is journaled."""
        return self._trace_path(key, seed).exists()

    def load_trace(self, key: str, seed: int) -> pd.DataFrame:
        """The journaled trace of a point's replication 0."""
        import pandas as pd

        return pd.read_parquet(self._trace_path(key, seed))

    def record_trace(self, key: str, seed: int, events: pd.DataFrame) -> None:
        """The trace of a point's replication 0, written whole or not at all."""
        with atomic_path(self._trace_path(key, seed)) as tmp:
            events.to_parquet(tmp, index=False)

    def record(self, key: str, replication: int, seed: int, part: Part) -> None:
        """Journal one finished run (written whole or not at all)."""
        text = json.dumps({"point": key, "replication": replication, "seed": seed, **part})
        write_atomic(self.parts / self._name(key, replication, seed), text)
