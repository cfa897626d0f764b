"""calibrate stage: the compare stage's error rates, measured on synthetic experiments with a known truth.

For each case of :mod:`stages.calibration.synthetic` (identical arms with the measured noise, with heavy tails, with
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

from stages.calibration.checks import CalibrationSettings, checks, resampled_checks, scenarios_from
from stages.calibration.synthetic import (
    CASES,
    Procedure,
    monte_carlo_error,
    run_case,
)
from stages.common.artifacts import LOADTEST_DIR, RESULTS_DIR
from stages.common.cli import run_stage, stage_parser
from stages.common.io import write_result
from stages.params.base import load_params
from stages.stats.comparison import Calibration, CalibrationCase
from stages.stats.design import design_of


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, out=RESULTS_DIR / "calibration.json")
    parser.add_argument("--cases", default=",".join(CASES), help="a comma-separated subset of the cases (checks "
                        "whose cases did not run read 'nothing measured'); tests/calibration_mutations.sh uses it")
    args = parser.parse_args()
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"--cases: unknown {sorted(unknown)}; the cases are {', '.join(CASES)}")
    cases = {name: case for name, case in CASES.items() if name in args.cases.split(",")}
    params = load_params(CalibrationSettings, args.params)
    settings, blocks = params.compare.calibration, params.loadtest.planned_repeats
    design, auto = design_of(params), params.loadtest.auto
    procedure = Procedure(params.compare, design, (auto.min_repeats, auto.max_repeats)
                          if params.loadtest.repeats == "auto" else None, params.gate)
    scenarios, overloaded = scenarios_from(args.loadtest, params)
    started, results = time.monotonic(), {}
    with ProcessPoolExecutor(max_workers=min(len(cases), os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(run_case, case, scenarios, procedure, params.loadgen, settings.trials,
                                     settings.seed + list(CASES).index(name))
                   for name, case in cases.items()}
        for done, (name, future) in enumerate(futures.items(), start=1):
            results[name] = future.result()
            elapsed = time.monotonic() - started
            print(f"calibrate: {done}/{len(cases)} {name}: joint change {results[name].joint_change:.3f}, "
                  f"ETA {elapsed / done * (len(cases) - done):.0f} s", file=sys.stderr, flush=True)
    resampled = resampled_checks(args.loadtest, params, design, settings.seed)
    beyond_band = [s.name for s in scenarios if 1 / len(s.noise.profile_ms) > params.compare.error_rate_equivalence]
    found = checks(results, [s.name for s in scenarios if s.name not in overloaded], settings.trials, design,
                   resampled, beyond_band)
    write_result(args.out, Calibration(
        blocks=blocks, trials=settings.trials, monte_carlo_error_at_5pct=monte_carlo_error(0.05, settings.trials),
        family=design.family, looks=design.looks, blocks_range=list(procedure.auto) if procedure.auto else None,
        interval_level=1 - design.verdict_alpha,
        noise={s.name: {**s.noise.summary(), "blocks": float(s.blocks)} for s in scenarios}, overloaded=overloaded,
        checks=found,
        cases={name: CalibrationCase(description=CASES[name].description, **vars(result))
               for name, result in results.items()}))
    failed = [name for name, check in found.items() if not check.passed and check.value is not None]
    print(f"calibrate: {len(cases)} cases x {settings.trials} trials, {blocks} blocks, {len(scenarios)} scenarios; "
          f"checks {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"({(time.monotonic() - started) / 60:.1f} min) -> {args.out}")


if __name__ == "__main__":
    run_stage("calibrate", main)
