"""The calibration's synthetic scenarios, taken from the committed load tests, and its checks against the targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from scipy import stats

from stages.calibration.synthetic import (
    CANDIDATE,
    CHANGES,
    REFERENCE,
    CaseResult,
    SyntheticScenario,
    noise_from_runs,
    synthetic_scenario,
)
from stages.common.artifacts import RUNS_INDEX, aa_arm
from stages.common.errors import ServebenchError
from stages.common.io import read_result
from stages.loadgen.relative import as_offered
from stages.params.gate import GateParams
from stages.params.loadgen import LoadgenParams
from stages.records.loadtest import LoadtestIndex
from stages.stats.arms import overload_of
from stages.stats.comparison import CalibrationCheck
from stages.stats.design import PRIMARY, AnalysisSettings, Design
from stages.stats.resampling import block_log_ratios, resampled_false_change
from stages.stats.samples import read_scenario

IDENTICAL = ("identical", "identical-heavy", "identical-stalls")


class CalibrationSettings(AnalysisSettings):
    """The sections the calibrate stage reads: the design's, the scenarios' schedules and the gate it calibrates."""

    loadgen: LoadgenParams = LoadgenParams()
    gate: GateParams = GateParams()


def scenarios_from(loadtest: Path, params: CalibrationSettings) -> tuple[list[SyntheticScenario], list[str]]:
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
                                            blocks if blocks >= 2 else params.loadtest.planned_repeats,
                                            aa=name == params.loadtest.aa_scenario))
        if any(overload_of(list(arm.runs.values()), params.compare).overloaded
               for key, arm in arms.items() if key in (REFERENCE, CANDIDATE) and arm.runs):
            overloaded.append(name)
    return scenarios, overloaded


RESAMPLED_TRIALS = 4000  # resampled experiments are cheap: the test on a handful of numbers each


def resampled_checks(loadtest: Path, params: CalibrationSettings, design: Design, seed: int) -> dict[str, float | None]:
    """False changes in experiments resampled from this experiment's own units (:mod:`stages.stats.resampling`):
    the scenarios' baseline / optimized blocks where no arm is overloaded (one family), and the A/A's (its own)."""
    units, aa_units = [], []
    for name in params.loadtest.scenarios:
        arms = read_scenario(loadtest / name)
        if not any(overload_of(list(arm.runs.values()), params.compare).overloaded
                   for key, arm in arms.items() if key in (REFERENCE, CANDIDATE) and arm.runs):
            units += block_log_ratios(arms, (REFERENCE, CANDIDATE), params.compare.tail_confidence)
        if name == params.loadtest.aa_scenario and params.loadtest.aa.service is not None:
            service = params.loadtest.aa.service
            aa_units += block_log_ratios(arms, (service, aa_arm(service)), params.compare.tail_confidence)
    return {"scenarios": resampled_false_change(units, design, RESAMPLED_TRIALS, seed),
            "aa": resampled_false_change(aa_units, design.for_aa(), RESAMPLED_TRIALS, seed + 1)}


def _worst(values: Mapping[str, float | None], worst: Callable[..., str]) -> tuple[float | None, str]:
    known = {key: value for key, value in values.items() if value is not None}
    if not known:
        return None, "nothing measured"
    key = worst(known, key=known.__getitem__)
    return known[key], key


def _bound(target: float, trials: int, above: bool) -> float:
    """A target widened by chance alone: the highest rate (for "at least" targets, the lowest) that ``trials``
    trials of a procedure meeting ``target`` exactly still show with probability 0.99 (binomial). The check
    fails only when the measured rate is beyond that: a broken procedure, not bad luck."""
    miss = 1 - target if above else target
    allowed = float(stats.binom.ppf(0.99, trials, miss)) / trials
    return 1 - allowed if above else allowed


def checks(cases: dict[str, CaseResult], steady: list[str], trials: int, design: Design,
           resampled: dict[str, float | None], beyond_band: list[str] | None = None) -> dict[str, CalibrationCheck]:
    """The targets, each the design's own error rate widened by chance alone (:func:`_bound`), so that a procedure
    that breaks its design fails them: a false change per verdict at most the Bonferroni share
    ``alpha / family``; in the family, in the A/A check and in the gate at most their ``alpha`` (the gate: the
    verdicts' family plus the A/A's); every interval, and every interval of a trial at once, covering the truth
    as often as its simultaneous level says; power for the design's targets; overload never called on identical
    arms beyond ``alpha``; one failure per run never called fewer failures, never faster, and never equivalent in
    the scenarios of ``beyond_band``, where one failure per run is more than ``compare.error_rate_equivalence``
    (elsewhere the user's own band calls it harmless: 1 of 240 requests is 0.4 %, inside 1 point)."""
    alpha, per_verdict = design.alpha, design.alpha / design.family
    identical = [case for case in IDENTICAL if case in cases]
    false_change = {f"{case} {scenario} {stat}": sum(shares.get(word, 0.0) for word in CHANGES)
                    for case in identical for scenario, by_stat in cases[case].verdicts.items()
                    for stat, shares in by_stat.items() if stat in PRIMARY}
    joint = {case: cases[case].joint_change for case in identical}
    aa = {case: result.aa_change for case, result in cases.items()}
    gate = {case: cases[case].gate_failed for case in identical}
    overload = {case: cases[case].overload_called for case in identical}
    known_cases = [case for case in (*IDENTICAL, "x0.8", "x0.5", "tail-x2") if case in cases]
    coverage = {f"{case} {scenario} {stat}": value for case in known_cases
                for scenario, by_stat in cases[case].coverage.items() for stat, value in by_stat.items()}
    simultaneous = {case: cases[case].simultaneous_coverage for case in known_cases}
    interval_level = 1 - design.verdict_alpha
    power_p50 = {scenario: cases["x0.8"].verdicts[scenario]["p50"].get("faster", 0.0)
                 for scenario in steady if "x0.8" in cases}
    power_tail = {scenario: cases["tail-x2"].verdicts[scenario]["tail"].get("slower", 0.0)
                  for scenario in steady if "tail-x2" in cases}
    failure = {f"{scenario} {stat} {word}": cases["one-failure"].verdicts[scenario][stat].get(word, 0.0)
               for scenario in (cases["one-failure"].verdicts if "one-failure" in cases else {})
               for stat, word in (("error_rate", "equivalent"), ("error_rate", "fewer"), ("p50", "faster"))
               if word != "equivalent" or scenario in (beyond_band if beyond_band is not None else [scenario])}
    found = {
        "per_verdict_false_change": (_worst(false_change, max), ("<=", _bound(per_verdict, trials, False))),
        "joint_false_change": (_worst(joint, max), ("<=", _bound(alpha, trials, False))),
        "aa_false_change": (_worst(aa, max), ("<=", _bound(alpha, trials, False))),
        "gate_false_alarm": (_worst(gate, max), ("<=", _bound(2 * alpha, trials, False))),
        "overload_false_alarm": (_worst(overload, max), ("<=", _bound(alpha, trials, False))),
        "coverage_per_interval": (_worst(coverage, min), (">=", _bound(interval_level, trials, True))),
        "simultaneous_coverage": (_worst(simultaneous, min), (">=", _bound(1 - alpha, trials, True))),
        "power_p50_x0.8": (_worst(power_p50, min), (">=", 0.80)),
        "power_tail_x2": (_worst(power_tail, min), (">=", 0.80)),
        "one_failure_per_run_called_harmless": (_worst(failure, max), ("<=", _bound(alpha, trials, False))),
        "resampled_false_change": (_worst({"own units": resampled["scenarios"]}, max),
                                   ("<=", _bound(alpha, RESAMPLED_TRIALS, False))),
        "resampled_aa_false_change": (_worst({"A/A units": resampled["aa"]}, max),
                                      ("<=", _bound(alpha, RESAMPLED_TRIALS, False))),
    }
    return {name: CalibrationCheck(value=value, target=f"{sign} {target:.4f}", over=where,
                                   passed=value is not None and (value <= target if sign == "<=" else value >= target))
            for name, ((value, where), (sign, target)) in found.items()}
