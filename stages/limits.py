"""limits stage: what serving costs against the physical limit of the same classifier on the same threads.

For each built service: the raw in-process latency at batch 1 and raw throughput at the service's batch size
(the limit), then the served latency at low load (one request at a time) and the served throughput at
saturation (a closed loop of concurrent single-text requests). Overhead = served p50 - raw p50; efficiency =
served saturation throughput / raw batched throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd

from stages.build import SERVICES
from stages.classifier import SentimentClassifier
from stages.cli import run_stage
from stages.dataset import CORPUS_FILE
from stages.latency import measure_latency
from stages.params import LimitsParams, Params, ServiceParams, load_params
from stages.server import BentoServer
from stages.variants import MODEL_DIR, VARIANTS_DIR, parse_variant

OVERHEAD_TARGET_MS = 3.0
EFFICIENCY_TARGET = 0.8
SEQUENCE_SEED = 7


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(values.mean()),
            "count": len(values)}


def single_text_sequence(texts: list[str], count: int, seed: int) -> list[str]:
    """The seeded text sequence that both the raw and the served low-load measurements walk through."""
    rng = random.Random(seed)
    return [rng.choice(texts) for _ in range(count)]


def raw_limits(variant: str, service: ServiceParams, params: Params, texts: list[str], model_dir: Path,
               variants_dir: Path) -> dict:
    """In-process latency at batch 1 and throughput at the service's batch size, same threads as served.

    Batch 1 walks the same text sequence as the served low-load run, so text length cancels out of the
    overhead; the batched figure is the median over ``raw_repeats`` different random batches.
    """
    runtime = params.runtime.model_copy(update={"threads": service.threads})
    classifier = SentimentClassifier.load(parse_variant(variant, model_dir, variants_dir), model_dir,
                                          params.tokenizer, runtime)
    sequence = single_text_sequence(texts, params.limits.sequential_requests, SEQUENCE_SEED)
    single = measure_latency(classifier.predict_proba, [[text] for text in sequence], warmup=3)
    batch_size = service.batching.max_batch_size if service.batching.enabled else 1
    rng = random.Random(0)
    batches = [rng.sample(texts, batch_size) for _ in range(params.limits.raw_repeats)]
    batched = measure_latency(classifier.predict_proba, batches, warmup=2)
    del classifier
    gc.collect()
    return {
        "bs1_latency_ms": {key: single["latency"][key] for key in ("p50", "p99", "mean")},
        "batch_size": batch_size,
        "batch_latency_ms": {key: batched["latency"][key] for key in ("p50", "p99", "mean")},
        "batch_throughput_per_s": batched["throughput_per_s"],
    }


async def _post(session: aiohttp.ClientSession, url: str, text: str) -> float:
    """One single-text request; its latency in ms. A non-200 answer is an error, not a sample."""
    started = time.perf_counter()
    async with session.post(url, json={"texts": [text]}) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    return (time.perf_counter() - started) * 1e3


async def served_limits(url: str, texts: list[str], params: LimitsParams) -> dict:
    """Low-load latency (sequential) and saturation throughput (closed loop) of a running service."""
    endpoint = f"{url}/classify"
    rng = random.Random(1)
    connector = aiohttp.TCPConnector(limit=params.saturation_concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(params.warmup_requests):
            await _post(session, endpoint, rng.choice(texts))
        sequence = single_text_sequence(texts, params.sequential_requests, SEQUENCE_SEED)
        sequential = [await _post(session, endpoint, text) for text in sequence]

        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.perf_counter() + params.saturation_seconds

        async def user(seed: int) -> None:
            user_rng = random.Random(seed)
            while time.perf_counter() < deadline:
                try:
                    latencies.append(await _post(session, endpoint, user_rng.choice(texts)))
                except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
                    errors.append(str(exc))

        started = time.perf_counter()
        await asyncio.gather(*(user(seed) for seed in range(params.saturation_concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "low_load_latency_ms": percentiles(sequential),
        "saturation": {
            "concurrency": params.saturation_concurrency,
            "seconds": elapsed,
            "ok": len(latencies),
            "errors": len(errors),
            "throughput_per_s": len(latencies) / elapsed,
            "latency_ms": percentiles(latencies),
        },
    }


def measure_service(name: str, built: dict, params: Params, texts: list[str], home: Path, logs: Path,
                    model_dir: Path, variants_dir: Path) -> dict:
    service: ServiceParams = getattr(params.serve, name)
    raw = raw_limits(built["variant"], service, params, texts, model_dir, variants_dir)
    print(f"limits: {name}: raw bs1 p50 {raw['bs1_latency_ms']['p50']:.1f} ms, "
          f"bs{raw['batch_size']} {raw['batch_throughput_per_s']:.1f} texts/s; serving…", flush=True)
    with BentoServer(built["bento"], home, logs / f"{name}.log", host=params.serve.host,
                     cpu_affinity=service.cpu_affinity, ready_timeout_s=params.serve.ready_timeout_s) as server:
        served = asyncio.run(served_limits(server.url, texts, params.limits))
    overhead = served["low_load_latency_ms"]["p50"] - raw["bs1_latency_ms"]["p50"]
    efficiency = served["saturation"]["throughput_per_s"] / raw["batch_throughput_per_s"]
    print(f"limits: {name}: served p50 {served['low_load_latency_ms']['p50']:.1f} ms (overhead {overhead:.1f} ms), "
          f"saturation {served['saturation']['throughput_per_s']:.1f} req/s ({efficiency:.0%} of raw)", flush=True)
    return {
        "variant": built["variant"],
        "batching": built["batching"],
        "raw": raw,
        "served": served,
        "overhead_ms": overhead,
        "saturation_efficiency": efficiency,
        "meets_overhead_target": overhead <= OVERHEAD_TARGET_MS,
        "meets_efficiency_target": efficiency >= EFFICIENCY_TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--bentos", type=Path, default=Path("results/bentos.json"))
    parser.add_argument("--dataset", type=Path, default=Path("data/dataset"))
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--variants", type=Path, default=VARIANTS_DIR)
    parser.add_argument("--logs", type=Path, default=Path("results/logs"))
    parser.add_argument("--out", type=Path, default=Path("results/limits.json"))
    args = parser.parse_args()
    params = load_params(args.params)
    bentos = json.loads(args.bentos.read_text())
    texts = pd.read_json(args.dataset / CORPUS_FILE, lines=True)["text"].tolist()
    home = Path(bentos["bentoml_home"])
    services = {
        name: measure_service(name, bentos["services"][name], params, texts, home, args.logs, args.model,
                              args.variants)
        for name in SERVICES
    }
    baseline, optimized = services["baseline"], services["optimized"]
    limits = {
        "standin": bentos["standin"],
        "targets": {"overhead_ms": OVERHEAD_TARGET_MS, "saturation_efficiency": EFFICIENCY_TARGET},
        "services": services,
        "speedup": {
            "low_load_p50": baseline["served"]["low_load_latency_ms"]["p50"]
            / optimized["served"]["low_load_latency_ms"]["p50"],
            "saturation_throughput": optimized["served"]["saturation"]["throughput_per_s"]
            / baseline["served"]["saturation"]["throughput_per_s"],
        },
    }
    args.out.write_text(json.dumps(limits, indent=2) + "\n")
    print(f"limits: optimized vs baseline: {limits['speedup']['low_load_p50']:.1f}x faster at low load, "
          f"{limits['speedup']['saturation_throughput']:.1f}x throughput at saturation -> {args.out}")


if __name__ == "__main__":
    run_stage("limits", main)
