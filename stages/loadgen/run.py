"""One load run end to end: schedule and payloads from the scenario, the send loop, and the files it leaves.

Each run writes ``records.parquet`` (one row per scheduled request) and ``summary.json`` (outcomes, rates, latency
percentiles, fidelity audit); callers add the gap-density figure with :func:`stages.loadgen.density.write_density`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.artifacts import RECORDS_FILE, SUMMARY_FILE
from stages.common.cpu_steal import stolen_note
from stages.common.io import write_result
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import (
    ClientConfig,
    GeneratorUsage,
    SendOptions,
    StopRule,
    Users,
    closed_loop,
    run_closed_loop,
    run_open_loop,
)
from stages.loadgen.payloads import arrival_spec, request_bodies, single_text_bodies
from stages.loadgen.summary import summarize
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.records.load import LoadSummary

logger = logging.getLogger(__name__)

CLOSED_LOOP_POOL = 200_000  # payloads closed-loop users draw from until the duration ends


@dataclass(frozen=True)
class Shard:
    """This process sends every ``count``-th request starting at ``index``, from ``start_at`` (unix time)."""

    index: int = 0
    count: int = 1
    start_at: float | None = None


def client_config(scenario: ScenarioParams, client: str) -> ClientConfig:
    return ClientConfig(scenario.max_in_flight, scenario.connections, scenario.timeout_s, client)


def send_scenario(url: str, scenario: ScenarioParams, texts: list[str], client: str, shard: Shard = Shard(),
                  progress_every_s: float | None = 10.0, stop_when: StopRule | None = None,
                  schedule: np.ndarray | None = None) -> tuple[pd.DataFrame, GeneratorUsage]:
    """Run one scenario's traffic (open or closed loop) against ``url`` through ``client`` (loadgen.client);
    return the records and CPU use. ``stop_when`` may end an open loop early (:data:`loadgen.client.StopRule`);
    ``schedule``: the scenario's seeded schedule when the caller has drawn it already."""
    config = client_config(scenario, client)
    if scenario.mode == "closed":
        bodies = request_bodies(texts, scenario.requests or CLOSED_LOOP_POOL, scenario.texts_per_request,
                                scenario.seed)
        users = Users(scenario.users, scenario.think_time_s, scenario.duration_s, scenario.warmup_s, scenario.seed)
        return run_closed_loop(url, bodies, users, config)
    spec = arrival_spec(scenario)
    schedule = draw_schedule(spec) if schedule is None else schedule
    bodies = request_bodies(texts, len(schedule), scenario.texts_per_request, scenario.seed)
    logger.info(f"loadgen: {len(schedule) // shard.count} requests over {schedule[-1]:.1f} s "
                f"({spec.process}, {spec.rate}/s, {client} client) -> {url}")
    return run_open_loop(url, schedule, bodies, config, scenario.warmup_s,
                         SendOptions((shard.index, shard.count), shard.start_at, progress_every_s, stop_when))


def warm_up(endpoint: str, texts: list[str], requests: int, timeout_s: float) -> None:
    """Sequential, unmeasured requests after the server is ready: lazy allocations and connection set-up happen
    here, not in the measured run."""
    if requests:
        bodies = single_text_bodies(texts[:requests])
        asyncio.run(closed_loop(endpoint, bodies, Users(1), ClientConfig(timeout_s=timeout_s)))


def write_run(out: Path, records: pd.DataFrame, summary: LoadSummary) -> None:
    """The run's records and summary; figures are drawn by the callers (:mod:`stages.loadgen.density`), so that
    generator processes never import a plotting library."""
    out.mkdir(parents=True, exist_ok=True)
    records.to_parquet(out / RECORDS_FILE, index=False)
    write_result(out / SUMMARY_FILE, summary)


def scenario_summary(records: pd.DataFrame, usage: GeneratorUsage, name: str, scenario: ScenarioParams,
                     bounds: LoadgenParams, shards: int = 1) -> LoadSummary:
    """Summary and audit of a whole run, or of one shard's share of it (``shards`` processes)."""
    spec = arrival_spec(scenario, shards)
    summary = summarize(records, spec, bounds, usage, open_loop=scenario.mode == "open")
    return summary.model_copy(update={"scenario": {"name": name, **scenario.model_dump(), "client": bounds.client}})


def one_line(name: str, summary: LoadSummary) -> str:
    """A run's closing line: ok count, percentiles, lag, verdict."""
    latency, audit = summary.latency_ms, summary.audit
    p50 = f"{latency.p50:.1f}" if latency.p50 is not None else "n/a"
    p99 = f"{latency.p99:.1f}" if latency.p99 is not None else "n/a"
    lag = f"{audit.lag_ms.p99:.2f} ms" if audit.lag_ms.p99 is not None else "n/a"
    verdict = "valid" if audit.valid else "INVALID: " + "; ".join(audit.reasons)
    return (f"{name}: {summary.outcomes['ok']}/{summary.requests.measured} ok, p50 {p50} ms, p99 {p99} ms, "
            f"lag p99 {lag}{stolen_note(audit.generator_cpu.stolen)}, {verdict}")
