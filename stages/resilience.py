"""resilience stage: faults injected under open-loop load, and how the service recovered.

Local (``resilience.target: local``, the default): the ``resilience.service`` Bento is served fresh for each
run of each fault in ``resilience.faults`` (worker SIGKILL, server SIGKILL with a restarting supervisor, graceful
restart, SIGSTOP stall), ``resilience.repeats`` times at seeded busy instants of the ``resilience.scenario`` load,
then the ``resilience.multi_worker`` faults with more workers (a worker kill is then a partial failure). Cluster
(``target: cluster``): the study's disruptions through kubectl against ``resilience.cluster`` only, at each
replica count. Per run: failures by outcome, outage, time to first success and to recovery, verdict, the fate of
in-flight requests, scheduled = recorded; per fault: medians and ranges over the repeats and the worst verdict.
Writes ``results/resilience.json``, a timeline figure per run and the per-second series DVC plots.
"""

from __future__ import annotations

import statistics
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd

from stages.common.artifacts import (
    BENTOS_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    RECORDS_FILE,
    RESILIENCE_JSON,
    RESULTS_DIR,
    WORKERS_ENV,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import Params, ResilienceParams, ScenarioParams, load_params
from stages.common.results import Bentos, FaultRecovery, FaultSummary, Resilience, Spread
from stages.faults.cluster import Disruptor
from stages.faults.local import FaultLog, inject
from stages.faults.recovery import VERDICT_ORDER, recovery
from stages.faults.run import FaultedRun, busy_instants, faulted_run
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import scenario_summary
from stages.reporting.plots import plot_fault_timeline
from stages.reporting.series import fault_timeline, fault_timelines
from stages.serving.runs import CLASSIFY, warm_up
from stages.serving.server import BentoServer


def write_series(faults: dict[str, FaultSummary], runs: Path) -> None:
    """DVC's data series of the faults: ok responses and failed requests per second from the fault, the median
    over each fault's repeats, one column per fault (``dvc plots diff`` overlays experiments)."""
    timelines = {key: [fault_timeline(pd.read_parquet(runs.parent / Path(run.timeline).parent / RECORDS_FILE),
                                      run.fault_at_s) for run in fault.runs]
                 for key, fault in faults.items()}
    for column in ("ok_per_s", "failed_per_s"):
        fault_timelines(timelines, column).to_csv(runs / f"{column}.csv", index=False)


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


def fault_instants(scenario: ScenarioParams, settings: ResilienceParams, key: str) -> list[float]:
    """Where each repeat of one fault strikes: seeded busy sends in resilience.fault_window_s, a different draw
    per fault (the key) so that faults do not all land on the same instants."""
    seed = settings.seed + sum(map(ord, key))
    return busy_instants(draw_schedule(arrival_spec(scenario)), settings.fault_window_s, settings.repeats, seed)


def summarize_fault(runs: list[FaultRecovery], workers: int | None) -> FaultSummary:
    """Medians and ranges over the repeats; the verdict of the worst repeat."""
    def spread(values: list[float | None]) -> Spread:
        known = [value for value in values if value is not None]
        if not known:
            return Spread(median=None, low=None, high=None)
        return Spread(median=statistics.median(known), low=min(known), high=max(known))

    verdicts = [run.verdict for run in runs]
    return FaultSummary(
        workers=workers, repeats=len(runs), failed=spread([run.failed for run in runs]),
        outage_s=spread([run.outage_s for run in runs]),
        time_to_first_success_s=spread([run.time_to_first_success_s for run in runs]),
        time_to_recovery_s=spread([run.time_to_recovery_s for run in runs]),
        verdict=max(verdicts, key=VERDICT_ORDER.index), verdicts=verdicts,
        recorded_equals_scheduled=all(run.recorded == run.scheduled for run in runs), runs=runs)


def local_plan(settings: ResilienceParams) -> list[tuple[str, str, int | None]]:
    """(key, fault, workers) of every local fault series: each fault at the configured workers, then the
    multi-worker ones."""
    plan: list[tuple[str, str, int | None]] = [(fault, fault, settings.workers) for fault in settings.faults]
    extra = settings.multi_worker
    plan += [(f"{fault}-{extra.workers}-workers", fault, extra.workers) for fault in extra.faults]
    return plan


def local_runs(params: Params, bentos: Bentos, scenario: ScenarioParams, texts: list[str],
               out: Path) -> dict[str, FaultSummary]:
    settings = params.resilience
    built = bentos.services[settings.service]
    service = getattr(params.serve, settings.service)
    results = {}
    for key, fault, workers in local_plan(settings):
        runs = []
        for repeat, instant in enumerate(fault_instants(scenario, settings, key), start=1):
            name = f"{key}/{repeat}"
            env = {WORKERS_ENV: str(workers)} if workers else {}
            with BentoServer(built.bento, Path(bentos.bentoml_home), out / name / "server.log",
                             host=params.serve.host, cpu_affinity=service.cpu_affinity,
                             ready_timeout_s=params.serve.ready_timeout_s, extra_env=env) as server:
                warm_up(f"{server.url}{CLASSIFY}", texts, params.loadtest.warmup_requests, scenario.timeout_s)
                run = faulted_run(f"{server.url}{CLASSIFY}", scenario, texts, instant,
                                  partial(lambda log, name: inject(name, server, log, settings.restart_delay_s,
                                                                   settings.stall_s), name=fault),
                                  params.loadgen.client)
            runs.append(record_run(name, run, scenario, params, out))
        results[key] = summarize_fault(runs, workers)
    return results


def cluster_runs(params: Params, scenario: ScenarioParams, texts: list[str], out: Path) -> dict[str, FaultSummary]:
    """Each disruption ``resilience.repeats`` times at each replica count, after the safety checks of
    :mod:`stages.faults.cluster`, with the autoscaler pinned to the replica count under test."""
    settings = params.resilience.cluster
    if not settings.url:
        raise ServebenchError("resilience.cluster.url is not set: where does the load generator reach the Service?")
    disruptor = Disruptor(settings, params.resilience.seed)
    disruptor.preflight()

    def disrupt(log: FaultLog, disruption: str) -> None:
        log.started = time.time()
        for action in disruptor.disrupt(disruption):
            log.note(action)
        log.ended = time.time()

    results = {}
    try:
        for replicas in settings.replicas:
            disruptor.pin_autoscaler(replicas)
            disruptor.scale(replicas)
            for disruption in settings.disruptions:
                key = f"{disruption}-{replicas}-replicas"
                runs = []
                for repeat, instant in enumerate(fault_instants(scenario, params.resilience, key), start=1):
                    run = faulted_run(f"{settings.url}{CLASSIFY}", scenario, texts, instant,
                                      partial(disrupt, disruption=disruption), params.loadgen.client)
                    runs.append(record_run(f"{key}/{repeat}", run, scenario, params, out))
                    disruptor.scale(replicas)  # back to ready before the next run
                results[key] = summarize_fault(runs, None)
    finally:
        disruptor.restore_autoscaler()
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
        faults = local_runs(params, read_result(args.bentos, Bentos), scenario, texts, args.runs)
    else:
        faults = cluster_runs(params, scenario, texts, args.runs)
    lost = {f"{key} #{number}": run.scheduled - run.recorded for key, fault in faults.items()
            for number, run in enumerate(fault.runs, start=1) if run.scheduled != run.recorded}
    write_result(args.out, Resilience(target=settings.target, service=settings.service, scenario=settings.scenario,
                                      faults=faults, all_requests_recorded=not lost))
    write_series(faults, args.runs)
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
