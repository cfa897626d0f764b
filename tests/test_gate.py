"""The gate fails a deliberately slowed candidate and passes a faster one, through the compare stage's own path:
synthetic runs written as the load test writes them, read back, compared under one Holm family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stages.calibration.synthetic import Case, Noise, synthetic_experiment, synthetic_scenario
from stages.common.io import write_result
from stages.params.compare import CompareParams
from stages.params.gate import GateParams
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.stats.arms import compare_all
from stages.stats.comparison import ComparisonDetail
from stages.stats.design import Design
from stages.stats.gate import check

BOUNDS = LoadgenParams(lag_bound_ms=50.0)


def detail_for(case: Case, seed: int = 0, cost: bool = False) -> ComparisonDetail:
    """Two scenarios of 4 blocks with quiet run-to-run noise and ``case`` applied to the candidate (``cost``:
    the runs' servers' CPU per request measured too, 10 ms with a 2 % spread)."""
    rng = np.random.default_rng(seed)
    arms = {}
    for name, rate in (("steady", 4.0), ("bursty", 4.0)):
        settings = ScenarioParams(process="exponential", rate=rate, requests=140, warmup_s=5.0, seed=11)
        measured = int((synthetic_scenario(name, settings, Noise(np.ones(1), 0, 0, 0, 0)).schedule >= 5.0).sum())
        noise = Noise(np.full(measured, 20.0), 0.02, 0.02, 0.2, 0.2, *((10.0, 0.02) if cost else ()))
        scenario = synthetic_scenario(name, settings, noise, 4)
        arms[name] = synthetic_experiment(case, scenario, BOUNDS, rng)
    design = Design(family=6, min_units=4, looks=1, targets={"p50": 0.223, "tail": 0.693, "cost": 0.105}, alpha=0.05)
    scenarios, aa = compare_all(arms, ("baseline", "optimized"), None, CompareParams(), design)
    return ComparisonDetail(scenarios=scenarios, aa=aa, capacity=None, params={})


def test_a_slowed_candidate_fails_the_gate_with_one_line_per_broken_condition() -> None:
    result = check(detail_for(Case("candidate 50 % slower", factor=1.5)), GateParams())
    failed = [condition.detail for condition in result.conditions if not condition.passed]
    assert not result.passed
    assert any(line.startswith("steady: optimized p50 of each run is slower than baseline's: ratio 1.") and
               "Holm p" in line for line in failed), failed
    assert all("\n" not in line for line in failed)


def test_a_faster_candidate_passes_and_the_conditions_can_be_switched_off() -> None:
    faster = detail_for(Case("candidate twice as fast", factor=0.5))
    assert check(faster, GateParams()).passed
    slower = detail_for(Case("candidate 50 % slower", factor=1.5))
    assert check(slower, GateParams(no_slower=False)).passed


def test_a_candidate_failing_requests_fails_the_failure_condition() -> None:
    result = check(detail_for(Case("candidate times out 12 requests per run", failures_per_run=12)), GateParams())
    assert any("failed share is higher" in condition.detail for condition in result.conditions
               if not condition.passed)


@pytest.mark.integration
def test_the_stage_exits_non_zero_and_still_writes_what_it_found(tmp_path: Path) -> None:
    write_result(tmp_path / "detail.json", detail_for(Case("candidate 50 % slower", factor=1.5)))
    (tmp_path / "params.yaml").write_text("gate: {min_capacity_ratio: 2.0}\n")
    done = subprocess.run([sys.executable, "-m", "stages.gate", "--params", str(tmp_path / "params.yaml"),
                           "--detail", str(tmp_path / "detail.json"), "--out", str(tmp_path / "gate.json")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "gate: FAIL: capacity ratio: not measured (at least 2x)" in done.stderr
    written = json.loads((tmp_path / "gate.json").read_text())
    assert written["passed"] is False and len(written["conditions"]) >= 3


@pytest.mark.parametrize(("word", "passes"), [("inconclusive", True), ("equivalent", True), ("faster", False)])
def test_the_aa_check_calling_identical_services_different_fails_the_gate(word: str, passes: bool) -> None:
    detail = detail_for(Case("candidate twice as fast", factor=0.5))
    aa = detail.scenarios["steady"].model_copy(deep=True)
    assert aa.primary is not None
    aa.primary = {key: stat.model_copy(update={"verdict": word}) for key, stat in aa.primary.items()}
    assert check(detail.model_copy(update={"aa": aa}), GateParams()).passed is passes


def test_a_candidate_shown_to_cost_more_cpu_fails_the_cost_ceiling_and_only_then() -> None:
    """CPU per request 1.5x the reference's, latency unchanged: the gate's max_cost_ratio 1.0 fails on it, 2.0
    does not, and off (None) it is not checked."""
    detail = detail_for(Case("candidate costs 1.5x the CPU", cost_factor=1.5), cost=True)

    def cost_lines(ceiling: float | None) -> list[str]:  # the latency conditions have calibrated rates elsewhere
        return [c.detail for c in check(detail, GateParams(max_cost_ratio=ceiling)).conditions
                if not c.passed and "CPU per request" in c.detail]

    failed = cost_lines(1.0)
    assert len(failed) == 2 and all("CPU per request is above 1x baseline's: ratio 1." in line for line in failed)
    assert cost_lines(2.0) == [] and cost_lines(None) == []
