"""Faults under load, local or in a cluster: each fault repeated at seeded busy instants on a fresh server, its
recovery measured from the run's records."""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import model_validator

from stages.common.artifacts import (
    CLASSIFY,
    LOGS_DIR,
    RECORDS_FILE,
    WORKERS_ENV,
)
from stages.common.errors import ServebenchError
from stages.experiment.signals import cleanup_on_signals
from stages.faults.balancer import Balancer
from stages.faults.balancer import missing as balancer_missing
from stages.faults.cluster import ClusterHealthError, ClusterTargetError, Disruptor, read_journal
from stages.faults.figures import plot_fault_timeline
from stages.faults.local import NETWORK_FAULTS, FaultLog, Target, inject, unavailable
from stages.faults.proxy import FaultyProxy
from stages.faults.recovery import VERDICT_ORDER, recovery
from stages.faults.run import FaultedRun, OutageBound, busy_instants, faulted_run
from stages.faults.sre import sre_figures
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import scenario_summary, warm_up
from stages.params.base import StageParams
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.params.loadtest import LoadtestParams
from stages.params.resilience import ResilienceParams, check_resilience
from stages.params.serve import ServeParams
from stages.records.bentos import Bentos
from stages.records.load import OfferedLoad
from stages.records.resilience import FaultRecovery, FaultSummary, Spread
from stages.serving.server import BentoServer
from stages.stats.timeline import fault_timeline, fault_timelines

logger = logging.getLogger(__name__)

ROLLBACK_JOURNAL = LOGS_DIR / "cluster-rollback.json"  # untracked: a killed run's changes to undo (--restore)


class ResilienceSettings(StageParams):
    """The sections the resilience stage reads."""

    resilience: ResilienceParams = ResilienceParams()
    loadgen: LoadgenParams = LoadgenParams()
    loadtest: LoadtestParams = LoadtestParams()
    serve: ServeParams = ServeParams()

    @model_validator(mode="after")
    def _runs_observable(self) -> ResilienceSettings:
        check_resilience(self.resilience, self.loadgen, self.loadtest)
        return self


def write_series(faults: dict[str, FaultSummary], runs: Path) -> None:
    """DVC's data series of the faults: ok responses and failed requests per second from the fault, the median
    over each fault's repeats, one column per fault (``dvc plots diff`` overlays experiments)."""
    timelines = {key: [fault_timeline(pd.read_parquet(runs.parent / Path(run.timeline).parent / RECORDS_FILE),
                                      run.fault_at_s) for run in fault.runs]
                 for key, fault in faults.items()}
    for column in ("ok_per_s", "failed_per_s"):
        fault_timelines(timelines, column).to_csv(runs / f"{column}.csv", index=False)


def record_run(name: str, run: FaultedRun, scenario: ScenarioParams, params: ResilienceSettings, out: Path,
               attempt: int = 0) -> FaultRecovery:
    """Recovery and SRE figures, audit and files of one faulted run."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    run.records.to_parquet(folder / RECORDS_FILE, index=False)
    summary = scenario_summary(run.records, run.usage, params.resilience.scenario, scenario, params.loadgen)
    settings = params.resilience
    figures = recovery(run.records, run.fault_s, settings.slo_ms, settings.healthy_s, settings.max_recovery_s)
    plot_fault_timeline(run.records, run.fault_s, run.fault_end_s, f"{name}: what the fault did to the traffic",
                        folder / "timeline.png", {"outage ends": figures.outage_end_s,
                                                  "recovered (healthy from here)": figures.time_to_recovery_s})
    times = [("first success", figures.time_to_first_success_s), ("recovered", figures.time_to_recovery_s)]
    shown = ", ".join(f"{what} {'-' if value is None else f'{value:.2f} s'}" for what, value in times)
    before = figures.steady_state_before
    steady = "" if before.held else f" (steady state NOT held before the fault: {before.breaches} breaches)"
    logger.info(f"resilience: {name}: {figures.verdict}{steady}; {figures.failed} failed of {figures.measured}; "
                f"{shown} after the fault")
    if not summary.audit.valid:
        logger.info(f"resilience: {name} failed the generator's audit ({'; '.join(summary.audit.reasons)}): left "
                    "out of the figures")
    return FaultRecovery(**figures.model_dump(), fault_at_s=run.fault_s, fault_end_s=run.fault_end_s,
                         actions=run.log.actions, generator_audit_valid=summary.audit.valid,
                         generator_audit_reasons=summary.audit.reasons,
                         timeline=str((folder / "timeline.png").relative_to(out.parent)), cpu_stolen=run.usage.stolen,
                         attempt=attempt, sre=sre_figures(run.records, figures, run.fault_s, run.fault_end_s,
                                                          settings.slo_ms, scenario.timeout_s, settings.sre))


def repeat_scenario(scenario: ScenarioParams, repeat: int) -> ScenarioParams:
    """Repeat ``repeat`` (from 1) of a fault: its own seeded schedule, so that repeats are independent draws."""
    return scenario.model_copy(update={"seed": scenario.seed + 1000 * (repeat - 1)})


def fault_instant(schedule: np.ndarray, settings: ResilienceParams, key: str, repeat: int) -> float:
    """Where one repeat of one fault strikes: a seeded busy send of its schedule in resilience.fault_window_s, a
    different draw per fault (the key) so that faults do not all land on the same instants."""
    seed = settings.seed + sum(map(ord, key)) + repeat
    return busy_instants(schedule, settings.fault_window_s, 1, seed)[0]


def spread(values: list[float | None]) -> Spread:
    known = [value for value in values if value is not None]
    if not known:
        return Spread(n=0, median=None, low=None, high=None)
    return Spread(n=len(known), median=statistics.median(known), low=min(known), high=max(known),
                  confidence=1.0 - 2.0 * 0.5 ** len(known))


def sre_spreads(runs: list[FaultRecovery]) -> dict[str, Any]:
    """The SRE figures of ``runs`` as spreads (windows keyed as in the runs), and how many would have paged."""
    figures = [run.sre for run in runs if run.sre is not None]
    windows = {key: None for figure in figures for key in figure.availability_after_fault}
    burns = {key: None for figure in figures for key in figure.burn_rate}
    return {
        "availability": spread([figure.availability for figure in figures]),
        "availability_after_fault": {key: spread([figure.availability_after_fault.get(key) for figure in figures])
                                     for key in windows},
        "burn_rate": {key: spread([figure.burn_rate.get(key) for figure in figures]) for key in burns},
        "would_page": sum(figure.would_page for figure in figures) if figures else None,
        "p99_after_fault_ms": spread([figure.p99_after_fault_ms for figure in figures]),
        "recovered_after_fault_end_s": spread([figure.recovered_after_fault_end_s for figure in figures]),
        "outage_severity": spread([figure.outage_severity for figure in figures]),
    }


@dataclass(frozen=True)
class FaultSeries:
    """One local fault series: the fault, the served workers, the load (a name under loadgen.scenarios) and how
    many replicas serve it (more than one: behind a balancer, the fault striking the first)."""

    key: str
    fault: str
    workers: int | None
    scenario: str
    replicas: int = 1


def summarize_fault(runs: list[FaultRecovery], series: FaultSeries, load: OfferedLoad | None = None) -> FaultSummary:
    """Medians and ranges over the repeats that passed the generator's audit and whose steady state held before
    the fault (all audited ones when none held, so that the table is never empty; ``steady_before`` says how
    many); the verdict of the worst of them. A run that failed the audit never enters a figure."""
    audited = [run for run in runs if run.generator_audit_valid]
    steady = [run for run in audited if run.steady_state_before.held]
    counted = steady or audited
    verdicts = [run.verdict for run in audited]
    return FaultSummary(
        workers=series.workers, fault=series.fault, replicas=series.replicas, scenario=series.scenario, load=load,
        repeats=sum(run.attempt == 0 for run in runs), steady_before=len(steady),
        failed=spread([run.failed for run in counted]), outage_s=spread([run.outage_s for run in counted]),
        time_to_first_success_s=spread([run.time_to_first_success_s for run in counted]),
        time_to_recovery_s=spread([run.time_to_recovery_s for run in counted]),
        verdict=max(verdicts, key=VERDICT_ORDER.index) if verdicts else "not measured (every run failed the audit)",
        verdicts=verdicts, recorded_equals_scheduled=all(run.recorded == run.scheduled for run in runs), runs=runs,
        audit_failed=len(runs) - len(audited), **sre_spreads(counted))


def with_reruns(attempt_run: Callable[[int], FaultRecovery], max_reruns: int) -> list[FaultRecovery]:
    """One repeat's runs: the first, and a rerun of the same draw after each failed audit, up to ``max_reruns``."""
    runs = [attempt_run(0)]
    while not runs[-1].generator_audit_valid and len(runs) <= max_reruns:
        runs.append(attempt_run(len(runs)))
    return runs


def attempt_name(key: str, repeat: int, attempt: int) -> str:
    return f"{key}/{repeat}" + (f"-rerun-{attempt}" if attempt else "")


def local_plan(settings: ResilienceParams) -> list[FaultSeries]:
    """Every local fault series: each fault at the configured workers and load, then the multi-worker ones, the
    near-capacity ones, the failover ones."""
    base, extra, near, failover = settings.scenario, settings.multi_worker, settings.near_capacity, settings.failover
    return [
        *(FaultSeries(fault, fault, settings.workers, base) for fault in settings.faults),
        *(FaultSeries(f"{fault}-{extra.workers}-workers", fault, extra.workers, base) for fault in extra.faults),
        *(FaultSeries(f"{fault}-near-capacity", fault, settings.workers, near.scenario) for fault in near.faults),
        *(FaultSeries(f"{fault}-{failover.replicas}-replicas", fault, settings.workers, base, failover.replicas)
          for fault in failover.faults),
    ]


def unavailable_series(series: FaultSeries) -> str | None:
    """Why this machine cannot run the series (the fault, or the balancer failover needs), or None."""
    return unavailable(series.fault) or (balancer_missing() if series.replicas > 1 else None)


@contextlib.contextmanager
def replicas_served(count: int, make: Callable[[int], BentoServer]) -> Iterator[list[BentoServer]]:
    """``count`` servers started together (their cold starts overlap), each stopped by its own PID after."""
    servers = [make(index) for index in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


@contextlib.contextmanager
def fault_target(series: FaultSeries, servers: list[BentoServer], settings: ResilienceParams,
                 log_path: Path) -> Iterator[tuple[str, Target, Balancer | None]]:
    """(the URL the load goes to, what the fault strikes, the balancer): the first server, behind a FaultyProxy
    for a network fault; with more replicas, all of them behind a balancer, the fault striking the first."""
    first = servers[0]
    with (FaultyProxy(first.host, first.port) if series.fault in NETWORK_FAULTS
          else contextlib.nullcontext()) as proxy:
        struck = Target(first, proxy)
        if len(servers) == 1:
            yield (proxy or first).url, struck, None
            return
        backends = [((proxy or first).host, (proxy or first).port), *((s.host, s.port) for s in servers[1:])]
        with Balancer(backends, settings.failover, log_path, first.host) as balancer:
            yield balancer.url, struck, balancer


def local_runs(params: ResilienceSettings, bentos: Bentos, scenarios: dict[str, ScenarioParams],
               loads: dict[str, OfferedLoad], texts: list[str], out: Path
               ) -> tuple[dict[str, FaultSummary], dict[str, str]]:
    """Every local fault series, each at its load (``scenarios``: by name, rates resolved to req/s; ``loads``:
    what each offered); and the series skipped because this machine cannot run them, with why. SIGTERM or SIGINT
    ends the stage through every ``finally``: the fault lifted (SIGCONT, cgroups restored, the proxy healed, the
    hogs stopped), then the servers, the proxy and the balancer stopped by their own PIDs."""
    with cleanup_on_signals():
        return _local_runs(params, bentos, scenarios, loads, texts, out)


def _local_runs(params: ResilienceSettings, bentos: Bentos, scenarios: dict[str, ScenarioParams],
                loads: dict[str, OfferedLoad], texts: list[str], out: Path
                ) -> tuple[dict[str, FaultSummary], dict[str, str]]:
    settings = params.resilience
    built = bentos.services[settings.service]
    service = getattr(params.serve, settings.service)
    results, skipped = {}, {}
    for series in local_plan(settings):
        reason = unavailable_series(series)
        if reason is not None:
            logger.info(f"resilience: {series.key} skipped: {reason}")
            skipped[series.key] = reason
            continue
        runs = []
        env = {WORKERS_ENV: str(series.workers)} if series.workers else {}
        scenario = scenarios[series.scenario]
        for repeat in range(1, settings.repeats + 1):
            load = repeat_scenario(scenario, repeat)
            schedule = draw_schedule(arrival_spec(load))
            instant = fault_instant(schedule, settings, series.key, repeat)

            def attempt_run(attempt: int, series: FaultSeries = series, repeat: int = repeat,
                            load: ScenarioParams = load, schedule: np.ndarray = schedule, instant: float = instant,
                            env: dict[str, str] = env) -> FaultRecovery:
                """One run of this repeat's draw (the loop's values bound now, not when called)."""
                name = attempt_name(series.key, repeat, attempt)

                def server(index: int) -> BentoServer:
                    log = out / name / ("server.log" if series.replicas == 1 else f"server-{index}.log")
                    return BentoServer(built.bento, Path(bentos.bentoml_home), log, host=params.serve.host,
                                       cpu_affinity=service.cpu_affinity,
                                       ready_timeout_s=params.serve.ready_timeout_s, extra_env=env)

                balancer_log = out / name / "balancer.log"
                with replicas_served(series.replicas, server) as servers, \
                        fault_target(series, servers, settings, balancer_log) as (url, struck, balancer):
                    warm_up(f"{url}{CLASSIFY}", texts, params.loadtest.warmup_requests, load.timeout_s)
                    run = faulted_run(f"{url}{CLASSIFY}", load, texts, instant,
                                      partial(inject, series.fault, struck, settings), params.loadgen.client,
                                      schedule)
                if balancer is not None:
                    run.log.actions[:] = sorted([*run.log.actions, *balancer.changes])
                return record_run(name, run, load, params, out, attempt)

            runs += with_reruns(attempt_run, settings.max_reruns)
        results[series.key] = summarize_fault(runs, series, loads.get(series.scenario))
    return results, skipped


def halt_if_still_down(key: str, bound: OutageBound) -> None:
    """Stop the experiment when a run's halt condition ended its load (the run itself is recorded)."""
    if bound.stopped_at_s is not None:
        raise ClusterHealthError(
            f"{key}: {bound.bad_share:.0%} of the requests of the last {bound.window_s:g} s were bad "
            f"{bound.stopped_at_s - bound.fault_s:.1f} s after the disruption (more than "
            f"resilience.cluster.abort_error_rate {bound.max_bad_share:g}): load stopped, experiment stopped")


def cluster_runs(params: ResilienceSettings, scenario: ScenarioParams, texts: list[str], out: Path
                 ) -> tuple[dict[str, FaultSummary], str | None]:
    """Each disruption ``resilience.repeats`` times at each replica count, after the safety checks of
    :mod:`stages.faults.cluster`, with the autoscaler pinned to the replica count under test and restored on
    exit, SIGINT and SIGTERM. Stops early (keeping the runs so far, and saying why) when the Deployment does not
    return to its steady state between disruptions."""
    settings = params.resilience.cluster
    if not settings.url:
        raise ServebenchError("resilience.cluster.url is not set: where does the load generator reach the Service?")
    disruptor = Disruptor(settings, params.resilience.seed, ROLLBACK_JOURNAL)
    disruptor.preflight()

    def disrupt(log: FaultLog, disruption: str) -> None:
        disruptor.check_before(disruption)  # before every change, outside the fault's own time
        log.started = time.time()
        for action in disruptor.disrupt(disruption):
            log.note(action)
        log.ended = time.time()

    results, aborted = {}, None
    with cleanup_on_signals():
        try:
            for replicas in settings.replicas:
                disruptor.pin_autoscaler(replicas)
                disruptor.scale(replicas)
                for disruption in settings.disruptions:
                    key = f"{disruption}-{replicas}-replicas"
                    runs = []
                    for repeat in range(1, params.resilience.repeats + 1):
                        load = repeat_scenario(scenario, repeat)
                        schedule = draw_schedule(arrival_spec(load))
                        instant = fault_instant(schedule, params.resilience, key, repeat)

                        def attempt_run(attempt: int, key: str = key, repeat: int = repeat,
                                        load: ScenarioParams = load, schedule: np.ndarray = schedule,
                                        instant: float = instant, disruption: str = disruption,
                                        replicas: int = replicas) -> FaultRecovery:
                            """One run of this repeat's draw (its load stopped if the service stays down), then
                            the steady state back before the next."""
                            bound = OutageBound(params.resilience.max_recovery_s, settings.abort_window_s,
                                                params.resilience.slo_ms, settings.abort_error_rate)
                            run = faulted_run(f"{settings.url}{CLASSIFY}", load, texts, instant,
                                              partial(disrupt, disruption=disruption), params.loadgen.client,
                                              schedule, bound)
                            recorded = record_run(attempt_name(key, repeat, attempt), run, load, params, out, attempt)
                            halt_if_still_down(key, bound)
                            disruptor.wait_healthy(replicas)
                            return recorded

                        runs += with_reruns(attempt_run, params.resilience.max_reruns)
                    results[key] = summarize_fault(runs, FaultSeries(key, disruption, None, params.resilience.scenario,
                                                                     replicas))
        except ClusterHealthError as exc:
            aborted = str(exc)
            logger.info(f"resilience: {exc}")
        finally:
            for action in disruptor.restore():
                logger.info(f"resilience: restored {action}")
    return results, aborted


def restore_cluster(params: ResilienceSettings) -> None:
    """``--restore``: undo what a killed cluster-mode run left (HPA bounds, a cordoned node) from its journal."""
    if not ROLLBACK_JOURNAL.is_file():
        print(f"resilience: nothing to restore ({ROLLBACK_JOURNAL} does not exist)")
        return
    entries = read_journal(ROLLBACK_JOURNAL)
    settings = params.resilience.cluster
    if (entries.get("context"), entries.get("namespace")) != (settings.context, settings.namespace):
        raise ClusterTargetError(f"{ROLLBACK_JOURNAL} was written for {entries.get('context')!r} / "
                                 f"{entries.get('namespace')!r}, not the configured {settings.context!r} / "
                                 f"{settings.namespace!r}")
    done = Disruptor(settings, params.resilience.seed, ROLLBACK_JOURNAL).restore()
    print(f"resilience: restored {'; '.join(done) or 'nothing (the journal held no change)'}")
