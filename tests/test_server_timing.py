"""The Server-Timing header: written by the real service under ``bentoml serve``, read by both load-generator
clients, documented in the served OpenAPI, and splitting each request's latency into parts that add up to it."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from servers import SharedServers
from test_service import TEXTS

from stages.common.server_timing import format_timing, parse_timing
from stages.loadgen.client import ClientConfig, run_open_loop
from stages.loadgen.latency_parts import PARTS, latency_parts

RESOLUTION_MS = 0.002  # the header's durations are rounded to 1 us; both clocks resolve finer


def test_the_header_format_reads_back_and_survives_what_other_servers_send() -> None:
    header = format_timing({"app": 12.3456, "wait": 1.0, "compute": 9.87}, batch=3)
    assert header == 'app;dur=12.346, wait;dur=1.000, compute;dur=9.870, batch;desc="3"'
    assert parse_timing(header) == {"app": 12.346, "wait": 1.0, "compute": 9.87, "batch": 3.0}
    assert parse_timing('cdn-cache; desc="HIT", edge;dur=2, db;dur="1.5";desc=x, , ;;') == {"edge": 2.0, "db": 1.5}
    assert parse_timing("") == {} and parse_timing("app;dur=abc") == {}


@pytest.mark.parametrize(("name", "client"), [("optimized", "aiohttp"), ("optimized", "lean"), ("baseline", "lean")])
def test_every_answer_carries_server_timing_and_the_latency_parts_add_up(servers: SharedServers, name: str,
                                                                         client: str) -> None:
    """16 requests in a 50 ms burst: the batched service (optimized) reports its batcher's wait and batch sizes,
    the unbatched one (baseline) its model call alone; no part is negative, so no server time exceeds what the
    client saw, and no wait and compute exceed the app's time."""
    bodies = [json.dumps({"texts": [text]}).encode() for text in TEXTS * 4]
    server = servers[name]
    records, _ = run_open_loop(f"{server.url}/classify", np.linspace(0.0, 0.05, len(bodies)), bodies,
                               ClientConfig(client=client, timeout_s=30.0), warmup_s=0.0)
    with urllib.request.urlopen(f"{server.url}/docs.json", timeout=10) as response:
        document = json.load(response)
    assert (records["outcome"] == "ok").all()
    parts = latency_parts(records)
    assert len(parts) == len(records) == 16  # every ok answer carried the header, through this client
    assert (parts[list(PARTS)] >= -RESOLUTION_MS).all().all(), parts.describe()
    assert parts[list(PARTS)].sum(axis=1).to_numpy() == pytest.approx(parts["latency_ms"].to_numpy(),
                                                                      abs=RESOLUTION_MS)
    assert (parts["compute_ms"] > 0).all()
    if name == "optimized":  # batched: the dispatcher timed each request's wait and its batch
        assert records["server_wait_ms"].notna().all() and (records["server_batch"] >= 1).all()
        assert records["server_batch"].between(1, 16).all()  # each request's batch, at most the burst
    else:
        assert records["server_wait_ms"].isna().all() and records["server_batch"].isna().all()
    headers = document["paths"]["/classify"]["post"]["responses"]["200"]["headers"]
    assert "Server-Timing" in headers and "compute" in headers["Server-Timing"]["description"]
