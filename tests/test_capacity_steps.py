"""A capacity step measures exactly what a p99 claim needs, censors failures, reports the realised rate, and stops
sending once its failure is certain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stages.common.errors import ServebenchError
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import ClientConfig, SendOptions, run_open_loop
from stages.loadgen.decided import CertainFailure, breaches_that_fail
from stages.loadgen.payloads import arrival_spec
from stages.params.capacity import CapacityParams
from stages.params.loadgen import ScenarioParams
from stages.serving.capacity import censored_p99, judge_step, offered_rate, step_scenario


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


@pytest.mark.parametrize("measured", [5, 44, 90, 100, 459, 460, 1000])
def test_the_breaches_that_fail_a_step_are_those_that_move_its_p99(measured: int) -> None:
    """Brute force against numpy: k breaches (censored at infinity) make the "higher" p99 fail, k - 1 do not."""
    k = breaches_that_fail(measured, 0.99)

    def p99_with(breaches: int) -> float:
        return float(np.percentile(np.r_[np.zeros(measured - breaches), np.full(breaches, np.inf)], 99,
                                   method="higher"))

    assert p99_with(k) == np.inf
    assert p99_with(k - 1) == 0.0


def test_an_overloaded_step_stops_once_its_failure_is_certain(null_server: str) -> None:
    """A server taking 50 ms per request, one at a time, offered 40/s: the backlog grows by 1 s every 2 s, so a
    few seconds in, enough requests wait past 300 ms to decide a p99 of 200 requests. The run stops sending,
    every row keeps an outcome, and the rule's verdict on the records is the one it stopped on."""
    schedule = draw_schedule(arrival_spec(ScenarioParams(process="exponential", rate=40.0, requests=220, seed=3)))
    rule = CertainFailure(warmup_s=0.5, bound_ms=300.0, quantile=0.99, max_error_rate=0.01)
    records, _ = run_open_loop(f"{null_server}/serial?ms=50", schedule, [b"{}"] * len(schedule),
                               ClientConfig(timeout_s=10.0), 0.5, SendOptions(stop_when=rule))
    unsent = records["outcome"] == "not_sent"
    assert unsent.sum() > 100  # stopped well before the schedule's ~5.5 s end
    assert records.loc[unsent, "sent_s"].isna().all() and records.loc[~unsent, "done_s"].notna().all()
    late = (records.loc[~unsent & ~records["warmup"], "latency_ms"] > 300.0).sum()
    assert late >= breaches_that_fail(int((~records["warmup"]).sum()), 0.99)


def test_a_step_within_the_objective_sends_everything(null_server: str) -> None:
    schedule = draw_schedule(arrival_spec(ScenarioParams(process="exponential", rate=20.0, requests=60, seed=4)))
    rule = CertainFailure(warmup_s=0.5, bound_ms=1000.0, quantile=0.99, max_error_rate=0.01)
    records, _ = run_open_loop(f"{null_server}/slow?ms=5", schedule, [b"{}"] * len(schedule),
                               ClientConfig(timeout_s=10.0), 0.5, SendOptions(stop_when=rule))
    assert (records["outcome"] == "ok").all()


def step_records(latencies_ms: list[float], outcomes: list[str], gap_s: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame({"scheduled_s": np.arange(len(outcomes)) * gap_s, "latency_ms": latencies_ms,
                         "outcome": outcomes, "error": ""})


def test_a_step_passes_within_the_objective_and_reports_its_figures() -> None:
    objective = CapacityParams(slo_p99_ms=100.0, max_error_rate=0.01)
    passed, step = judge_step(5.0, step_records([20.0] * 99 + [90.0], ["ok"] * 100), objective, stolen=0.1)
    assert passed and step.p99_ms == 90.0 and step.p50_ms == 20.0 and step.failed == 0
    assert step.offered_per_s == pytest.approx(10.0) and step.goodput_per_s == pytest.approx(10.0)
    assert not step.p99_claim and step.unsent == 0 and step.cpu_stolen == 0.1  # 100 < 459 requests


def test_a_step_fails_on_its_error_share_even_with_fast_answers() -> None:
    objective = CapacityParams(slo_p99_ms=100.0, max_error_rate=0.01)
    outcomes = ["ok"] * 97 + ["http_error"] * 3  # 3 % failed, answered in 2 ms
    passed, step = judge_step(5.0, step_records([20.0] * 97 + [2.0] * 3, outcomes), objective)
    assert not passed and step.failed == 3 and step.error_rate == pytest.approx(0.03)
    assert step.p99_ms is None  # censored: the failures are the slowest, so no finite p99


def test_a_step_that_stopped_sending_fails_and_claims_no_goodput() -> None:
    """One request left unsent: the p99 of the rest and their error share would pass, the step does not."""
    objective = CapacityParams(slo_p99_ms=100.0, max_error_rate=0.01)
    outcomes = ["ok"] * 199 + ["not_sent"]
    passed, step = judge_step(5.0, step_records([20.0] * 200, outcomes), objective)
    assert step.p99_ms == 20.0 and step.error_rate == 0.0
    assert not passed and step.measured == 199 and step.unsent == 1 and step.goodput_per_s is None


def test_a_step_that_lost_requests_decides_nothing() -> None:
    records = step_records([20.0] * 10, ["ok"] * 9 + ["lost"])
    records.loc[9, "error"] = "generator pod 1 never started"
    with pytest.raises(ServebenchError, match="generator pod 1 never started"):
        judge_step(5.0, records, CapacityParams())
