"""CPU time and memory of a real server's process tree (``bentoml serve`` on loopback), per request served."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from servers import serve
from test_service import TEXTS

from stages.loadgen.client import ClientConfig, run_open_loop
from stages.serving.process_usage import process_cost, read_tree


def test_a_served_run_costs_cpu_per_request_split_into_loop_and_inference_and_memory(built: dict[str, Any]) -> None:
    bodies = [json.dumps({"texts": [text]}).encode() for text in TEXTS * 10]
    with serve(built, "optimized", "cost.log") as server:
        workers = server.workers()
        assert workers  # BentoML's worker process, found under the server's tree
        before = read_tree(server.pid, workers)
        idle = read_tree(server.pid, workers)
        records, usage = run_open_loop(f"{server.url}/classify", np.linspace(0.0, 2.0, len(bodies)), bodies,
                                       ClientConfig(timeout_s=30.0), warmup_s=0.0)
        after = read_tree(server.pid, workers, with_pss=True)
    assert (records["outcome"] == "ok").all()
    assert sum(idle.minus(before)) < 0.05  # reading the tree costs the tree next to nothing
    cost = process_cost(after.minus(before), len(records), [before.rss_bytes, after.rss_bytes], after.pss_bytes,
                        usage.cpu * usage.wall_s if usage.wall_s is not None else None)
    assert cost.requests == 40 and cost.cpu_ms_per_request is not None and cost.cpu_ms_per_request > 0
    assert cost.loop_ms_per_request is not None and cost.loop_ms_per_request > 0  # the event loop parsed them
    assert cost.inference_ms_per_request is not None and cost.inference_ms_per_request > 0
    parts = (cost.loop_ms_per_request, cost.inference_ms_per_request, cost.other_ms_per_request or 0.0)
    assert sum(parts) == pytest.approx(cost.cpu_ms_per_request)
    assert cost.peak_rss_mb is not None and cost.peak_rss_mb > 50  # a Python server with a model loaded
    assert cost.pss_mb is None or 0 < cost.pss_mb <= cost.peak_rss_mb * 1.01
    assert cost.generator_ms_per_request is not None and cost.generator_ms_per_request > 0
