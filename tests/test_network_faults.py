"""Network faults in user space: the proxy's delay and partition against the null server, then each fault under
open-loop load against the real tiny-stand-in server, read by the same recovery code as every other fault."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from stages.common.artifacts import CLASSIFY
from stages.faults.local import Target, inject
from stages.faults.proxy import FaultyProxy
from stages.faults.recovery import recovery
from stages.faults.run import faulted_run
from stages.loadgen.run import warm_up
from stages.params.loadgen import ScenarioParams
from stages.params.resilience import ResilienceParams
from stages.serving.server import BentoServer

TEXTS = ["I love this phone", "worst service ever", "the train leaves at 9", "not sure how I feel"] * 10
LOAD = ScenarioParams(process="exponential", rate=10.0, duration_s=16.0, warmup_s=1.0, seed=7, timeout_s=8.0)
FAULTS = ResilienceParams(network_s=2.0, delay_ms=1500.0)


def timed_post(url: str) -> float:
    started = time.monotonic()
    request = urllib.request.Request(f"{url}/ok", data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
    return time.monotonic() - started


def proxy_to(url: str) -> FaultyProxy:
    parts = urlsplit(url)
    return FaultyProxy(parts.hostname or "127.0.0.1", parts.port or 80)


def test_the_proxy_adds_its_delay_both_ways_and_only_while_asked(null_server: str) -> None:
    with proxy_to(null_server) as proxy:
        assert timed_post(proxy.url) < 0.2
        with proxy.delayed(0.25):
            slowed = timed_post(proxy.url)
        assert 0.45 < slowed < 1.5  # 0.25 s on the request, 0.25 s on the answer
        assert timed_post(proxy.url) < 0.2


def test_a_partition_holds_traffic_and_new_connections_until_it_heals(null_server: str) -> None:
    with proxy_to(null_server) as proxy:
        timings: list[float] = []
        with proxy.partitioned():
            sender = threading.Thread(target=lambda: timings.append(timed_post(proxy.url)))
            sender.start()
            time.sleep(1.0)
            assert sender.is_alive() and not timings  # nothing crossed
        sender.join(timeout=10)
        assert timings and 0.9 < timings[0] < 3.0  # delivered once healed, as a retransmission would be
        assert proxy.connections >= 1


def serve_optimized(built: dict[str, Any], log: Path) -> BentoServer:
    return BentoServer(built["bentos"]["services"]["optimized"]["bento"], built["home"], log, ready_timeout_s=120)


@pytest.mark.e2e
@pytest.mark.parametrize("fault", ["network-delay", "partition"])
def test_a_network_fault_under_load_breaks_then_restores_the_steady_state(built: dict[str, Any], tmp_path: Path,
                                                                          fault: str) -> None:
    with serve_optimized(built, tmp_path / f"{fault}.log") as server, \
            FaultyProxy(server.host, server.port) as proxy:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        run = faulted_run(f"{proxy.url}{CLASSIFY}", LOAD, TEXTS, 5.0, partial(inject, fault, Target(server, proxy),
                                                                           FAULTS))
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=2.0, max_recovery_s=8.0)
    assert figures.scheduled == figures.recorded and figures.steady_state_before.held
    assert figures.verdict == "recovered" and figures.breaches > 0
    during = run.records[run.records["scheduled_s"].between(run.fault_s + 0.1, run.fault_end_s - 0.6)]
    if fault == "network-delay":  # 1.5 s on the way in; on the way out too when the answer leaves in the window
        assert (during["latency_ms"] >= 1400).all() and (during["outcome"] == "ok").all()
        both_ways = during[during["scheduled_s"] < run.fault_end_s - 1.6]
        assert len(both_ways) and (both_ways["latency_ms"] >= 2900).all()
    else:  # held until the partition healed, counted from each request's schedule
        assert ((during["done_s"] >= run.fault_end_s - 0.05) & (during["outcome"] == "ok")).all()
    assert figures.outage_s is not None and 1.5 < figures.outage_s < 6.0


@pytest.mark.e2e
def test_packet_loss_under_load_delays_requests_past_the_objective_then_stops(built: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    """60 % loss per try for 5 s: chunks lost three times or more (22 %) wait >= 1.4 s, so requests in the window
    breach the objective; the steady state returns when the loss is lifted, and every request is recorded."""
    lossy = FAULTS.model_copy(update={"loss_share": 0.6, "retransmit_ms": 200.0, "network_s": 5.0})
    with serve_optimized(built, tmp_path / "loss.log") as server, FaultyProxy(server.host, server.port) as proxy:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        run = faulted_run(f"{proxy.url}{CLASSIFY}", LOAD, TEXTS, 5.0,
                          partial(inject, "packet-loss", Target(server, proxy), lossy))
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=2.0, max_recovery_s=8.0)
    assert figures.scheduled == figures.recorded and figures.steady_state_before.held
    assert figures.verdict == "recovered" and figures.breaches > 0
    before = run.records[run.records["scheduled_s"].between(1.0, run.fault_s - 0.5)]
    during = run.records[run.records["scheduled_s"].between(run.fault_s, run.fault_end_s - 1.0)]
    assert during["latency_ms"].median() > before["latency_ms"].median() + 150  # most requests lost a chunk


def test_lost_chunks_wait_a_doubling_retransmission_timeout_per_lost_try(null_server: str) -> None:
    """30 % loss per try: 30 % of chunks wait >= 200 ms, 9 % >= 600 ms (two tries lost), as TCP resends; through
    the proxy, some requests are late by those steps and none once the loss is lifted."""
    proxy = proxy_to(null_server)
    with proxy.lossy(0.3, 0.2, seed=1):
        waits = np.array([proxy._retransmissions_s() for _ in range(20_000)])
    assert set(np.round(waits[waits < 3.0], 3)) <= {0.0, 0.2, 0.6, 1.4}
    assert (waits >= 0.2).mean() == pytest.approx(0.3, abs=0.015)
    assert (waits >= 0.6).mean() == pytest.approx(0.09, abs=0.01)
    assert proxy._retransmissions_s() == 0.0  # lifted
    with proxy:
        lost = proxy.lost_tries
        with proxy.lossy(0.3, 0.05, seed=2):
            lossy = [timed_post(proxy.url) for _ in range(20)]
        assert proxy.lost_tries > lost and sum(t >= 0.05 for t in lossy) >= 4
        lost = proxy.lost_tries
        for _ in range(5):
            timed_post(proxy.url)
    assert proxy.lost_tries == lost


def test_stopping_the_proxy_with_connections_open_logs_no_error(null_server: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Connections still open (one idle, one held by a partition) end quietly when the proxy stops: asyncio's
    stream server logged a CancelledError traceback for each before."""
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with proxy_to(null_server) as proxy:
            idle = socket.create_connection((proxy.host, proxy.port))
            with proxy.partitioned():
                held = socket.create_connection((proxy.host, proxy.port))
                time.sleep(0.2)
                assert proxy.connections == 2
        idle.close()
        held.close()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
