"""calibrate stage: the compare stage's error rates, measured on synthetic experiments with a known truth.

For each case of :mod:`stages.stats.calibration` (identical arms with the measured noise, with heavy tails, with
generator stalls that fail the audit; known shifts x0.8 and x0.5; a 2x tail regression; one failure per run),
``compare.calibration.trials`` seeded experiments over every scenario of ``loadtest.scenarios``, with the
experiment's own schedules, block counts and variance components (read from ``results/loadtest``), through the
same reader, audit, exclusions and one Holm family as the compare stage. Writes the share of each verdict, the
joint false-change rate, CI coverage, power and MDE, and the checks against their targets, to
``results/calibration.json``; the report shows them beside the verdicts they qualify.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from stages.common.artifacts import LOADTEST_DIR, RESULTS_DIR, RUNS_INDEX
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import Params, load_params
from stages.common.results import LoadtestIndex
from stages.loadgen.relative import as_offered
from stages.stats.arms import overload_of
from stages.stats.calibration import (
    CANDIDATE,
    CASES,
    REFERENCE,
    CaseResult,
    SyntheticScenario,
    monte_carlo_error,
    noise_from_runs,
    run_case,
    synthetic_scenario,
)
from stages.stats.comparison import Calibration, CalibrationCase, CalibrationCheck
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


def _worst(values: dict[str, float | None], worst: type[max] | type[min]) -> tuple[float | None, str]:
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


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, out=RESULTS_DIR / "calibration.json")
    args = parser.parse_args()
    params = load_params(args.params)
    settings, blocks = params.compare.calibration, params.loadtest.planned_repeats
    scenarios, overloaded = scenarios_from(args.loadtest, params)
    started, results = time.monotonic(), {}
    with ProcessPoolExecutor(max_workers=min(len(CASES), os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(run_case, case, scenarios, params.compare, params.loadgen, settings.trials,
                                     settings.seed + index)
                   for index, (name, case) in enumerate(CASES.items())}
        for done, (name, future) in enumerate(futures.items(), start=1):
            results[name] = future.result()
            elapsed = time.monotonic() - started
            print(f"calibrate: {done}/{len(CASES)} {name}: joint change {results[name].joint_change:.3f}, "
                  f"ETA {elapsed / done * (len(CASES) - done):.0f} s", file=sys.stderr, flush=True)
    found = checks(results, [s.name for s in scenarios if s.name not in overloaded], settings.trials)
    write_result(args.out, Calibration(
        blocks=blocks, trials=settings.trials, monte_carlo_error_at_5pct=monte_carlo_error(0.05, settings.trials),
        noise={s.name: {**s.noise.summary(), "blocks": float(s.blocks)} for s in scenarios}, overloaded=overloaded,
        checks=found,
        cases={name: CalibrationCase(description=CASES[name].description, verdicts=result.verdicts,
                                     joint_change=result.joint_change, coverage=result.coverage, mde=result.mde,
                                     excluded_share=result.excluded_share) for name, result in results.items()}))
    failed = [name for name, check in found.items() if not check.passed]
    print(f"calibrate: {len(CASES)} cases x {settings.trials} trials, {blocks} blocks, {len(scenarios)} scenarios; "
          f"checks {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"({(time.monotonic() - started) / 60:.1f} min) -> {args.out}")


if __name__ == "__main__":
    run_stage("calibrate", main)
