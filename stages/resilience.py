"""resilience stage: faults injected under open-loop load, and how the service recovered.

Local (``resilience.target: local``, the default): the ``resilience.service`` Bento is served fresh for each
run of each fault in ``resilience.faults`` (:mod:`stages.faults.local`: worker SIGKILL, server SIGKILL with a
restarting supervisor, stop-start, freeze, CPU throttling), ``resilience.repeats`` times, each repeat with its
own seeded ``resilience.scenario`` schedule and a seeded busy instant in it, then the ``resilience.multi_worker``
faults with more workers (a worker kill is then a partial failure). A fault this machine cannot inject (no
writable cgroup) is skipped with one line saying why. Cluster (``target: cluster``): the study's disruptions
through kubectl against ``resilience.cluster`` only, at each replica count. Per run (definitions:
:mod:`stages.faults.recovery`): the steady state before the fault, failures by outcome, outage, time to first
success and to recovery, relapses, verdict, the fate of in-flight requests, scheduled = recorded; per fault:
medians and ranges over the repeats whose steady state held before the fault, with their count, and the worst
verdict.
Writes ``results/resilience.json``, a timeline figure per run and the per-second series DVC plots.
"""

from __future__ import annotations

import sys

from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    RESILIENCE_JSON,
    RESULTS_DIR,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_optional_result, read_result, write_result
from stages.experiment.resilience import ResilienceSettings, cluster_runs, local_runs, restore_cluster, write_series
from stages.loadgen.relative import describe, offered_load, resolve
from stages.params.base import load_params
from stages.params.loadgen import ScenarioParams
from stages.records.bentos import Bentos
from stages.records.capacity import Capacity
from stages.records.load import OfferedLoad
from stages.records.resilience import Resilience


def resolved_loads(names: dict[str, str], params: ResilienceSettings, capacity: Capacity | None
                   ) -> tuple[dict[str, ScenarioParams], dict[str, OfferedLoad]]:
    """The scenarios the faults run under (``names``: by the key naming each), rates in req/s (a rate stated
    relative to capacity resolved against ``capacity``), and what each offered."""
    scenarios, loads = {}, {}
    for key, name in names.items():
        if name not in params.loadgen.scenarios:
            raise ServebenchError(f"{key} = {name!r} is not under loadgen.scenarios: define it there"
                                  + (", or set resilience.near_capacity.faults: []" if "near" in key else ""))
        stated = params.loadgen.scenarios[name]
        scenarios[name] = resolve(name, stated, capacity)
        loads[name] = offered_load(stated, scenarios[name], capacity)
        print(f"resilience: load {name}: {describe(loads[name])}", file=sys.stderr, flush=True)
    return scenarios, loads


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, capacity=CAPACITY_JSON,
                          runs=RESULTS_DIR / "resilience", out=RESILIENCE_JSON)
    parser.add_argument("--restore", action="store_true",
                        help="cluster mode: undo what a killed run left (HPA bounds, a cordoned node), then exit")
    args = parser.parse_args()
    params = load_params(ResilienceSettings, args.params)
    if args.restore:
        restore_cluster(params)
        return
    settings = params.resilience
    capacity = read_optional_result(args.capacity, Capacity)
    names = {"resilience.scenario": settings.scenario}
    if settings.target == "local" and settings.near_capacity.faults:
        names["resilience.near_capacity.scenario"] = settings.near_capacity.scenario
    scenarios, loads = resolved_loads(names, params, capacity)
    texts = read_corpus(args.dataset / CORPUS_FILE)
    skipped: dict[str, str] = {}
    aborted = None
    if settings.target == "local":
        faults, skipped = local_runs(params, read_result(args.bentos, Bentos), scenarios, loads, texts, args.runs)
    else:
        faults, aborted = cluster_runs(params, scenarios[settings.scenario], texts, args.runs)
    lost = {f"{key} #{number}": run.scheduled - run.recorded for key, fault in faults.items()
            for number, run in enumerate(fault.runs, start=1) if run.scheduled != run.recorded}
    write_result(args.out, Resilience(target=settings.target, service=settings.service, scenario=settings.scenario,
                                      faults=faults, skipped=skipped, aborted=aborted,
                                      all_requests_recorded=not lost))
    write_series(faults, args.runs)
    if aborted:
        raise ServebenchError(f"cluster experiment stopped early: {aborted}; {args.out} holds the runs so far")
    if lost:
        raise ServebenchError(f"requests missing from the records (scheduled - recorded, by run): {lost}; "
                              f"{args.out} written for inspection")
    verdicts = ", ".join(f"{key} {fault.verdict}" for key, fault in faults.items())
    runs = sum(fault.repeats for fault in faults.values())
    print(f"resilience: {runs} fault runs ({verdicts}), "
          f"{sum(run.failed for fault in faults.values() for run in fault.runs)} failed requests in all, none lost "
          f"-> {args.out}")


if __name__ == "__main__":
    run_stage("resilience", main)
