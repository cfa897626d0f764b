"""What serving costs against the physical limit of the same classifier on the same threads (the limits stage).

Raw in-process latency at batch 1 and throughput at the service's batch size (the limit), served latency at low
load and served throughput at saturation (:mod:`stages.serving.saturation`), measured in alternating raw and
served blocks so that the machine's drift falls on both alike. The arithmetic (:func:`service_limits`) is apart
from the measurement, so it is tested with hand-worked figures.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from tqdm import tqdm

from stages.common.percentiles import latency_stats
from stages.loadgen.client import ClientConfig, Users, closed_loop
from stages.loadgen.payloads import single_text_bodies
from stages.model.classifier import SentimentClassifier
from stages.model.latency import measure_latency
from stages.model.variants import parse_variant
from stages.params.base import StageParams
from stages.params.limits import LimitsParams
from stages.params.loadgen import LoadgenParams
from stages.params.runtime import RuntimeParams
from stages.params.serve import ServeParams, ServiceParams
from stages.params.tokenizer import TokenizerParams
from stages.records.bentos import BuiltService
from stages.records.limits import Limits, LimitsRound, RampStep, RawLimit, Saturation, ServedLimits, ServiceLimits
from stages.serving.saturation import (
    ClosedLoopBlock,
    closed_loop_block,
    cpu_share_bound,
    per_request_ms,
    ramp,
    saturation_concurrency,
)
from stages.serving.server import BentoServer, ServerStartError
from stages.serving.startup import breakdown as startup_breakdown

logger = logging.getLogger(__name__)

# Fixed by design, not knobs: the targets of the serving issue, and the seed of the shared text sequence.
OVERHEAD_TARGET_MS = 3.0
EFFICIENCY_TARGET = 0.9
BACK_FACTOR = 2.0  # after saturation, single requests count as back once within 2x the low-load p50 ...
BACK_RUN = 5  # ... for this many requests in a row
SEQUENCE_SEED = 7


class LimitsSettings(StageParams):
    """The sections the limits stage reads."""

    limits: LimitsParams = LimitsParams()
    loadgen: LoadgenParams = LoadgenParams()
    serve: ServeParams = ServeParams()
    tokenizer: TokenizerParams = TokenizerParams()
    runtime: RuntimeParams = RuntimeParams()


@dataclass
class PooledSamples:
    """Latencies (ms) of every block of one service, pooled over the rounds."""

    raw_single: list[float] = field(default_factory=list)
    served_single: list[float] = field(default_factory=list)
    raw_batch: list[float] = field(default_factory=list)
    saturation: list[float] = field(default_factory=list)
    after_saturation: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class RoundsMeasurement:
    """What :func:`measure_rounds` measured of one served service and its in-process classifier."""

    pooled: PooledSamples
    rounds: list[LimitsRound]
    blocks: list[ClosedLoopBlock]
    ramp: list[RampStep]
    after_saturation_back_s: float | None


@dataclass(frozen=True)
class ServerStart:
    """How long the server took to answer ``/readyz`` and where that time went (``None``: not logged)."""

    cold_start_s: float | None
    phases_s: dict[str, float] | None


def single_text_sequence(texts: list[str], count: int, seed: int) -> list[str]:
    """The seeded text sequence that both the raw and the served low-load measurements walk through."""
    rng = random.Random(seed)
    return [rng.choice(texts) for _ in range(count)]


def raw_samples(classifier: SentimentClassifier, batches: list[list[str]]) -> list[float]:
    """In-process latency (ms) of each batch, tokenization included."""
    return measure_latency(classifier.predict_proba, batches, warmup=1).samples_ms


def ok_service_ms(records: pd.DataFrame) -> list[float]:
    return records.loc[records["outcome"] == "ok", "service_ms"].tolist()


async def served_block(endpoint: str, chunk: list[str], params: LimitsParams, client: str) -> pd.DataFrame:
    """One request at a time through the chunk (a fresh connection pool: the server closes idle ones while a
    raw block runs); the first request opens the connection and is not counted."""
    config = ClientConfig(connections=1, timeout_s=params.request_timeout_s, client=client)
    records = await closed_loop(endpoint, single_text_bodies([chunk[0], *chunk]), Users(1), config)
    return records.iloc[1:]


def back_to_low_load_s(after: pd.DataFrame, started_s: float, low_load_p50_ms: float) -> float | None:
    """Seconds from the end of saturation (``started_s`` before the block's clock began) until the answer that
    opens the first run of ``BACK_RUN`` consecutive requests all served ok within ``BACK_FACTOR`` x the low-load
    p50; None when the block never gets there."""
    within = ((after["outcome"] == "ok") & (after["service_ms"] <= BACK_FACTOR * low_load_p50_ms)).to_numpy()
    for start in range(len(within) - BACK_RUN + 1):
        if within[start : start + BACK_RUN].all():
            return started_s + float(after["done_s"].iloc[start])
    return None


def saturation_round(raw_batch: list[float], batch_size: int, block: ClosedLoopBlock) -> dict[str, float | int]:
    """One round's saturation figures: raw batched throughput from the round's median batch time, served
    throughput of its closed-loop block."""
    return {"raw_batch_throughput_per_s": batch_size / (float(np.median(raw_batch)) / 1e3),
            "saturation_throughput_per_s": block.ok / block.seconds,
            "saturation_errors": block.shed + block.errors, "saturation_seconds": block.seconds}


async def measure_rounds(classifier: SentimentClassifier, url: str, texts: list[str], batch_size: int,
                         params: LimitsParams, client: str, label: str,
                         workers: list[psutil.Process]) -> RoundsMeasurement:
    """Raw and served measurements in alternating blocks (raw, served, raw, served ...), low load first, so the
    machine's drift between blocks lands on both sides of their difference."""
    sequence = single_text_sequence(texts, params.sequential_requests, SEQUENCE_SEED)
    rng = random.Random(0)
    batches = [rng.sample(texts, batch_size) for _ in range(params.raw_repeats)]
    endpoint = f"{url}/classify"
    pooled = PooledSamples()
    blocks: list[ClosedLoopBlock] = []
    overheads: list[float] = []
    await served_block(endpoint, sequence[: params.warmup_requests], params, client)
    # Low load first, on a server that has not seen saturation: BentoML's batching dispatcher learns a cork wait
    # under load and keeps making single requests wait afterwards (recorded below as after_saturation).
    progress = tqdm(total=2 * params.rounds, desc=f"limits: {label}", unit="block", file=sys.stderr)
    for index in range(params.rounds):
        chunk = sequence[index :: params.rounds]
        raw_single = raw_samples(classifier, [[text] for text in chunk])
        served_single = ok_service_ms(await served_block(endpoint, chunk, params, client))
        pooled.raw_single += raw_single
        pooled.served_single += served_single
        overheads.append(float(np.median(served_single) - np.median(raw_single)))
        progress.update()
    steps = await ramp(endpoint, texts, params, client, workers)
    concurrency = saturation_concurrency(steps, params.max_shed_share)
    rounds = []
    saturated_until = time.monotonic()
    for index in range(params.rounds):
        raw_batch = raw_samples(classifier, batches[index :: params.rounds])
        block = await closed_loop_block(endpoint, texts, concurrency, params.saturation_seconds / params.rounds,
                                        params, client, index, workers)
        saturated_until = time.monotonic()
        progress.update()
        pooled.raw_batch += raw_batch
        pooled.saturation += block.ok_latencies_ms
        blocks.append(block)
        rounds.append(LimitsRound.model_validate(
            {"overhead_ms": overheads[index], **saturation_round(raw_batch, batch_size, block)}))
    progress.close()
    after_started_s = time.monotonic() - saturated_until
    after = await served_block(endpoint, sequence[: max(len(sequence) // params.rounds, BACK_RUN)], params, client)
    pooled.after_saturation = ok_service_ms(after)
    back_s = back_to_low_load_s(after, after_started_s, float(np.median(pooled.served_single)))
    return RoundsMeasurement(pooled, rounds, blocks, [step.step() for step in steps], back_s)


def saturation_figures(blocks: list[ClosedLoopBlock], pooled_ms: list[float], ramp_steps: list[RampStep]) -> Saturation:
    """Throughput of the saturation blocks together, and the CPU per request the server handled (served, shed
    and failed alike: the event loop works on all of them) with the per-served figure beside it."""
    seconds = sum(block.seconds for block in blocks)
    served, handled = sum(block.ok for block in blocks), sum(block.handled for block in blocks)
    loop_cpu_s, generator_cpu_s = (sum(block.event_loop_cpu_s for block in blocks),
                                   sum(block.generator_cpu_s for block in blocks))
    return Saturation(concurrency=blocks[0].concurrency, seconds=seconds, ok=served,
                      shed=sum(block.shed for block in blocks), errors=sum(block.errors for block in blocks),
                      throughput_per_s=served / seconds, latency_ms=latency_stats(pooled_ms),
                      event_loop_cpu_ms_per_request=per_request_ms(loop_cpu_s, handled),
                      generator_cpu_ms_per_request=per_request_ms(generator_cpu_s, handled),
                      event_loop_cpu_ms_per_served=per_request_ms(loop_cpu_s, served),
                      generator_cpu_ms_per_served=per_request_ms(generator_cpu_s, served), ramp=ramp_steps)


def service_limits(built: BuiltService, batch_size: int, start: ServerStart,
                   measured: RoundsMeasurement) -> ServiceLimits:
    """The service's figures from its measurement: overhead = median over rounds of (served p50 - raw p50),
    efficiency = served saturation throughput / raw batched throughput, beside the CPU-share bound."""
    pooled = measured.pooled
    raw_batch_throughput = batch_size / (float(np.median(pooled.raw_batch)) / 1e3)
    saturation = saturation_figures(measured.blocks, pooled.saturation, measured.ramp)
    overhead = float(np.median([r.overhead_ms for r in measured.rounds]))
    efficiency = saturation.throughput_per_s / raw_batch_throughput
    bound = cpu_share_bound(1e3 / raw_batch_throughput, saturation.event_loop_cpu_ms_per_request,
                            saturation.generator_cpu_ms_per_request)
    return ServiceLimits(
        variant=built.variant, cold_start_s=start.cold_start_s, start_breakdown_s=start.phases_s,
        batching=built.batching,
        raw=RawLimit(bs1_latency_ms=latency_stats(pooled.raw_single), batch_size=batch_size,
                     batch_latency_ms=latency_stats(pooled.raw_batch), batch_throughput_per_s=raw_batch_throughput),
        served=ServedLimits(low_load_latency_ms=latency_stats(pooled.served_single), saturation=saturation,
                            low_load_after_saturation_latency_ms=latency_stats(pooled.after_saturation),
                            after_saturation_back_s=measured.after_saturation_back_s),
        rounds=measured.rounds, overhead_ms=overhead, saturation_efficiency=efficiency, cpu_share_bound=bound,
        meets_overhead_target=overhead <= OVERHEAD_TARGET_MS, meets_efficiency_target=efficiency >= EFFICIENCY_TARGET)


def service_line(name: str, limits: ServiceLimits) -> str:
    """One line of a service's figures for the stage's log."""
    sat, served = limits.served.saturation, limits.served
    phases = ", ".join(f"{phase.removesuffix('_s')} {seconds:.2f}"
                       for phase, seconds in (limits.start_breakdown_s or {}).items())
    back = served.after_saturation_back_s

    def num(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    return (f"limits: {name}: ready {num(limits.cold_start_s, '.1f')} s after launch "
            f"({phases or 'no start-up line logged'}); raw p50 {num(limits.raw.bs1_latency_ms.p50, '.1f')} ms, "
            f"served p50 {num(served.low_load_latency_ms.p50, '.1f')} ms (overhead {limits.overhead_ms:.1f} ms); "
            f"saturation at {sat.concurrency} users {sat.throughput_per_s:.1f} req/s ({sat.ok} served, {sat.shed} "
            f"shed, {sat.errors} failed) = {limits.saturation_efficiency:.0%} of raw bs{limits.raw.batch_size} "
            f"(CPU-share bound {num(limits.cpu_share_bound, '.0%')}: event loop "
            f"{num(sat.event_loop_cpu_ms_per_request, '.2f')} + generator "
            f"{num(sat.generator_cpu_ms_per_request, '.2f')} ms CPU per handled request); "
            f"single requests after saturation: p50 "
            f"{num(served.low_load_after_saturation_latency_ms.p50, '.1f')} ms, back within {BACK_FACTOR:g}x after "
            f"{'never' if back is None else f'{back:.2f} s'}")


@dataclass(frozen=True)
class ArtifactPaths:
    """Where the served Bentos' store, the server logs and the classifier's files are."""

    bentoml_home: Path
    logs: Path
    model_dir: Path
    variants_dir: Path


def measure_service(name: str, built: BuiltService, params: LimitsSettings, texts: list[str],
                    paths: ArtifactPaths) -> ServiceLimits:
    """Serve one Bento and measure it against the same classifier in-process, in alternating rounds."""
    service: ServiceParams = getattr(params.serve, name)
    runtime = params.runtime.model_copy(update={"threads": service.threads})
    classifier = SentimentClassifier.load(parse_variant(built.variant, paths.model_dir, paths.variants_dir),
                                          paths.model_dir, params.tokenizer, runtime)
    batch_size = service.batching.max_batch_size if service.batching.enabled else 1
    with BentoServer(built.bento, paths.bentoml_home, paths.logs / f"{name}.log", host=params.serve.host,
                     cpu_affinity=service.cpu_affinity, ready_timeout_s=params.serve.ready_timeout_s) as server:
        if server.launched_unix is None or server.ready_unix is None:
            raise ServerStartError(f"{name}: the server reported ready without its launch and ready times")
        phases = startup_breakdown(server.log_path.read_text(errors="replace"), server.launched_unix,
                                   server.ready_unix)
        measured = asyncio.run(measure_rounds(classifier, server.url, texts, batch_size, params.limits,
                                              params.loadgen.client, name, server.workers()))
        start = ServerStart(server.ready_after_s, phases)
    del classifier
    gc.collect()
    limits = service_limits(built, batch_size, start, measured)
    logger.info(service_line(name, limits))
    return limits


def limits_of(services: dict[str, ServiceLimits], standin: bool) -> Limits:
    """Both services' limits with the optimized / baseline speed-ups."""
    baseline, optimized = services["baseline"].served, services["optimized"].served
    return Limits(
        standin=standin,
        targets={"overhead_ms": OVERHEAD_TARGET_MS, "saturation_efficiency": EFFICIENCY_TARGET},
        services=services,
        speedup={
            "low_load_p50": (baseline.low_load_latency_ms.p50 or np.nan)
            / (optimized.low_load_latency_ms.p50 or np.nan),
            "saturation_throughput": optimized.saturation.throughput_per_s / baseline.saturation.throughput_per_s,
        },
    )
