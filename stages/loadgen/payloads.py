"""Request bodies for load runs, drawn up front from a seed so two services get exactly the same payloads."""

from __future__ import annotations

import json

import numpy as np

from stages.common.errors import ServebenchError
from stages.loadgen.arrivals import ArrivalSpec
from stages.params.loadgen import RelativeRate, ScenarioParams


def request_bodies(texts: list[str], count: int, texts_per_request: int, seed: int) -> list[bytes]:
    """Seeded payloads ``{"texts": [...]}``, encoded up front so the send loop does no JSON work."""
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, len(texts), size=(count, texts_per_request))
    return [json.dumps({"texts": [texts[i] for i in row]}).encode() for row in picks]


def single_text_bodies(texts: list[str]) -> list[bytes]:
    """One body per text, in the given order."""
    return [json.dumps({"texts": [text]}).encode() for text in texts]


def arrival_spec(scenario: ScenarioParams, shards: int = 1) -> ArrivalSpec:
    """The arrival process a scenario's params describe, or what one of ``shards`` processes sees of it.

    Every n-th arrival of a gamma(shape) process is n gaps apart: gamma(n * shape) at 1/n of the rate, so a
    shard's own audit tests its share against the right distribution.
    """
    if isinstance(scenario.rate, RelativeRate):
        raise ServebenchError(f"a rate of {scenario.rate.fraction:g} x {scenario.rate.of}'s capacity must be resolved "
                              "to req/s from results/capacity.json before a run (stages.loadgen.relative)")
    shape = scenario.shape * shards if scenario.process in ("gamma", "exponential") else scenario.shape
    process = "gamma" if scenario.process == "exponential" and shards > 1 else scenario.process
    return ArrivalSpec(process=process, rate=scenario.rate / shards, shape=shape, requests=scenario.requests,
                       duration_s=scenario.duration_s, trace_file=scenario.trace_file, seed=scenario.seed)
