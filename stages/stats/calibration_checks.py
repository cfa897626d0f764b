"""The calibration's synthetic scenarios, taken from the committed load tests, and its checks against the targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from stages.common.artifacts import RUNS_INDEX
from stages.common.errors import ServebenchError
from stages.common.io import read_result
from stages.common.params import Params
from stages.common.results import LoadtestIndex
from stages.loadgen.relative import as_offered
from stages.stats.arms import overload_of
from stages.stats.calibration import (
    CANDIDATE,
    REFERENCE,
    CaseResult,
    SyntheticScenario,
    monte_carlo_error,
    noise_from_runs,
    synthetic_scenario,
)
from stages.stats.comparison import CalibrationCheck
from stages.stats.samples import read_scenario

IDENTICAL = ("identical", "identical-heavy", "identical-stalls")
CHANGES = ("faster", "slower")


def scenarios_from(loadtest: Path, params: Params) -> tuple[list[SyntheticScenario], list[str]]:
    """Each scenario's schedule, measured noise and block count (the complete blocks the experiment ran:
    ``repeats: auto`` may have run more than planned), and the scenarios with an overloaded arm."""
    scenarios, overloaded = [], []
    for name in params.loadtest.scenarios:
        if not (loadtest / name / RUNS_INDEX).is_file():
            raise ServebenchError(f"no load test results for {name!r} under {loadtest}: the calibration takes its "
                                  "noise from them; run `dvc repro loadtest` first")
        index = read_result(loadtest / name / RUNS_INDEX, LoadtestIndex)
        settings = as_offered(name, params.loadgen.scenarios[name], index.offered)
        arms = read_scenario(loadtest / name)
        noise = noise_from_runs(arms, (REFERENCE, CANDIDATE), params.compare)
        blocks = len(set(arms[REFERENCE].runs) & set(arms[CANDIDATE].runs)) if REFERENCE in arms and \
            CANDIDATE in arms else 0
        scenarios.append(synthetic_scenario(name, settings, noise,
                                            blocks if blocks >= 2 else params.loadtest.planned_repeats))
        if any(overload_of(list(arm.runs.values()), params.compare).overloaded
               for key, arm in arms.items() if key in (REFERENCE, CANDIDATE) and arm.runs):
            overloaded.append(name)
    return scenarios, overloaded


def _worst(values: Mapping[str, float | None], worst: Callable[..., str]) -> tuple[float | None, str]:
    known = {key: value for key, value in values.items() if value is not None}
    if not known:
        return None, "nothing measured"
    key = worst(known, key=known.__getitem__)
    return known[key], key


def checks(cases: dict[str, CaseResult], steady: list[str], trials: int) -> dict[str, CalibrationCheck]:
    """The targets: false changes, joint false changes, coverage, power, and one failure per run. Coverage is
    judged pooled over every cell (27 cells of 200 trials each have a Monte-Carlo SD of ~1.5 points, so their
    minimum sits ~3 points under the truth) and per cell against the target less its Monte-Carlo error."""
    false_change = {f"{case} {scenario} {stat}": sum(shares.get(word, 0.0) for word in CHANGES)
                    for case in IDENTICAL for scenario, by_stat in cases[case].verdicts.items()
                    for stat, shares in by_stat.items() if stat in ("p50", "tail")}
    joint = {case: cases[case].joint_change for case in IDENTICAL}
    coverage = {f"{case} {scenario} {stat}": value for case in (*IDENTICAL, "x0.8", "x0.5", "tail-x2")
                for scenario, by_stat in cases[case].coverage.items() for stat, value in by_stat.items()}
    known = [value for value in coverage.values() if value is not None]
    pooled = (sum(known) / len(known), f"mean of {len(known)} cells") if known else (None, "nothing measured")
    cell_target = 0.93 - monte_carlo_error(0.95, trials)
    power_p50 = {scenario: cases["x0.8"].verdicts[scenario]["p50"].get("faster", 0.0) for scenario in steady}
    power_tail = {scenario: cases["tail-x2"].verdicts[scenario]["tail"].get("slower", 0.0) for scenario in steady}
    failure = {f"{scenario} {stat} {word}": cases["one-failure"].verdicts[scenario][stat].get(word, 0.0)
               for scenario in cases["one-failure"].verdicts
               for stat, word in (("error_rate", "equivalent"), ("error_rate", "fewer"), ("p50", "faster"))}
    found = {
        "per_verdict_false_change": (_worst(false_change, max), "<= 0.05"),
        "joint_false_change": (_worst(joint, max), "<= 0.10"),
        "coverage": (pooled, ">= 0.93"),
        "coverage_per_cell": (_worst(coverage, min), f">= {cell_target:.2f}"),
        "power_p50_x0.8": (_worst(power_p50, min), ">= 0.80"),
        "power_tail_x2": (_worst(power_tail, min), ">= 0.80"),
        "one_failure_per_run_called_harmless": (_worst(failure, max), "<= 0.05"),
    }
    return {name: CalibrationCheck(value=value, target=target, over=where,
                                   passed=value is not None and (value <= float(target[3:]) if target[0] == "<"
                                                                 else value >= float(target[3:])))
            for name, ((value, where), target) in found.items()}
