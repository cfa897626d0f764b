"""A capacity step measures exactly what a p99 claim needs, censors failures and reports the realised rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.capacity import censored_p99, offered_rate, step_scenario
from stages.common.params import CapacityParams
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.payloads import arrival_spec


@pytest.mark.parametrize("rate", [3.72, 15.19, 91.33, 250.0])
def test_every_step_measures_exactly_the_requests_a_claim_needs(rate: float) -> None:
    params = CapacityParams(requests_per_step=460, warmup_s=3.0, seed=21)
    schedule = draw_schedule(arrival_spec(step_scenario(rate, params)))
    assert int((schedule >= params.warmup_s).sum()) == 460


def test_a_shed_request_answered_fast_is_not_a_fast_answer() -> None:
    """99 served at 10-108 ms and 2 shed 503s answered in 2 ms: the shed ones are the p99, not the fast end."""
    served = pd.DataFrame({"outcome": "ok", "latency_ms": np.arange(10.0, 109.0)})
    shed = pd.DataFrame({"outcome": "http_error", "latency_ms": [2.0, 2.0]})
    assert censored_p99(served) == pytest.approx(108.0)  # the order statistic above the 99 % point
    assert censored_p99(pd.concat([served, shed])) == float("inf")


def test_the_offered_rate_is_what_the_schedule_realised() -> None:
    measured = pd.DataFrame({"scheduled_s": np.linspace(3.0, 8.0, 51)})
    assert offered_rate(measured) == pytest.approx(10.0)
    assert offered_rate(measured.head(1)) is None
