"""The limits stage's arithmetic on hand-made measurements: when single requests are fast again after
saturation, throughput and CPU per request at saturation, efficiency, overhead and the CPU-share bound."""

from __future__ import annotations

import pandas as pd
import pytest

from stages.records.bentos import BuiltService
from stages.records.limits import LimitsRound
from stages.serving.limits import (
    BACK_RUN,
    PooledSamples,
    RoundsMeasurement,
    ServerStart,
    back_to_low_load_s,
    saturation_figures,
    service_limits,
    service_line,
)
from stages.serving.saturation import ClosedLoopBlock, cpu_share_bound


def block(service_ms: list[float], outcomes: list[str] | None = None) -> pd.DataFrame:
    """One request at a time, each answered 0.1 s after the previous one."""
    return pd.DataFrame({"service_ms": service_ms, "outcome": outcomes or ["ok"] * len(service_ms),
                         "done_s": [0.1 * (k + 1) for k in range(len(service_ms))]})


def test_back_at_once_when_the_first_requests_are_fast() -> None:
    assert back_to_low_load_s(block([12.0] * 8), 0.05, 10.0) == pytest.approx(0.15)


def test_back_only_after_a_run_of_fast_requests() -> None:
    # slow, slow, one fast one that does not last, then a run: the run's first answer counts
    latencies = [400.0, 380.0, 15.0, 390.0, *[11.0] * BACK_RUN]
    assert back_to_low_load_s(block(latencies), 0.0, 10.0) == pytest.approx(0.5)


def test_a_failed_request_breaks_the_run() -> None:
    latencies = [10.0] * (BACK_RUN + 2)
    outcomes = ["ok", "error", *["ok"] * BACK_RUN]
    assert back_to_low_load_s(block(latencies, outcomes), 0.0, 10.0) == pytest.approx(0.3)


def test_never_back_is_none() -> None:
    assert back_to_low_load_s(block([25.0] * 10), 0.0, 10.0) is None
    assert back_to_low_load_s(block([10.0] * (BACK_RUN - 1)), 0.0, 10.0) is None


def closed_block(ok: int, shed: int, seconds: float, loop_cpu_s: float, generator_cpu_s: float) -> ClosedLoopBlock:
    return ClosedLoopBlock(concurrency=8, ok_latencies_ms=[100.0] * ok, shed=shed, errors=0, seconds=seconds,
                           event_loop_cpu_s=loop_cpu_s, generator_cpu_s=generator_cpu_s)


def test_saturation_divides_cpu_by_every_handled_request_and_by_served_ones_beside() -> None:
    # Two blocks: 30 + 10 served and 10 shed in 4 s; event loop 0.5 s, generator 0.25 s of CPU in all.
    blocks = [closed_block(30, 0, 2.0, 0.3, 0.15), closed_block(10, 10, 2.0, 0.2, 0.10)]
    saturation = saturation_figures(blocks, [100.0] * 40, [])
    assert (saturation.ok, saturation.shed, saturation.seconds) == (40, 10, 4.0)
    assert saturation.throughput_per_s == pytest.approx(10.0)  # served only: 40 in 4 s
    assert saturation.event_loop_cpu_ms_per_request == pytest.approx(10.0)  # 500 ms / 50 handled
    assert saturation.event_loop_cpu_ms_per_served == pytest.approx(12.5)  # 500 ms / 40 served
    assert saturation.generator_cpu_ms_per_request == pytest.approx(5.0)  # 250 ms / 50


def test_service_figures_from_a_hand_made_measurement() -> None:
    """Raw batch of 4 in 100 ms -> 40/s; served 10/s at saturation -> efficiency 0.25. Inference 25 ms a request,
    event loop 10 + generator 5 ms: the CPU-share bound is 25 / 40. Overhead: median of the rounds' 2, 3, 7 ms."""
    rounds = [LimitsRound(overhead_ms=value, raw_batch_throughput_per_s=40.0, saturation_throughput_per_s=10.0,
                          saturation_errors=0, saturation_seconds=2.0) for value in (2.0, 7.0, 3.0)]
    blocks = [closed_block(20, 5, 2.0, 0.25, 0.125), closed_block(20, 5, 2.0, 0.25, 0.125)]
    pooled = PooledSamples(raw_single=[10.0, 12.0], served_single=[13.0, 15.0], raw_batch=[100.0, 100.0],
                           saturation=[100.0] * 40, after_saturation=[14.0])
    built = BuiltService(bento="b:1", model="m:1", variant="onnx-int8", batching={"enabled": True}, workers=1,
                         threads=2)
    limits = service_limits(built, 4, ServerStart(5.0, None), RoundsMeasurement(pooled, rounds, blocks, [], 0.5))
    assert limits.raw.batch_throughput_per_s == pytest.approx(40.0)
    assert limits.saturation_efficiency == pytest.approx(0.25) and not limits.meets_efficiency_target
    assert limits.cpu_share_bound == pytest.approx(25.0 / 40.0)
    assert limits.overhead_ms == pytest.approx(3.0) and limits.meets_overhead_target  # at most the 3 ms target
    assert limits.served.after_saturation_back_s == 0.5 and limits.cold_start_s == 5.0
    assert "CPU-share bound 62%" in service_line("optimized", limits)


def test_cpu_share_bound_is_unknown_without_cpu_figures() -> None:
    assert cpu_share_bound(25.0, None, 5.0) is None
    assert cpu_share_bound(30.0, 0.0, 0.0) == 1.0
