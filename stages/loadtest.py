"""loadtest stage: baseline vs optimized under one scenario, in blocks of fresh servers, both arms under the
same machine state.

``python -m stages.loadtest --scenario NAME``. The same seeded schedule and payloads go to both services. With
``loadtest.switchback`` (the default) every block starts a fresh server per arm and alternates the schedule
between them in short slots on the warm servers (:mod:`stages.experiment.switchback`), so a hypervisor's or a
neighbour's steal, which comes and goes within a minute, hits every arm alike; a machine probe the arms cannot
influence records the steal per slot (``runs.json``). Otherwise, and for the scenarios in ``fresh_per_run``, each
arm runs once per block on a fresh server, in an order drawn from ``loadtest.seed`` (A B, B A, ...). In the A/A
check's scenario (``loadtest.aa``) one service runs twice per block: its second arm is ``aa-<service>``, the same
Bento on a fresh server. Every arm's records, summary (with the fidelity audit) and server metrics go under
``<out>/<arm>/run-<k>/``; a run that fails the audit stays, marked with its reasons, and is rerun in its block
(``loadtest.max_reruns``, folders ``run-<k>-rerun-<a>``; a switchback block is rerun whole), so an exclusion
costs a rerun, not a block. With ``loadtest.target: cluster`` each run deploys the arm in a
Kubernetes cluster and sends from an Indexed Job of generator pods (:mod:`stages.cluster`). ``runs.json`` lists
every run with its validity, the environment fingerprint and the offered load: a rate stated relative to a service's
capacity (``rate: {of: baseline, fraction: 0.5}``) is resolved from ``results/capacity.json`` first. With
``loadtest.repeats: auto`` blocks are added until both primary verdicts can detect ``loadtest.auto``'s target
changes (:mod:`stages.stats.sizing`) or its budget is spent.
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
from stages.common.signals import cleanup_on_signals
from stages.experiment.loadtest import LoadtestSettings, load_test
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
