"""Overload seen inside a run: a queue that saturates mid-run and drains before the end is still overload."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.client import OUTCOMES, GeneratorUsage
from stages.loadgen.summary import summarize
from stages.params.compare import CompareParams
from stages.params.loadgen import LoadgenParams
from stages.stats.arms import overload_of, run_overloaded
from stages.stats.samples import RunSample, run_sample, window_backlog

PARAMS = CompareParams()


def served_by_one_server(schedule: np.ndarray, service_s: np.ndarray) -> pd.DataFrame:
    """Records of a first-come-first-served server, one request at a time, as the load generator writes them."""
    done = np.empty(len(schedule))
    free = 0.0
    for row, (arrival, service) in enumerate(zip(schedule, service_s, strict=True)):
        free = max(free, arrival) + service
        done[row] = free
    return pd.DataFrame({
        "index": np.arange(len(schedule)), "scheduled_s": schedule, "sent_s": schedule, "done_s": done,
        "status": 200, "outcome": pd.Categorical.from_codes(np.zeros(len(schedule), int), categories=list(OUTCOMES)),  # type: ignore[call-overload]
        "latency_ms": (done - schedule) * 1e3, "service_ms": (done - schedule) * 1e3, "lag_ms": 0.0,
        "warmup": schedule < 1.0})


def sample(spec: ArrivalSpec, service_s: np.ndarray | float, slow: tuple[float, float, float] | None = None
           ) -> RunSample:
    schedule = draw_schedule(spec)
    service = np.broadcast_to(service_s, schedule.shape).copy()
    if slow is not None:  # (from s, to s, service time meanwhile): the machine starved the server for a while
        service[(schedule >= slow[0]) & (schedule < slow[1])] = slow[2]
    records = served_by_one_server(schedule, service)
    summary = summarize(records, spec, LoadgenParams(), GeneratorUsage(cpu=0.1, idle_wait=0.9))
    return run_sample(0, "run-0", records, summary)


def test_a_run_that_saturates_mid_run_and_drains_before_its_end_is_overloaded() -> None:
    spec = ArrivalSpec("exponential", 2.0, requests=180, seed=1)  # ~90 s
    run = sample(spec, 0.1, slow=(20.0, 45.0, 0.9))  # 25 s at 1.8x its capacity, then 5x faster than arrivals
    assert run.latencies_ms[-10:].max() < 500  # drained: the end of the run looks healthy
    slope_alone = (run.backlog_slope >= PARAMS.overload_slope
                   and run.backlog_slope * run.window_s * 1e3 >= PARAMS.overload_min_growth_ms)
    assert not slope_alone  # the whole-run slope misses it ...
    assert run.growth_streak() >= PARAMS.overload_windows and run.backlog.max() > 10  # ... the backlog does not
    assert run_overloaded(run, PARAMS)
    arm = overload_of([run, run], PARAMS)
    assert arm.overloaded and arm.overloaded_runs == 2 and arm.peak_backlog == run.backlog.max()


def test_a_stable_bursty_run_and_a_short_burst_are_not_overload() -> None:
    bursty = sample(ArrivalSpec("gamma", 2.0, shape=0.25, requests=150, seed=2), 0.05)  # utilisation 0.1
    assert not run_overloaded(bursty, PARAMS)
    brief = sample(ArrivalSpec("exponential", 2.0, requests=150, seed=3), 0.1, slow=(20.0, 24.0, 0.9))
    assert brief.backlog.max() > 0 and not run_overloaded(brief, PARAMS)  # a 4-s hiccup, drained in a window


def test_the_overload_scenario_past_saturation_is_overloaded_from_its_backlog() -> None:
    run = sample(ArrivalSpec("exponential", 15.0, requests=360, seed=13), 1 / 10.0)  # 1.5x a 10 req/s server
    assert run_overloaded(run, PARAMS) and run.growth_streak() >= 3


def test_window_backlog_counts_arrived_and_unanswered_requests_at_each_window_end() -> None:
    scheduled = np.array([0.0, 1.0, 2.0, 6.0])
    latencies_ms = np.array([500.0, 7000.0, 500.0, 500.0])  # answered at 0.5, 8.0, 2.5, 6.5
    assert list(window_backlog(scheduled, latencies_ms, 5.0)) == [1, 0]  # at 5 s: request 1; at 10 s: none
    assert len(window_backlog(np.zeros(0), np.zeros(0), 5.0)) == 0
