"""One measured run against a freshly started Bento: start, wait for /readyz, warm up, load, scrape, stop.

A fresh server per run because BentoML's adaptive batching dispatcher learns a wait under load and keeps it
(design.md, traps): a run must not inherit the last one's state. Used by the loadtest and capacity stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stages.common.artifacts import CLASSIFY
from stages.loadgen.client import GeneratorUsage, StopRule
from stages.loadgen.run import send_scenario, warm_up
from stages.params.base import StageParams
from stages.params.k3s import K3sParams
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.params.loadtest import LoadtestParams
from stages.params.serve import ServeParams
from stages.records.bentos import BuiltService
from stages.records.load import ProcessCost
from stages.records.machine import MachineState
from stages.serving.metrics import Scraper, delta, scrape
from stages.serving.process_usage import process_cost, read_tree
from stages.serving.server import BentoServer


class RunSettings(StageParams):
    """The sections a served run reads: the service, the client, and for a cluster run its Deployment's pod
    (``k3s``) and generator pods (``loadtest.cluster``)."""

    serve: ServeParams = ServeParams()
    loadgen: LoadgenParams = LoadgenParams()
    loadtest: LoadtestParams = LoadtestParams()
    k3s: K3sParams = K3sParams()


@dataclass(frozen=True)
class RunSpec:
    """One fresh-server run, wherever it is served: the service (its ``serve.<service>`` settings) and its built
    Bento, the scenario to send with its name, the payload texts, the unmeasured warm-up and the run's log."""

    service: str
    built: BuiltService
    params: RunSettings
    scenario_name: str
    scenario: ScenarioParams
    texts: list[str]
    warmup_requests: int
    log: Path


@dataclass(frozen=True)
class ServedRun:
    records: pd.DataFrame
    usage: GeneratorUsage
    metrics_delta: dict[str, float]
    batch_timeline: pd.DataFrame
    ready_after_s: float | None  # the fresh server's cold start
    machine: MachineState | None = None  # the probe over the run, where the caller watched the machine
    cost: ProcessCost | None = None  # the server's CPU and memory over the sending (local runs)


def served_run(spec: RunSpec, home: Path, scrape_interval_s: float, stop_when: StopRule | None = None
               ) -> ServedRun:
    """Serve the spec's Bento fresh from the store in ``home``, warm it up with sequential requests, send its
    scenario open loop (until ``stop_when`` says the outcome is known), stop it."""
    params, scenario = spec.params, spec.scenario
    service = getattr(params.serve, spec.service)
    with BentoServer(spec.built.bento, home, spec.log, host=params.serve.host, cpu_affinity=service.cpu_affinity,
                     ready_timeout_s=params.serve.ready_timeout_s) as server:
        endpoint = f"{server.url}{CLASSIFY}"
        warm_up(endpoint, spec.texts, spec.warmup_requests, scenario.timeout_s)
        before = scrape(server.url)
        workers = server.workers()
        tree_before = read_tree(server.pid, workers)
        with Scraper(server.url, scrape_interval_s) as scraper:
            records, usage = send_scenario(endpoint, scenario, spec.texts, params.loadgen.client,
                                           stop_when=stop_when)
        tree_after = read_tree(server.pid, workers, with_pss=True)
        after = scrape(server.url)
    answered = int(records["done_s"].notna().sum())
    cost = process_cost(tree_after.minus(tree_before), answered, [tree_before.rss_bytes, tree_after.rss_bytes],
                        tree_after.pss_bytes, usage.cpu * usage.wall_s if usage.wall_s is not None else None)
    return ServedRun(records, usage, delta(before, after), scraper.timeline(), server.ready_after_s, cost=cost)
