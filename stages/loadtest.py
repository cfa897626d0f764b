"""loadtest stage: baseline vs optimized under one scenario, repeats interleaved, a fresh server per run.

``python -m stages.loadtest --scenario NAME``. The same seeded schedule and payloads go to both services; the order
of the arms within each repeat (a block) is drawn from ``loadtest.seed`` (A B, B A, ...), so a drift of the
machine's speed does not favour one of them. In the A/A check's scenario (``loadtest.aa``) one service runs twice
per block: its second arm is ``aa-<service>``, the same Bento on a fresh server. Every run writes its records,
summary (with the fidelity audit) and server metrics under ``<out>/<arm>/run-<k>/``; a run that fails the audit
stays, marked with its reasons, and is rerun in its block (``loadtest.max_reruns``, folders ``run-<k>-rerun-<a>``),
so an exclusion costs a rerun, not a block. With ``loadtest.target: cluster`` each run deploys the arm in a
Kubernetes cluster and sends from an Indexed Job of generator pods (:mod:`stages.cluster`). ``runs.json`` lists
every run with its validity, the environment fingerprint and the offered load: a rate stated relative to a service's
capacity (``rate: {of: baseline, fraction: 0.5}``) is resolved from ``results/capacity.json`` first. With
``loadtest.repeats: auto`` blocks are added until both primary verdicts can detect ``loadtest.auto``'s target
changes (:mod:`stages.stats.sizing`) or its budget is spent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LOGS_DIR,
    RUNS_INDEX,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_optional_result, read_result, write_result
from stages.common.params import load_params
from stages.common.results import Bentos, Capacity
from stages.common.signals import cleanup_on_signals
from stages.experiment.loadtest import Scenario, require_measured, run_blocks, scenario_arms
from stages.loadgen.relative import describe, offered_load, resolve


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, capacity=CAPACITY_JSON,
                          logs=LOGS_DIR / "loadtest")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    if args.scenario not in params.loadgen.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} under loadgen.scenarios in {args.params}")
    capacity = read_optional_result(args.capacity, Capacity)
    stated = params.loadgen.scenarios[args.scenario]
    settings = resolve(args.scenario, stated, capacity)
    offered = offered_load(stated, settings, capacity)
    print(f"loadtest: {args.scenario}: offered {describe(offered)}", file=sys.stderr, flush=True)
    if settings.mode != "open":
        raise ServebenchError(f"scenario {args.scenario!r} is closed-loop; the experiment compares open-loop runs")
    require_measured(args.scenario, settings)
    scenario = Scenario(args.scenario, params, settings, read_result(args.bentos, Bentos),
                        read_corpus(args.dataset / CORPUS_FILE), args.out, scenario_arms(params, args.scenario),
                        offered, args.logs / args.scenario, params_path=args.params)
    started = time.monotonic()
    with cleanup_on_signals():  # a cluster run's objects are deleted in its finally block
        stopped = run_blocks(scenario)
    write_result(args.out / RUNS_INDEX, scenario.index())
    invalid = sum(not run.valid for run in scenario.runs)
    blocks = len({run.repeat for run in scenario.runs})
    print(f"loadtest: {args.scenario}: {blocks} blocks ({stopped}), {len(scenario.runs)} runs in "
          f"{(time.monotonic() - started) / 60:.1f} min, {invalid} failed the audit and were rerun -> {args.out}")


if __name__ == "__main__":
    run_stage("loadtest", main)
