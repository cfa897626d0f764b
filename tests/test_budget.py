"""A load test's length stays within its budget on a slow machine: runs cut to fit, never below the floor, the
cut recorded where later stages read the scenario."""

from __future__ import annotations

import logging

import pytest
from helpers import REPO_ROOT
from test_relative_rates import FAST, capacity

from stages.experiment.budget import BlockShape, expected_minutes, fitted_requests
from stages.experiment.loadtest import LoadtestSettings, fit_budget, scenario_arms, uses_switchback
from stages.loadgen.relative import as_offered, describe, offered_load, resolve
from stages.params.base import load_params, parse_params
from stages.params.loadgen import ScenarioParams
from stages.params.loadtest import AutoRepeatsParams, LoadtestParams

# The development VM on 7 Dec: baseline capacity 1.67 req/s (steady at 0.25x: 0.42 req/s).
STARVED = capacity(1.67, 13.1)
AUTO = LoadtestParams(repeats="auto", auto=AutoRepeatsParams(min_repeats=8, max_repeats=12, budget_minutes=20,
                                                             shortest_run=30))
SWITCHBACK_3_ARMS = BlockShape(arms=3, fresh_per_run=False)


def test_stated_runs_that_fit_the_budget_are_left_alone() -> None:
    settings = ScenarioParams(rate=4.0, requests=140)
    assert fitted_requests(settings, 4.0, AUTO, SWITCHBACK_3_ARMS) == 140
    assert expected_minutes(settings, 4.0, 8, SWITCHBACK_3_ARMS) <= 20


def test_runs_that_would_overrun_are_cut_to_fit_and_the_cut_fits() -> None:
    settings = ScenarioParams(rate=1.5, requests=140)
    cut = fitted_requests(settings, 1.5, AUTO, SWITCHBACK_3_ARMS)
    assert cut is not None and 30 <= cut < 140
    assert expected_minutes(settings.model_copy(update={"requests": cut}), 1.5, 8, SWITCHBACK_3_ARMS) <= 20
    assert expected_minutes(settings.model_copy(update={"requests": cut + 2}), 1.5, 8, SWITCHBACK_3_ARMS) > 20


@pytest.mark.parametrize("loadtest, settings, expected", [
    (AUTO, ScenarioParams(rate=0.42, requests=140), 30),  # the floor, even if the budget overruns
    (AUTO.model_copy(update={"repeats": 8}), ScenarioParams(rate=0.42, requests=140), 140),  # fixed repeats
    (AUTO.model_copy(update={"auto": AUTO.auto.model_copy(update={"shortest_run": None})}),
     ScenarioParams(rate=0.42, requests=140), 140),  # cutting off
    (AUTO, ScenarioParams(rate=0.42, requests=20), 20),  # already below the floor
    (AUTO, ScenarioParams(rate=0.42, duration_s=300), None),  # sized by duration
])
def test_what_is_never_cut(loadtest: LoadtestParams, settings: ScenarioParams, expected: int | None) -> None:
    assert fitted_requests(settings, 0.42, loadtest, SWITCHBACK_3_ARMS) == expected


def test_fresh_servers_per_run_count_against_the_budget() -> None:
    settings = ScenarioParams(rate=2.0, requests=140)
    fresh, shared = BlockShape(arms=2, fresh_per_run=True), BlockShape(arms=2, fresh_per_run=False)
    assert expected_minutes(settings, 2.0, 8, fresh) > expected_minutes(settings, 2.0, 8, shared)
    assert (fitted_requests(settings, 2.0, AUTO, fresh) or 0) < (fitted_requests(settings, 2.0, AUTO, shared) or 0)


def test_the_committed_scenarios_on_a_starved_machine_are_cut_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    params = load_params(LoadtestSettings, REPO_ROOT / "params.yaml")
    stated = params.loadgen.scenarios["steady"]
    assert len(scenario_arms(params, "steady")) == 3 and uses_switchback(params, "steady")
    resolved = resolve("steady", stated, STARVED)
    with caplog.at_level(logging.INFO, logger="stages.experiment.loadtest"):
        fitted = fit_budget("steady", params, resolved, offered_load(stated, resolved, STARVED).rate_per_s)
    assert fitted.requests == params.loadtest.auto.shortest_run == 30 < (stated.requests or 0)
    assert "runs cut to 30 requests" in caplog.text
    offered = offered_load(stated, fitted, STARVED)
    assert (offered.requests_per_run, offered.cut_from) == (30, stated.requests)
    assert "runs cut from 140 to 30 requests" in describe(offered)
    assert as_offered("steady", stated, offered).requests == 30  # what the calibration and report model
    on_fast = resolve("steady", stated, FAST)
    assert fit_budget("steady", params, on_fast, offered_load(stated, on_fast, FAST).rate_per_s) is on_fast
    assert offered_load(stated, on_fast, FAST).cut_from is None


def test_the_floor_is_checked_when_the_params_are_read() -> None:
    with pytest.raises(ValueError, match="shortest_run"):
        parse_params(LoadtestSettings, {"loadtest": {"auto": {"shortest_run": 3}}})
