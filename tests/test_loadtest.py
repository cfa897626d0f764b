"""Which arms a scenario's load test runs, in what order (every block holds each arm once), and reruns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stages.calibration.synthetic import CASES, Noise, synthetic_load_test, synthetic_scenario
from stages.common.errors import ServebenchError
from stages.experiment.loadtest import (
    LoadtestSettings,
    Scenario,
    require_measured,
    run_folder,
    run_order,
    scenario_arms,
    sizing,
)
from stages.params.base import ParamsError, parse_params
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.records.load import OfferedLoad
from stages.records.loadtest import LoadtestRun
from stages.stats.samples import ScenarioRuns

BOUNDS = LoadgenParams()

SCENARIOS = {"loadgen": {"scenarios": {"a": {"rate": 2.0, "duration_s": 5}, "b": {"rate": 2.0, "duration_s": 5}}}}


def params(**loadtest: object) -> LoadtestSettings:
    return parse_params(LoadtestSettings, {**SCENARIOS, "loadtest": {"scenarios": ["a", "b"],
                                                                  "switchback": {"enabled": False}, **loadtest}})


def test_the_aa_scenario_serves_the_aa_service_twice() -> None:
    chosen = params(aa={"service": "optimized", "scenario": "a"})
    assert scenario_arms(chosen, "a") == {"baseline": "baseline", "optimized": "optimized",
                                          "aa-optimized": "optimized"}
    assert scenario_arms(chosen, "b") == {"baseline": "baseline", "optimized": "optimized"}


@pytest.mark.parametrize("aa", [{"service": None, "scenario": "a"}, {"service": "optimized", "scenario": "c"}])
def test_no_aa_arm_when_it_is_off_or_its_scenario_is_not_run(aa: dict[str, Any]) -> None:
    chosen = params(aa=aa)
    assert chosen.loadtest.aa_scenario is None
    assert all(len(scenario_arms(chosen, name)) == 2 for name in ("a", "b"))


def test_an_aa_service_that_is_not_served_is_refused() -> None:
    with pytest.raises(ParamsError, match=r"loadtest\.aa\.service = 'baseline': must be one of loadtest\.services"):
        params(services=["optimized"], aa={"service": "baseline", "scenario": "a"})


def test_every_block_runs_each_arm_once_in_a_seeded_order() -> None:
    arms = ["baseline", "optimized", "aa-optimized"]
    order = run_order(arms, repeats=6, seed=3)
    assert [repeat for repeat, _ in order] == [r for r in range(6) for _ in arms]
    blocks = [[arm for repeat, arm in order if repeat == r] for r in range(6)]
    assert all(sorted(block) == sorted(arms) for block in blocks)
    assert len({tuple(block) for block in blocks}) > 1  # the order changes between blocks
    assert run_order(arms, 6, 3) == order and run_order(arms, 6, 4) != order


@dataclass
class ScriptedScenario(Scenario):
    """The block loop with each run's audit verdict scripted instead of served (the servers are tested in e2e)."""

    script: list[bool] = field(default_factory=list)

    def attempt(self, repeat: int, arm: str, attempt: int) -> LoadtestRun:
        run = LoadtestRun(service=arm, repeat=repeat, order=len(self.runs), path=run_folder(arm, repeat, attempt),
                          valid=self.script.pop(0), reasons=[], attempt=attempt)
        self.runs.append(run)
        return run

    def switchback_attempt(self, repeat: int, attempt: int) -> list[LoadtestRun]:
        return [self.attempt(repeat, arm, attempt) for arm in self.arms]


def test_a_run_that_fails_the_audit_is_rerun_in_its_block_up_to_the_limit(tmp_path: Path) -> None:
    chosen = params(max_reruns=2)
    scenario = ScriptedScenario("a", chosen, chosen.loadgen.scenarios["a"], None, [], tmp_path,  # type: ignore[arg-type]
                                {"baseline": "baseline", "optimized": "optimized"}, OfferedLoad(rate_per_s=2.0),
                                tmp_path / "logs", script=[False, True, False, False, False, True])
    scenario.block(0, ["baseline", "optimized"])
    scenario.block(1, ["optimized"])
    assert [(run.service, run.repeat, run.attempt, run.valid) for run in scenario.runs] == [
        ("baseline", 0, 0, False), ("baseline", 0, 1, True),
        ("optimized", 0, 0, False), ("optimized", 0, 1, False), ("optimized", 0, 2, False),  # gives up after 2
        ("optimized", 1, 0, True)]
    assert [run.path for run in scenario.runs][:2] == ["baseline/run-0", "baseline/run-0-rerun-1"]


def test_a_switchback_block_with_an_invalid_run_is_rerun_whole_so_its_arms_still_share_a_machine(
        tmp_path: Path) -> None:
    chosen = params(max_reruns=2, switchback={"enabled": True, "fresh_per_run": ["b"]})
    arms = {"baseline": "baseline", "optimized": "optimized"}
    scenario = ScriptedScenario("a", chosen, chosen.loadgen.scenarios["a"], None, [], tmp_path,  # type: ignore[arg-type]
                                arms, OfferedLoad(rate_per_s=2.0), tmp_path / "logs",
                                script=[True, False, True, True])
    assert scenario.switchback
    scenario.block(0, ["optimized", "baseline"])
    assert [(run.service, run.attempt, run.valid) for run in scenario.runs] == [
        ("baseline", 0, True), ("optimized", 0, False), ("baseline", 1, True), ("optimized", 1, True)]
    fresh = ScriptedScenario("b", chosen, chosen.loadgen.scenarios["b"], None, [], tmp_path,  # type: ignore[arg-type]
                             arms, OfferedLoad(rate_per_s=2.0), tmp_path / "logs", script=[True, True])
    assert not fresh.switchback  # named in fresh_per_run: one run per arm, in the block's order
    fresh.block(0, ["optimized", "baseline"])
    assert [run.service for run in fresh.runs] == ["optimized", "baseline"]


def test_repeats_auto_takes_its_bounds_and_refuses_a_minimum_above_the_maximum() -> None:
    chosen = params(repeats="auto", auto={"min_repeats": 5, "max_repeats": 9})
    assert (chosen.loadtest.planned_repeats, chosen.loadtest.most_repeats) == (5, 9)
    assert (params(repeats=4).loadtest.planned_repeats, params(repeats=4).loadtest.most_repeats) == (4, 4)
    with pytest.raises(ParamsError, match=r"max_repeats \(4\) must be >= min_repeats \(6\)"):
        params(repeats="auto", auto={"min_repeats": 6, "max_repeats": 4})


def scenario_from(runs: ScenarioRuns, chosen: LoadtestSettings) -> Scenario:
    """A load test's state after ``runs`` (synthetic ones: the stopping rule reads only their records)."""
    state = Scenario("a", chosen, chosen.loadgen.scenarios["a"], None, [], Path("."),  # type: ignore[arg-type]
                     {"baseline": "baseline", "optimized": "optimized"}, OfferedLoad(rate_per_s=2.0), Path("logs"))
    state.runs, state.records, state.summaries = list(runs.index.runs), runs.records, runs.summaries
    return state


def test_repeats_auto_stops_once_every_verdict_is_decided_and_not_before() -> None:
    """The stopping rule reads the verdicts at the look's share of alpha: a halving is decided at the first look
    (8 blocks); identical noisy arms are not, nor are blocks below the floor."""
    chosen = params(repeats="auto")
    settings = chosen.loadgen.scenarios["a"].model_copy(update={"duration_s": 80.0, "warmup_s": 2.0})
    measured = int((synthetic_scenario("a", settings, Noise(np.ones(1), 0, 0, 0, 0)).schedule >= 2.0).sum())
    assert measured > 44 * 1.5  # a p90 tail at least, the requests' autocorrelation (0.2) discounted
    quiet = synthetic_scenario("a", settings, Noise(np.full(measured, 20.0), 0.01, 0.0, 0.2, 0.2), blocks=8)
    noisy = synthetic_scenario("a", settings, Noise(np.full(measured, 20.0), 0.0, 0.4, 0.2, 0.2), blocks=8)
    rng = np.random.default_rng(0)
    met, found = sizing(scenario_from(synthetic_load_test(CASES["x0.5"], quiet, BOUNDS, rng), chosen))
    assert met and found == "p50 faster, tail faster, cost not measured"  # the synthetic runs have no CPU time
    met, found = sizing(scenario_from(synthetic_load_test(CASES["identical"], noisy, BOUNDS, rng), chosen))
    assert not met and "faster" not in found and "slower" not in found  # says which verdicts are still open
    few = synthetic_scenario("a", settings, Noise(np.full(measured, 20.0), 0.01, 0.0, 0.2, 0.2), blocks=4)
    met, found = sizing(scenario_from(synthetic_load_test(CASES["x0.5"], few, BOUNDS, rng), chosen))
    assert not met and found == "p50 insufficient data, tail insufficient data, cost not measured"


def test_a_schedule_that_is_all_warm_up_is_refused_before_any_server_starts() -> None:
    """Sized by requests at a rate resolved from a high capacity, 40 requests can all land in a 0.5 s warm-up."""
    with pytest.raises(ServebenchError, match=r"all 40 requests at 200.0 req/s are sent within the warm-up"):
        require_measured("fast", ScenarioParams(rate=200.0, requests=40, warmup_s=0.5))
    require_measured("fine", ScenarioParams(rate=20.0, requests=40, warmup_s=0.5))
