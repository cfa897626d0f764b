"""resilience stage: faults injected under open-loop load, and how the service recovered.

Local (``resilience.target: local``, the default): the ``resilience.service`` Bento is served fresh for each
fault in ``resilience.faults`` (worker SIGKILL, server SIGKILL with a restarting supervisor, graceful restart,
SIGSTOP stall), with the ``resilience.scenario`` load running and the fault at ``resilience.fault_at_s``. Cluster
(``target: cluster``): the study's disruptions through kubectl against ``resilience.cluster`` only, at each
replica count. Per run: failures by outcome, error window, time to first success, time to p99 recovery, the
fate of in-flight requests, scheduled = recorded; ``results/resilience.json`` and a timeline figure per run.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from stages.common.artifacts import BENTOS_JSON, CORPUS_FILE, DATASET_DIR, RESILIENCE_JSON, RESULTS_DIR, read_corpus
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import Params, ScenarioParams, load_params
from stages.common.results import Bentos, FaultRecovery, Resilience
from stages.faults.cluster import Disruptor
from stages.faults.local import inject
from stages.faults.recovery import recovery
from stages.faults.run import FaultedRun, faulted_run
from stages.loadgen.run import scenario_summary
from stages.loadgen.shards import RECORDS_FILE
from stages.reporting.plots import plot_fault_timeline
from stages.serving.runs import CLASSIFY, warm_up
from stages.serving.server import BentoServer


def record_run(name: str, run: FaultedRun, scenario: ScenarioParams, params: Params, out: Path) -> FaultRecovery:
    """Recovery figures, audit and files of one faulted run."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    run.records.to_parquet(folder / RECORDS_FILE, index=False)
    summary = scenario_summary(run.records, run.usage, params.resilience.scenario, scenario, params.loadgen)
    figures = recovery(run.records, run.fault_s, params.resilience.window_s, params.resilience.slo_ms,
                       params.resilience.max_recovery_s)
    plot_fault_timeline(run.records, run.fault_s, run.fault_end_s, f"{name}: latency, throughput, errors",
                        folder / "timeline.png")
    failed = figures["failed"]
    recovered = figures["time_to_recovery_s"]
    first = figures["time_to_first_success_s"]
    times = [("first success", first), ("recovered", recovered)]
    shown = ", ".join(f"{what} {'-' if value is None else f'{value:.1f} s'}" for what, value in times)
    print(f"resilience: {name}: {figures['verdict']}; {failed} failed of {figures['measured']}; {shown} after the "
          "fault", file=sys.stderr, flush=True)
    return FaultRecovery(fault_at_s=run.fault_s, fault_end_s=run.fault_end_s, actions=run.log.actions, **figures,
                         generator_audit_valid=summary.audit.valid, generator_audit_reasons=summary.audit.reasons,
                         timeline=str((folder / "timeline.png").relative_to(out.parent)))


def local_runs(params: Params, bentos: Bentos, scenario: ScenarioParams, texts: list[str],
               out: Path) -> dict[str, FaultRecovery]:
    settings = params.resilience
    built = bentos.services[settings.service]
    service = getattr(params.serve, settings.service)
    results = {}
    for fault in settings.faults:
        with BentoServer(built.bento, Path(bentos.bentoml_home), out / fault / "server.log", host=params.serve.host,
                         cpu_affinity=service.cpu_affinity, ready_timeout_s=params.serve.ready_timeout_s) as server:
            warm_up(f"{server.url}{CLASSIFY}", texts, params.loadtest.warmup_requests, scenario.timeout_s)
            run = faulted_run(f"{server.url}{CLASSIFY}", scenario, texts, settings.fault_at_s,
                              partial(lambda log, name: inject(name, server, log, settings.restart_delay_s,
                                                               settings.stall_s), name=fault))
        results[fault] = record_run(fault, run, scenario, params, out)
    return results


def cluster_runs(params: Params, scenario: ScenarioParams, texts: list[str], out: Path) -> dict[str, FaultRecovery]:
    settings = params.resilience.cluster
    disruptor = Disruptor(settings)
    if not settings.url:
        raise ServebenchError("resilience.cluster.url is not set: where does the load generator reach the Service?")
    results = {}
    for replicas in settings.replicas:
        disruptor.run(disruptor.scale(replicas))
        for disruption in settings.disruptions:
            run = faulted_run(f"{settings.url}{CLASSIFY}", scenario, texts, params.resilience.fault_at_s,
                              partial(lambda _log, commands: disruptor.run(commands),
                                      commands=disruptor.commands(disruption)))
            results[f"{disruption}-{replicas}-replicas"] = record_run(f"{disruption}-{replicas}-replicas", run,
                                                                      scenario, params, out)
            disruptor.run(disruptor.scale(replicas))  # back to ready before the next disruption
    return results


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, runs=RESULTS_DIR / "resilience",
                          out=RESILIENCE_JSON)
    args = parser.parse_args()
    params = load_params(args.params)
    settings = params.resilience
    if settings.scenario not in params.loadgen.scenarios:
        raise ServebenchError(f"resilience.scenario {settings.scenario!r} is not under loadgen.scenarios")
    scenario = params.loadgen.scenarios[settings.scenario]
    texts = read_corpus(args.dataset / CORPUS_FILE)
    if settings.target == "local":
        runs = local_runs(params, read_result(args.bentos, Bentos), scenario, texts, args.runs)
    else:
        runs = cluster_runs(params, scenario, texts, args.runs)
    lost = {name: run.scheduled - run.recorded for name, run in runs.items() if run.scheduled != run.recorded}
    write_result(args.out, Resilience(target=settings.target, service=settings.service, scenario=settings.scenario,
                                      runs=runs, all_requests_recorded=not lost))
    if lost:
        raise ServebenchError(f"requests missing from the records (scheduled - recorded, by run): {lost}; "
                              f"{args.out} written for inspection")
    verdicts = ", ".join(f"{name} {run.verdict}" for name, run in runs.items())
    print(f"resilience: {len(runs)} fault runs ({verdicts}), "
          f"{sum(run.failed for run in runs.values())} failed requests in all, none lost -> {args.out}")


if __name__ == "__main__":
    run_stage("resilience", main)
