"""Served throughput at saturation, found without counting rejections as service.

A closed loop of 64 users against a batching BentoML service on a slow machine got 424 answers and 3,304 shed
503s: its "saturation throughput" was the rate at which it refused work, and the event loop's CPU divided by the
424 served requests read 29 ms each. Here the concurrency is stepped up (1, 2, 4, ... users) until the share of
failed answers passes ``limits.max_shed_share``; the highest step within it is the saturation point, measured in
the stage's rounds. Served, shed (503) and other failed requests are counted apart, and CPU per request is given
per request the server handled (what its event loop did) with the per-served figure beside it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import pandas as pd
import psutil

from stages.loadgen.client import ClientConfig, Users, closed_loop
from stages.loadgen.payloads import request_bodies
from stages.params.limits import LimitsParams
from stages.records.limits import RampStep

SATURATION_POOL = 50_000  # payloads the saturation users draw from: more than 64 users send in seconds
SHED_STATUS = 503  # BentoML's answer to a request it expects to miss its batching deadline


def concurrency_ladder(most: int) -> list[int]:
    """1, 2, 4, ... up to and including ``most``."""
    ladder = [1]
    while ladder[-1] * 2 < most:
        ladder.append(ladder[-1] * 2)
    return ladder + ([most] if most > 1 else [])


def event_loop_cpu_s(workers: list[psutil.Process]) -> float:
    """CPU seconds so far of the workers' main threads: BentoML's event loop, which parses, validates, batches
    and answers every request there; inference runs on other threads (ONNX Runtime's, AnyIO's)."""
    total = 0.0
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(thread.user_time + thread.system_time for thread in worker.threads()
                         if thread.id == worker.pid)
    return total


@dataclass(frozen=True)
class ClosedLoopBlock:
    """One closed-loop block: served, shed (503) and otherwise failed requests, and the CPU it cost."""

    concurrency: int
    ok_latencies_ms: list[float]
    shed: int
    errors: int
    seconds: float
    event_loop_cpu_s: float
    generator_cpu_s: float

    @property
    def ok(self) -> int:
        return len(self.ok_latencies_ms)

    @property
    def handled(self) -> int:
        return self.ok + self.shed + self.errors

    @property
    def failed_share(self) -> float:
        return (self.shed + self.errors) / self.handled if self.handled else 1.0

    def step(self) -> RampStep:
        return RampStep(concurrency=self.concurrency, ok=self.ok, shed=self.shed, errors=self.errors,
                        seconds=self.seconds, throughput_per_s=self.ok / self.seconds if self.seconds else 0.0)


def closed_loop_step(records: pd.DataFrame, concurrency: int, loop_cpu_s: float,
                     generator_cpu_s: float) -> ClosedLoopBlock:
    ok = records["outcome"] == "ok"
    shed = records["status"] == SHED_STATUS
    return ClosedLoopBlock(concurrency=concurrency, ok_latencies_ms=records.loc[ok, "service_ms"].tolist(),
                           shed=int(shed.sum()), errors=int((~ok & ~shed).sum()),
                           seconds=float(records["done_s"].max()) if len(records) else 0.0,
                           event_loop_cpu_s=loop_cpu_s, generator_cpu_s=generator_cpu_s)


async def closed_loop_block(endpoint: str, texts: list[str], concurrency: int, seconds: float, params: LimitsParams,
                            client: str, seed: int, workers: list[psutil.Process]) -> ClosedLoopBlock:
    """``concurrency`` users sending single texts without pause for ``seconds``, with the CPU that the server's
    event loop and this generator spent on it."""
    bodies = request_bodies(texts, SATURATION_POOL, 1, seed)
    config = ClientConfig(connections=concurrency, timeout_s=params.request_timeout_s, client=client)
    loop_cpu, generator_cpu = event_loop_cpu_s(workers), time.process_time()
    records = await closed_loop(endpoint, bodies, Users(concurrency, duration_s=seconds), config)
    return closed_loop_step(records, concurrency, event_loop_cpu_s(workers) - loop_cpu,
                            time.process_time() - generator_cpu)


def saturation_concurrency(ramp: list[ClosedLoopBlock], max_shed_share: float) -> int:
    """The highest concurrency of the ramp whose failed share (shed or otherwise) stays within the bound; the
    first step's when none does (one user at a time cannot be helped)."""
    within = [step.concurrency for step in ramp if step.failed_share <= max_shed_share]
    return max(within) if within else ramp[0].concurrency


async def ramp(endpoint: str, texts: list[str], params: LimitsParams, client: str,
               workers: list[psutil.Process]) -> list[ClosedLoopBlock]:
    """Concurrency stepped up the ladder until the failed share passes ``max_shed_share`` (that step included)."""
    steps = []
    for index, concurrency in enumerate(concurrency_ladder(params.saturation_concurrency)):
        steps.append(await closed_loop_block(endpoint, texts, concurrency, params.ramp_step_seconds, params, client,
                                             1000 + index, workers))
        if steps[-1].failed_share > params.max_shed_share:
            break
    return steps


def per_request_ms(cpu_s: float, requests: int) -> float | None:
    return 1e3 * cpu_s / requests if requests else None


def cpu_share_bound(inference_ms: float, loop_ms: float | None, generator_ms: float | None) -> float | None:
    """At saturation every core is busy, so CPU that the event loop and the generator spend per request is taken
    from inference: served throughput cannot exceed raw x inference / (inference + both)."""
    if loop_ms is None or generator_ms is None:
        return None
    return inference_ms / (inference_ms + loop_ms + generator_ms)
