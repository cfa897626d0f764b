"""The samples a comparison works on, read from the loadtest stage's files: per service, one array per valid run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.artifacts import RUNS_INDEX
from stages.common.io import read_result
from stages.common.results import LoadSummary, LoadtestIndex
from stages.loadgen.shards import RECORDS_FILE, SUMMARY_FILE
from stages.stats.comparison import ExcludedRun


@dataclass
class ServiceRuns:
    """Latencies (ms, from the schedule, ok requests, warm-up excluded) and summaries of one service's runs."""

    latencies: list[np.ndarray] = field(default_factory=list)
    summaries: list[LoadSummary] = field(default_factory=list)
    excluded: list[ExcludedRun] = field(default_factory=list)  # invalid runs: path and reasons

    @property
    def throughputs(self) -> np.ndarray:
        return np.array([s.throughput_ok_per_s or 0.0 for s in self.summaries])


@dataclass
class ScenarioRuns:
    """A scenario's index and every run's records (valid or not), keyed by the run's path; read once."""

    index: LoadtestIndex
    records: dict[str, pd.DataFrame]


def read_runs(folder: Path) -> ScenarioRuns:
    """The index and the records of every run of one scenario."""
    index = read_result(folder / RUNS_INDEX, LoadtestIndex)
    return ScenarioRuns(index, {run.path: pd.read_parquet(folder / run.path / RECORDS_FILE) for run in index.runs})


def group_by_service(folder: Path, runs: ScenarioRuns) -> dict[str, ServiceRuns]:
    """Every service's valid runs of one scenario; invalid runs are listed, not used."""
    services: dict[str, ServiceRuns] = {}
    for run in runs.index.runs:
        service = services.setdefault(run.service, ServiceRuns())
        if not run.valid:
            service.excluded.append(ExcludedRun(path=run.path, reasons=run.reasons))
            continue
        records = runs.records[run.path]
        measured = records[~records["warmup"] & (records["outcome"] == "ok")]
        service.latencies.append(measured["latency_ms"].to_numpy())
        service.summaries.append(read_result(folder / run.path / SUMMARY_FILE, LoadSummary))
    return services


def read_scenario(folder: Path) -> dict[str, ServiceRuns]:
    """Every service's valid runs of one scenario, read from its folder."""
    return group_by_service(folder, read_runs(folder))
