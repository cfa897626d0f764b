"""The saturation point is found without counting refusals as service (stages/serving/saturation.py)."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from stages.params.limits import LimitsParams
from stages.serving.saturation import (
    ClosedLoopBlock,
    closed_loop_step,
    concurrency_ladder,
    cpu_share_bound,
    per_request_ms,
    ramp,
    saturation_concurrency,
)


def block(concurrency: int, ok: int, shed: int = 0, errors: int = 0) -> ClosedLoopBlock:
    return ClosedLoopBlock(concurrency=concurrency, ok_latencies_ms=[10.0] * ok, shed=shed, errors=errors,
                           seconds=2.0, event_loop_cpu_s=0.5, generator_cpu_s=0.1)


def test_the_ladder_doubles_up_to_the_most_users() -> None:
    assert concurrency_ladder(64) == [1, 2, 4, 8, 16, 32, 64]
    assert concurrency_ladder(48) == [1, 2, 4, 8, 16, 32, 48]
    assert concurrency_ladder(1) == [1]


def test_the_saturation_point_is_the_highest_step_that_does_not_shed() -> None:
    steps = [block(1, 100), block(2, 190), block(4, 200, shed=1), block(8, 150, shed=300)]
    assert saturation_concurrency(steps, 0.01) == 4  # 1 of 201 shed: within 1 %
    assert saturation_concurrency(steps, 0.0) == 2
    assert saturation_concurrency([block(1, 0, shed=5)], 0.01) == 1  # nothing within: one user at a time


def test_shed_503s_are_counted_apart_from_other_failures() -> None:
    records = pd.DataFrame({"outcome": ["ok", "http_error", "http_error", "timeout", "ok"],
                            "status": [200, 503, 500, 0, 200], "service_ms": [5.0, 1.0, 1.0, None, 7.0],
                            "done_s": [0.1, 0.2, 0.3, 0.4, 1.5]})
    counted = closed_loop_step(records, 8, loop_cpu_s=0.5, generator_cpu_s=0.1)
    assert (counted.ok, counted.shed, counted.errors, counted.handled) == (2, 1, 2, 5)
    assert counted.ok_latencies_ms == [5.0, 7.0]
    assert counted.step().throughput_per_s == pytest.approx(2 / 1.5)


def test_cpu_per_handled_request_is_not_inflated_by_refusals() -> None:
    """424 served and 3,304 shed: the loop's CPU over all it handled, not over the served few."""
    loop_cpu_s = 5.0
    assert per_request_ms(loop_cpu_s, 424 + 3304) == pytest.approx(1.341, abs=1e-3)
    assert per_request_ms(loop_cpu_s, 424) == pytest.approx(11.79, abs=1e-2)
    assert per_request_ms(1.0, 0) is None
    assert cpu_share_bound(10.0, 1.0, 1.5) == pytest.approx(0.8)
    assert cpu_share_bound(10.0, None, 1.0) is None


def test_the_ramp_stops_where_a_real_server_starts_to_shed(null_server: str) -> None:
    """A server serving one request at a time (20 ms) that refuses a request finding 3 waiting: 1 and 2 users
    are served in full, and the ramp stops at the first step past the shed bound, which is not the answer."""
    params = LimitsParams(saturation_concurrency=16, ramp_step_seconds=0.6, max_shed_share=0.01,
                          request_timeout_s=10)
    steps = asyncio.run(ramp(f"{null_server}/shedding?ms=20&queue=3", ["a text"], params, "aiohttp", []))
    assert [step.concurrency for step in steps][:2] == [1, 2]
    assert steps[-1].failed_share > 0.01 and steps[-1].shed > 0  # it stopped on the step that shed ...
    assert steps[-1].concurrency < 16  # ... before the top of the ladder
    chosen = saturation_concurrency(steps, params.max_shed_share)
    assert chosen < steps[-1].concurrency
    assert all(step.shed == 0 for step in steps if step.concurrency <= 2)
