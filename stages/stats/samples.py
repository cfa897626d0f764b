"""The samples a comparison works on, read from the loadtest stage's files: per arm, one sample per valid run.

A run's sample holds every measured request (warm-up excluded). Failed requests (HTTP errors, timeouts, refused
connections, client-limit drops) enter the latencies censored at the run's timeout: a service that fails its
slowest requests, or sheds load with fast 503s, cannot look faster for it. Failures are also counted, so that
error rates are compared on their own.
"""

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

DEFAULT_TIMEOUT_S = 30.0  # a scenario's timeout when its summary does not record one


@dataclass(frozen=True)
class RunSample:
    """One valid run: latencies (ms from the schedule) of every measured request, failures censored."""

    block: int
    latencies_ms: np.ndarray
    failures: int
    throughput_ok_per_s: float
    outcomes: dict[str, int]

    @property
    def failure_rate(self) -> float:
        return self.failures / len(self.latencies_ms) if len(self.latencies_ms) else 1.0


@dataclass
class ArmRuns:
    """One arm's valid runs by block, and its invalid runs (path and reasons), which no statistic uses."""

    runs: dict[int, RunSample] = field(default_factory=dict)
    excluded: list[ExcludedRun] = field(default_factory=list)

    @property
    def latencies(self) -> list[np.ndarray]:
        return [run.latencies_ms for run in self.runs.values()]


@dataclass
class ScenarioRuns:
    """A scenario's index and every run's records (valid or not), keyed by the run's path; read once."""

    index: LoadtestIndex
    records: dict[str, pd.DataFrame]


def read_runs(folder: Path) -> ScenarioRuns:
    """The index and the records of every run of one scenario."""
    index = read_result(folder / RUNS_INDEX, LoadtestIndex)
    return ScenarioRuns(index, {run.path: pd.read_parquet(folder / run.path / RECORDS_FILE) for run in index.runs})


def run_sample(block: int, records: pd.DataFrame, summary: LoadSummary) -> RunSample:
    """The measured requests of one run, failures censored at the scenario's timeout."""
    timeout_s = float((summary.scenario or {}).get("timeout_s") or DEFAULT_TIMEOUT_S)
    measured = records[~records["warmup"]]
    ok = (measured["outcome"] == "ok").to_numpy()
    latencies = np.where(ok, measured["latency_ms"].to_numpy(float), np.nan)
    censored = np.where(ok, latencies, max(timeout_s * 1000.0, float(np.nanmax(latencies, initial=0.0))))
    return RunSample(block=block, latencies_ms=censored, failures=int((~ok).sum()),
                     throughput_ok_per_s=float(summary.throughput_ok_per_s or 0.0),
                     outcomes={key: int(value) for key, value in summary.outcomes.items()})


def group_by_arm(folder: Path, runs: ScenarioRuns) -> dict[str, ArmRuns]:
    """Every arm's valid runs of one scenario, by block; invalid runs are listed, not used."""
    arms: dict[str, ArmRuns] = {}
    for run in runs.index.runs:
        arm = arms.setdefault(run.service, ArmRuns())
        if not run.valid:
            arm.excluded.append(ExcludedRun(path=run.path, reasons=run.reasons))
            continue
        summary = read_result(folder / run.path / SUMMARY_FILE, LoadSummary)
        arm.runs[run.repeat] = run_sample(run.repeat, runs.records[run.path], summary)
    return arms


def read_scenario(folder: Path) -> dict[str, ArmRuns]:
    """Every arm's valid runs of one scenario, read from its folder."""
    return group_by_arm(folder, read_runs(folder))
