"""The samples a comparison works on, read from the loadtest stage's files: per arm, one sample per block.

A run's sample holds every measured request (warm-up excluded). Failed requests (HTTP errors, timeouts, refused
connections, client-limit drops) enter the latencies censored at the run's timeout: a service that fails its
slowest requests, or sheds load with fast 503s, cannot look faster for it. Failures are also counted, so that
error rates are compared with methods for counts.

A run that fails the generator's audit is rerun in its block (``loadtest.max_reruns``); the block's sample is its
first valid attempt. The first attempt of every block, valid or not, is kept apart (``as_scheduled``): the
compare stage reports its verdicts with those too, so a reader sees whether the exclusions moved anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from scipy import stats

from stages.common.artifacts import RECORDS_FILE, RUNS_INDEX, SUMMARY_FILE
from stages.common.errors import ServebenchError
from stages.common.io import read_result
from stages.records.load import LoadSummary
from stages.records.loadtest import LoadtestIndex, LoadtestRun
from stages.stats.comparison import ExcludedRun

DEFAULT_TIMEOUT_S = 30.0  # a scenario's timeout when its summary does not record one
# The backlog is read at the end of every window this long: a few seconds, so that a queue that builds and drains
# within a minute shows, while a burst cleared within a window does not.
BACKLOG_WINDOW_S = 5.0


@dataclass(frozen=True)
class RunSample:
    """One run: latencies (ms from the schedule) of every measured request, failures censored at the timeout,
    with the schedule's window and the backlog trend that tell an overloaded run from a stable one."""

    block: int
    path: str
    latencies_ms: np.ndarray
    failures: int
    window_s: float  # the measured requests' scheduled span: the window throughput is counted on
    backlog_slope: float  # Theil-Sen slope of latency over scheduled time (s per s): > 0 while a queue grows
    outcomes: dict[str, int]
    backlog: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # see :func:`window_backlog`
    probe_stolen: float | None = None  # what the machine probe saw while the run (its slots) measured
    cpu_ms_per_request: float | None = None  # its server's CPU time per request (LoadtestRun.cost)

    @property
    def rate_per_s(self) -> float:
        """The offered rate over the run's measured window."""
        return self.requests / self.window_s if self.window_s > 0 else 0.0

    def growth_streak(self) -> int:
        """The most windows in a row in which the backlog grew: completions fell behind arrivals that long."""
        grew = np.diff(self.backlog, prepend=0) > 0
        streak = best = 0
        for step in grew:
            streak = streak + 1 if step else 0
            best = max(best, streak)
        return best

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def served(self) -> int:
        return self.requests - self.failures

    @property
    def throughput_ok_per_s(self) -> float:
        """Requests answered ok per second of the schedule's window: an overloaded service that serves every
        request late still served them, and a drain after the window cannot inflate or deflate it."""
        return self.served / self.window_s if self.window_s > 0 else 0.0


@dataclass
class ArmRuns:
    """One arm's sample per block (its first valid attempt), its invalid attempts (path and reasons), and the
    first attempt of every block whatever the audit said (the sensitivity analysis)."""

    runs: dict[int, RunSample] = field(default_factory=dict)
    excluded: list[ExcludedRun] = field(default_factory=list)
    as_scheduled: dict[int, RunSample] = field(default_factory=dict)

    @property
    def latencies(self) -> list[np.ndarray]:
        return [run.latencies_ms for run in self.runs.values()]


@dataclass
class ScenarioRuns:
    """A scenario's index, and every run's records and summary (valid or not), keyed by the run's path."""

    index: LoadtestIndex
    records: dict[str, pd.DataFrame]
    summaries: dict[str, LoadSummary]


def read_runs(folder: Path) -> ScenarioRuns:
    """The index, records and summaries of every run of one scenario."""
    index = read_result(folder / RUNS_INDEX, LoadtestIndex)
    return ScenarioRuns(index, {run.path: pd.read_parquet(folder / run.path / RECORDS_FILE) for run in index.runs},
                        {run.path: read_result(folder / run.path / SUMMARY_FILE, LoadSummary) for run in index.runs})


def backlog_slope(scheduled_s: np.ndarray, latencies_ms: np.ndarray) -> float:
    """How fast latency grows over the run (s of latency per s of schedule), robust to bursts (Theil-Sen)."""
    if len(scheduled_s) < 3 or np.ptp(scheduled_s) <= 0:
        return 0.0
    return float(stats.theilslopes(latencies_ms / 1e3, scheduled_s).slope)


def window_backlog(scheduled_s: np.ndarray, latencies_ms: np.ndarray, window_s: float) -> np.ndarray:
    """Requests arrived and not yet answered at the end of each window of ``window_s`` from the first arrival:
    the backlog a queue builds when completions fall behind arrivals, seen even when it drains before the run
    ends (the whole-run slope misses that). Failures count as answered at their censored latency."""
    if not len(scheduled_s):
        return np.zeros(0, int)
    arrived = np.sort(scheduled_s)
    answered = np.sort(scheduled_s + latencies_ms / 1e3)
    ends = arrived[0] + window_s * np.arange(1, int(np.ceil((answered[-1] - arrived[0]) / window_s)) + 1)
    return np.searchsorted(arrived, ends, "right") - np.searchsorted(answered, ends, "right")


def run_sample(block: int, path: str, records: pd.DataFrame, summary: LoadSummary,
               probe_stolen: float | None = None, cpu_ms_per_request: float | None = None) -> RunSample:
    """The measured requests of one run, failures censored at the scenario's timeout."""
    timeout_s = float(cast(float | None, (summary.scenario or {}).get("timeout_s")) or DEFAULT_TIMEOUT_S)
    measured = ~records["warmup"].to_numpy(bool)
    ok = (records["outcome"] == "ok").to_numpy(bool)[measured]
    latencies = records["latency_ms"].to_numpy(float)[measured]
    broken = int((ok & ~np.isfinite(latencies)).sum())
    if broken:
        raise ServebenchError(f"run {path}: {broken} ok request(s) with a latency that is not a finite number "
                              f"(NaN or inf) in {RECORDS_FILE}: the records are damaged; rerun its load test")
    ok_latencies = np.where(ok, latencies, np.nan)
    censored = np.where(ok, ok_latencies, max(timeout_s * 1000.0, float(np.nanmax(ok_latencies, initial=0.0))))
    scheduled = records["scheduled_s"].to_numpy(float)[measured]
    window = float(np.ptp(scheduled)) * len(scheduled) / (len(scheduled) - 1) if len(scheduled) > 1 else 0.0
    return RunSample(block=block, path=path, latencies_ms=censored, failures=int((~ok).sum()), window_s=window,
                     backlog_slope=backlog_slope(scheduled, censored),
                     outcomes={key: int(value) for key, value in summary.outcomes.items()},
                     backlog=window_backlog(scheduled, censored, BACKLOG_WINDOW_S), probe_stolen=probe_stolen,
                     cpu_ms_per_request=cpu_ms_per_request)


def _first_attempts(runs: list[LoadtestRun]) -> dict[tuple[str, int], LoadtestRun]:
    first: dict[tuple[str, int], LoadtestRun] = {}
    for run in sorted(runs, key=lambda run: run.attempt):
        first.setdefault((run.service, run.repeat), run)
    return first


def group_by_arm(runs: ScenarioRuns) -> dict[str, ArmRuns]:
    """Every arm's first valid attempt per block; invalid attempts are listed, not used, and every block's first
    attempt is kept for the sensitivity analysis."""
    arms: dict[str, ArmRuns] = {}
    first = _first_attempts(runs.index.runs)
    for run in sorted(runs.index.runs, key=lambda run: (run.service, run.repeat, run.attempt)):
        arm = arms.setdefault(run.service, ArmRuns())
        sample = run_sample(run.repeat, run.path, runs.records[run.path], runs.summaries[run.path],
                            run.machine.probe_stolen if run.machine else None,
                            run.cost.cpu_ms_per_request if run.cost else None)
        if first[(run.service, run.repeat)] is run:
            arm.as_scheduled[run.repeat] = sample
        if not run.valid:
            arm.excluded.append(ExcludedRun(path=run.path, reasons=run.reasons))
        elif run.repeat not in arm.runs:
            arm.runs[run.repeat] = sample
    return arms


def read_scenario(folder: Path) -> dict[str, ArmRuns]:
    """Every arm's samples of one scenario, read from its folder."""
    return group_by_arm(read_runs(folder))
