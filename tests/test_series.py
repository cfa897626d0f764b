"""The data series DVC plots and the report draws: failures counted, load curves in order, headline groups."""

from __future__ import annotations

import numpy as np
import pytest

from stages.records.capacity import Capacity, CapacityStep, ServiceCapacity
from stages.reporting.series import latency_vs_load, served_fraction
from stages.stats.samples import ArmRuns, RunSample


def sample(block: int, ok_ms: list[float], failures: int, timeout_ms: float = 5000.0) -> RunSample:
    latencies = np.array([*ok_ms, *[timeout_ms] * failures])  # failures censored at the timeout, as compare does
    return RunSample(block=block, path=f"run-{block}", latencies_ms=latencies, failures=failures, window_s=1.0,
                     backlog_slope=0.0, outcomes={})


def test_the_served_share_tops_out_at_the_ok_share_not_at_one() -> None:
    """A third of the baseline's requests failed: its curve must end at 2/3 however long one waits."""
    baseline = ArmRuns(runs={0: sample(0, [100.0, 200.0], 1), 1: sample(1, [150.0, 250.0], 1)})
    optimized = ArmRuns(runs={0: sample(0, [10.0, 20.0, 30.0], 0), 1: sample(1, [15.0, 25.0, 35.0], 0)})
    frame = served_fraction({"baseline": baseline, "optimized": optimized, "empty": ArmRuns()})
    assert list(frame.columns) == ["latency_ms", "baseline", "optimized"]
    assert frame["latency_ms"].iloc[0] == 10.0 and frame["latency_ms"].iloc[-1] == pytest.approx(250.0)
    assert frame["baseline"].iloc[-1] == pytest.approx(4 / 6) and frame["optimized"].iloc[-1] == 1.0
    assert frame["baseline"].is_monotonic_increasing and frame["optimized"].is_monotonic_increasing
    below = frame[frame["latency_ms"] < 100.0]
    assert (below["baseline"] == 0).all() and below["optimized"].iloc[-1] == 1.0


def step(rate: float, passed: bool, p99: float | None) -> CapacityStep:
    return CapacityStep(rate=rate, measured=460, failed=0, error_rate=0.0, p99_ms=p99, p50_ms=10.0,
                        goodput_per_s=rate if passed else rate / 2, passed=passed, p99_claim=True)


def test_latency_vs_load_lists_every_step_by_service_and_rate_with_the_objective() -> None:
    searched = [step(40.0, False, 3000.0), step(10.0, True, 200.0), step(20.0, False, 1500.0)]
    capacity = Capacity(slo_p99_ms=1000.0, max_error_rate=0.01, ratio=None, services={
        "optimized": ServiceCapacity(variant="onnx-int8", start_rate=40.0, capacity_per_s=10.0, bracket=[10.0, 20.0],
                                     steps=searched, short_steps=0),
        "baseline": ServiceCapacity(variant="pytorch-fp32", start_rate=5.0, capacity_per_s=None,
                                    bracket=[None, 5.0], steps=[step(5.0, False, None)], short_steps=0)})
    frame = latency_vs_load(capacity)
    assert frame["service"].tolist() == ["baseline", "optimized", "optimized", "optimized"]
    assert frame.loc[frame["service"] == "optimized", "offered_per_s"].tolist() == [10.0, 20.0, 40.0]
    assert (frame["slo_p99_ms"] == 1000.0).all() and frame["p99_ms"].isna().sum() == 1
    assert frame["goodput_per_s"].tolist() == [2.5, 10.0, 10.0, 20.0]
