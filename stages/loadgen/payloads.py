"""Request bodies for load runs, drawn up front from a seed so two services get exactly the same payloads."""

from __future__ import annotations

import json

import numpy as np

from stages.common.params import ScenarioParams
from stages.loadgen.arrivals import ArrivalSpec


def request_bodies(texts: list[str], count: int, texts_per_request: int, seed: int) -> list[bytes]:
    """Seeded payloads ``{"texts": [...]}``, encoded up front so the send loop does no JSON work."""
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, len(texts), size=(count, texts_per_request))
    return [json.dumps({"texts": [texts[i] for i in row]}).encode() for row in picks]


def single_text_bodies(texts: list[str]) -> list[bytes]:
    """One body per text, in the given order."""
    return [json.dumps({"texts": [text]}).encode() for text in texts]


def arrival_spec(scenario: ScenarioParams) -> ArrivalSpec:
    """The arrival process a scenario's params describe."""
    return ArrivalSpec(process=scenario.process, rate=scenario.rate, shape=scenario.shape,
                       requests=scenario.requests, duration_s=scenario.duration_s, trace_file=scenario.trace_file,
                       seed=scenario.seed)
