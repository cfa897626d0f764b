"""loadtest stage: baseline vs optimized under one scenario, in blocks, both arms under the same machine state.

``python -m stages.loadtest --scenario NAME``: the same seeded schedule and payloads to every arm, alternated in
short slots on warm servers (switchback) or a fresh server per run; the A/A arm, audit-failed runs rerun in their
block, ``repeats: auto``, cluster mode. docs/method.md describes each; ``runs.json`` lists every run.
"""

from __future__ import annotations

import time
from pathlib import Path

from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LOGS_DIR,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_optional_result, read_result
from stages.experiment.loadtest import LoadtestSettings, load_test
from stages.experiment.signals import cleanup_on_signals
from stages.params.base import load_params
from stages.records.bentos import Bentos
from stages.records.capacity import Capacity


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, capacity=CAPACITY_JSON,
                          logs=LOGS_DIR / "loadtest")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(LoadtestSettings, args.params)
    if args.scenario not in params.loadgen.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} under loadgen.scenarios in {args.params}")
    started = time.monotonic()
    with cleanup_on_signals():  # a cluster run's objects are deleted in its finally block
        scenario, stopped = load_test(args.scenario, params, read_result(args.bentos, Bentos),
                                      read_corpus(args.dataset / CORPUS_FILE),
                                      read_optional_result(args.capacity, Capacity),
                                      (args.out, args.logs / args.scenario), args.params)
    invalid = sum(not run.valid for run in scenario.runs)
    blocks = len({run.repeat for run in scenario.runs})
    protocol = f"switchback, {len(scenario.slots)} slots" if scenario.switchback else "a fresh server per run"
    print(f"loadtest: {args.scenario}: {blocks} blocks ({stopped}; {protocol}), {len(scenario.runs)} runs in "
          f"{(time.monotonic() - started) / 60:.1f} min, {invalid} failed the audit and were rerun -> {args.out}")

if __name__ == "__main__":
    run_stage("loadtest", main)
