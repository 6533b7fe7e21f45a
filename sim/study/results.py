"""What a study produced, in tidy pandas tables (the result files hold the same tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario
from sim.study.files import KEYS

if TYPE_CHECKING:
    import pandas as pd


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()


@dataclass
class Results:
    """What a study produced: ``runs`` (one row per point, replication and consumer group),
    ``summary`` (mean and 95% interval per figure) and the recorded fault windows."""

    scenario: Scenario
    runs: pd.DataFrame
    summary: pd.DataFrame
    faults: pd.DataFrame
    seeds: list[int]
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    wall_time: float = 0.0
    executor: str = "serial"
    reused: int = 0
    """Runs taken from an earlier, interrupted study (``resume``) instead of simulated."""
    latency: pd.DataFrame = field(default_factory=_empty)
    """Latency distributions: per point, group and kind (``end_to_end``, ``publish``), the
    seconds at each quantile, averaged over replications."""
    timeline: pd.DataFrame = field(default_factory=_empty)
    """Replication 0 of every point over time: rates, queue, backlog, lag, cumulative
    losses and duplicates (see :mod:`sim.timeline`)."""
    trace: pd.DataFrame = field(default_factory=_empty)
    """Every event of replication 0 of every point, when the study was traced."""
    precise: bool | None = None
    """Under ``replications = "auto"``: whether every target interval reached the precision
    (False: the cap stopped it first). None otherwise."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables the charts are drawn from (also what the result files hold)."""
        return {
            "summary": self.summary,
            "runs": self.runs,
            "latency": self.latency,
            "timeline": self.timeline,
            "faults": self.faults,
        }

    key: str = "group"
    """What a row describes besides its point: a consumer ``group``, or an ``approach`` of an
    architecture comparison."""

    @property
    def simulations(self) -> int:
        """Replications run, over every point."""
        return len(self.runs.drop_duplicates(subset=[*KEYS, *self.sweep, "replication"]))

    @property
    def by(self) -> list[str]:
        """The columns a summary row is keyed by."""
        return [*KEYS, *self.sweep, self.key]
