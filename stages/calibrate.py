"""calibrate stage: the compare code's error rates, measured on synthetic runs with a known truth.

For each case of :mod:`stages.stats.calibration` (identical arms, known shifts x0.95 / x0.8 / x0.5 / x0.2, a
candidate that fails its slowest requests, a tail-only regression) and each level of run-to-run variation in
``compare.calibration.run_cv``: ``compare.calibration.trials`` seeded comparisons through the same functions the
compare stage calls, with ``loadtest.repeats`` blocks. Writes the share of each verdict (false-change rate,
power) and the CI coverage of the true ratio to ``results/calibration.json``; the report shows them beside the
verdicts they qualify.
"""

from __future__ import annotations

import sys
import time

from stages.common.artifacts import RESULTS_DIR
from stages.common.cli import run_stage, stage_parser
from stages.common.io import write_result
from stages.common.params import load_params
from stages.stats.calibration import CASES, monte_carlo_error, run_case
from stages.stats.comparison import Calibration, CalibrationCase


def main() -> None:
    parser = stage_parser(__doc__, out=RESULTS_DIR / "calibration.json")
    args = parser.parse_args()
    params = load_params(args.params)
    settings, blocks = params.compare.calibration, params.loadtest.repeats
    cases, started = {}, time.monotonic()
    jobs = [(name, case, cv) for cv in settings.run_cv for name, case in CASES.items()]
    for index, (name, case, cv) in enumerate(jobs):
        result = run_case(case, params.compare, blocks, settings.trials, settings.seed + index, cv)
        cases[f"{name}@cv{cv:g}"] = CalibrationCase(description=case.description, run_cv=cv,
                                                   verdicts=result.verdicts, coverage=result.coverage)
        elapsed = time.monotonic() - started
        print(f"calibrate: {index + 1}/{len(jobs)} {name} at run CV {cv:g}: p50 {result.verdicts['p50']}, "
              f"ETA {elapsed / (index + 1) * (len(jobs) - index - 1):.0f} s", file=sys.stderr, flush=True)
    write_result(args.out, Calibration(blocks=blocks, requests_per_run=settings.requests_per_run,
                                       autocorrelation=settings.autocorrelation, trials=settings.trials,
                                       monte_carlo_error_at_5pct=monte_carlo_error(0.05, settings.trials),
                                       cases=cases))
    identical = [cases[f"identical@cv{cv:g}"].verdicts["p50"] for cv in settings.run_cv]
    false_change = max(v.get("faster", 0.0) + v.get("slower", 0.0) for v in identical)
    print(f"calibrate: {len(jobs)} cases x {settings.trials} trials, {blocks} blocks, A/A false-change rate "
          f"(p50) <= {false_change:.3f} -> {args.out}")


if __name__ == "__main__":
    run_stage("calibrate", main)
