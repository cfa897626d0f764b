"""The load generator against a real aiohttp null server on loopback (outcomes, connections, coordinated omission,
shards)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Timing
from helpers import run_module, write_params

from stages.common.net import free_port
from stages.loadgen.arrivals import ArrivalSpec, TraceError, draw_schedule, realised_fit, schedule_fit
from stages.loadgen.client import ClientConfig, GeneratorUsage, SendOptions, Users, run_closed_loop, run_open_loop
from stages.loadgen.pools import CLIENTS
from stages.loadgen.shards import merge_runs
from stages.loadgen.summary import summarize
from stages.params.loadgen import LoadgenParams

BODY = json.dumps({"texts": ["hello"]}).encode()
DEFAULT_LIMITS = ClientConfig()

QUIET = SendOptions(progress_every_s=None)  # no progress lines in the test log


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    """Each behaviour test runs through both HTTP clients: every outcome class must mean the same in both."""
    return str(request.param)


def fit_pvalue(gaps: np.ndarray, spec: ArrivalSpec) -> float:
    fit = schedule_fit(gaps, spec)
    assert fit is not None and fit.pvalue is not None
    return fit.pvalue


def realised_statistic(sent: np.ndarray, scheduled: np.ndarray) -> float:
    fit = realised_fit(sent, scheduled, 0.001)
    assert fit is not None
    return fit.statistic


def constant(rate: float, requests: int) -> np.ndarray:
    return draw_schedule(ArrivalSpec("constant", rate=rate, requests=requests))


def run(url: str, schedule: np.ndarray, limits: ClientConfig = DEFAULT_LIMITS, warmup_s: float = 0.0) -> pd.DataFrame:
    records, _ = run_open_loop(url, schedule, [BODY] * len(schedule), limits, warmup_s)
    return records


def test_every_scheduled_request_gets_one_ok_record(null_server: str) -> None:
    records = run(f"{null_server}/ok", constant(200, 300), warmup_s=0.25)
    assert records["index"].tolist() == list(range(300))
    assert (records["outcome"] == "ok").all() and (records["status"] == 200).all()
    assert (records["latency_ms"] >= records["service_ms"]).all()
    assert records["warmup"].sum() == 50  # scheduled before 0.25 s at 200/s
    spec = ArrivalSpec("constant", rate=200, requests=300)
    summary = summarize(records, spec, LoadgenParams(), GeneratorUsage(cpu=0.1, idle_wait=0.5))
    assert summary.requests.model_dump() == {"scheduled": 300, "warmup": 50, "measured": 250}
    assert summary.outcomes["ok"] == 250 and sum(summary.outcomes.values()) == 250


@pytest.mark.parametrize(
    ("path", "timeout_s", "outcome", "status"),
    [
        ("error", 30.0, "http_error", 500),
        ("slow?ms=3000", 0.3, "timeout", 0),
        ("reset", 30.0, "connection_error", 0),
    ],
)
def test_failures_get_the_right_outcome(null_server: str, client: str, path: str, timeout_s: float, outcome: str,
                                        status: int) -> None:
    records = run(f"{null_server}/{path}", constant(50, 20), ClientConfig(timeout_s=timeout_s, client=client))
    assert len(records) == 20
    assert (records["outcome"] == outcome).all(), records["outcome"].value_counts()
    assert (records["status"] == status).all()


def test_connections_closed_by_the_server_are_replaced(null_server: str, client: str) -> None:
    records = run(f"{null_server}/close", constant(100, 50), ClientConfig(client=client))
    assert (records["outcome"] == "ok").all(), records["error"].unique()


def test_a_refused_connection_fails_each_request_and_loses_none(client: str) -> None:
    records = run(f"http://127.0.0.1:{free_port()}/ok", constant(100, 30), ClientConfig(connections=4, client=client))
    assert len(records) == 30 and (records["outcome"] == "connection_error").all()
    assert records["error"].str.contains("Connect|refused", case=False).all()


def test_requests_wait_for_a_connection_and_time_out_from_their_issue(null_server: str, client: str) -> None:
    """One connection, a server that never answers in time: the first request times out in flight, the others
    while queued behind it, each ``timeout_s`` after it was issued (as aiohttp's total timeout)."""
    records = run(f"{null_server}/slow?ms=3000", constant(50, 10),
                  ClientConfig(connections=1, timeout_s=0.3, client=client))
    assert (records["outcome"] == "timeout").all()
    waited = records["done_s"] - records["sent_s"]
    assert waited.between(0.3, 0.45).all(), waited.describe()


def test_client_limit_drops_are_recorded_not_lost(null_server: str, client: str) -> None:
    records = run(f"{null_server}/slow?ms=1000", constant(100, 40), ClientConfig(max_in_flight=5, client=client))
    counts = records["outcome"].value_counts()
    assert len(records) == 40
    assert counts["ok"] == 5 and counts["dropped_by_client_limit"] == 35
    assert records.loc[records["outcome"] == "dropped_by_client_limit", "sent_s"].isna().all()


def stall_after(url: str, delay_s: float, seconds: float) -> threading.Timer:
    body = json.dumps({"seconds": seconds}).encode()
    timer = threading.Timer(delay_s, lambda: urllib.request.urlopen(
        urllib.request.Request(f"{url}/control/stall", data=body), timeout=5))
    timer.start()
    return timer


def test_a_server_stall_shows_in_open_loop_latency(null_server: str, client: str) -> None:
    """Coordinated omission: requests scheduled during a 2 s stall carry the stall in their latency."""
    schedule = constant(100, 400)  # 4 s
    timer = stall_after(null_server, 1.2, 2.0)  # about 1 s into the run (the generator starts 0.2 s later)
    records = run(f"{null_server}/ok", schedule, ClientConfig(client=client))
    timer.join()
    assert (records["outcome"] == "ok").all()
    stalled = records[records["latency_ms"] > 500]
    stall_end = float(stalled["done_s"].median())  # held requests are all released when the stall ends
    assert (stalled["done_s"] - stall_end).abs().max() < 0.3
    # Every request scheduled in the second half of the stall waited until its end, counted from its schedule.
    during = records[(records["scheduled_s"] > stall_end - 1.0) & (records["scheduled_s"] < stall_end - 0.2)]
    assert len(during) >= 70
    assert (during["latency_ms"] >= (stall_end - 0.1 - during["scheduled_s"]) * 1e3).all()
    assert np.percentile(records["latency_ms"], 99) > 1500
    assert (records["latency_ms"] > 500).mean() > 0.3  # about half the schedule fell into the stall


def test_a_closed_loop_hides_the_same_stall(null_server: str) -> None:
    """The Locust-style loop sends nothing while it waits, so the stall is one sample among hundreds."""
    timer = stall_after(null_server, 1.0, 2.0)
    records, _ = run_closed_loop(f"{null_server}/ok", [BODY] * 100_000, Users(1, think_time_s=0.005, duration_s=4.0),
                                 ClientConfig())
    timer.join()
    assert (records["outcome"] == "ok").all() and len(records) > 100
    assert records["service_ms"].max() > 1500  # the one request caught in the stall
    assert np.percentile(records["service_ms"], 99) < 1500


@pytest.mark.integration
def test_seeded_schedules_are_identical_across_runs_and_processes() -> None:
    spec = ArrivalSpec("gamma", rate=5.0, shape=0.25, requests=1000, seed=7)
    first, again = draw_schedule(spec), draw_schedule(spec)
    np.testing.assert_array_equal(first, again)
    code = ("import hashlib; from stages.loadgen.arrivals import ArrivalSpec, draw_schedule; "
            "print(hashlib.sha256(draw_schedule(ArrivalSpec('gamma', rate=5.0, shape=0.25, requests=1000, "
            "seed=7)).tobytes()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == hashlib.sha256(first.tobytes()).hexdigest()
    assert not np.array_equal(first, draw_schedule(ArrivalSpec("gamma", rate=5.0, shape=0.25, requests=1000)))


@pytest.mark.parametrize("spec", [
    ArrivalSpec("exponential", rate=2.0, requests=3000, seed=1),
    ArrivalSpec("gamma", rate=0.5, shape=1.2, requests=3000, seed=2),
    ArrivalSpec("gamma", rate=0.5, shape=0.8, requests=3000, seed=3),
    ArrivalSpec("gamma", rate=10.0, shape=0.25, requests=3000, seed=4),
])
def test_schedules_pass_their_ks_test_and_have_the_target_rate(spec: ArrivalSpec) -> None:
    schedule = draw_schedule(spec)
    gaps = np.diff(schedule)
    assert fit_pvalue(gaps, spec) > 0.01
    assert gaps.mean() == pytest.approx(1 / spec.rate, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / np.sqrt(spec.shape if spec.process == "gamma" else 1),
                                                     rel=0.15)


def test_a_wrong_distribution_fails_the_sampler_test() -> None:
    poisson = np.diff(draw_schedule(ArrivalSpec("exponential", rate=2.0, requests=3000, seed=1)))
    assert fit_pvalue(poisson, ArrivalSpec("gamma", rate=2.0, shape=0.25)) < 1e-6
    assert fit_pvalue(poisson, ArrivalSpec("exponential", rate=4.0)) < 1e-6  # right shape, wrong rate


def test_duration_and_trace_schedules(tmp_path: Path) -> None:
    timed = draw_schedule(ArrivalSpec("exponential", rate=50.0, duration_s=10.0, seed=0))
    assert timed[0] == 0.0 and timed[-1] < 10.0 and 400 < len(timed) < 600
    trace = tmp_path / "trace.txt"
    trace.write_text("# unix timestamps\n100.0\n100.5\n100.5\n103.25\n")
    np.testing.assert_array_equal(draw_schedule(ArrivalSpec("trace", trace_file=str(trace))), [0, 0.5, 0.5, 3.25])
    for content, problem in (("5\n4\n", "non-decreasing"), ("1.0\nsoon\n", "one number per line")):
        trace.write_text(content)
        with pytest.raises(TraceError, match=problem):
            draw_schedule(ArrivalSpec("trace", trace_file=str(trace)))
    with pytest.raises(TraceError, match="no such trace file"):
        draw_schedule(ArrivalSpec("trace", trace_file=str(tmp_path / "missing.txt")))


@pytest.mark.e2e  # generator processes started, synchronised and merged: the cluster shards' whole path
def test_sharded_processes_merge_to_one_run(tmp_path: Path, null_server: str) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("good\nbad\nfine\n")
    scenario = {"process": "exponential", "rate": 100.0, "requests": 300, "seed": 3, "texts_per_request": 2}
    params = write_params(tmp_path / "params.yaml", {"loadgen": {"scenarios": {"s": scenario}}})
    outputs = {}
    for processes in (1, 3):
        out = tmp_path / f"p{processes}"
        result = run_module("stages.loadgen", "--url", f"{null_server}/ok", "--scenario", "s", "--params",
                            str(params), "--corpus", str(corpus), "--out", str(out), "--processes", str(processes))
        assert result.returncode == 0, result.stderr
        outputs[processes] = pd.read_parquet(out / "records.parquet")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["outcomes"]["ok"] == 300
    assert outputs[3]["index"].tolist() == outputs[1]["index"].tolist() == list(range(300))
    np.testing.assert_allclose(outputs[3]["scheduled_s"], outputs[1]["scheduled_s"])
    assert (tmp_path / "p1" / "interarrival.png").is_file()
    assert len(pd.read_csv(tmp_path / "p1" / "interarrival.csv")) == 200


@pytest.mark.benchmark
def test_a_faithful_high_rate_run_passes_the_audit(fast_server: str, timing_record: Timing) -> None:
    """1,000 req/s for 4 s against the protocol-level server: every request sent on time, the audit agrees."""
    spec = ArrivalSpec("exponential", rate=1000.0, duration_s=4.0, seed=5)
    schedule = draw_schedule(spec)
    records, usage = run_open_loop(f"{fast_server}/ok", schedule, [BODY] * len(schedule),
                                   ClientConfig(client="lean"), 0.5, QUIET)
    summary = summarize(records, spec, LoadgenParams(), usage)
    timing_record.figures |= {"sent": float(summary.requests.measured), "generator_cpu": usage.cpu,
                       **{f"lag_{key}_ms": value for key, value in summary.audit.lag_ms.model_dump().items()
                          if isinstance(value, float)}}
    assert summary.outcomes["ok"] == summary.requests.measured > 3000
    assert summary.audit.valid, summary.audit.reasons
    assert summary.audit.realised_gap_fit is not None and summary.audit.realised_gap_fit.n > 3000
    assert 0.0 < usage.cpu <= 1.05 and usage.idle_wait is not None


def test_a_generator_stalled_for_a_second_fails_the_audit(tmp_path: Path, fast_server: str) -> None:
    """SIGSTOP the generator process mid-run: the requests due meanwhile leave late, and the audit says so."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("good\nbad\n")
    scenario = {"process": "exponential", "rate": 200.0, "duration_s": 5.0, "seed": 3}
    params = write_params(tmp_path / "params.yaml", {"loadgen": {"scenarios": {"s": scenario}}})
    command = [sys.executable, "-m", "stages.loadgen", "--url", f"{fast_server}/ok", "--scenario", "s",
               "--params", str(params), "--corpus", str(corpus), "--out", str(tmp_path / "run")]
    generator = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert generator.stderr is not None
    for line in generator.stderr:  # the first line comes just before the send loop starts
        if "requests over" in line:
            break
    threading.Event().wait(2.0)
    generator.send_signal(signal.SIGSTOP)
    threading.Event().wait(1.0)
    generator.send_signal(signal.SIGCONT)
    generator.communicate(timeout=60)
    assert generator.returncode == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["outcomes"]["ok"] == summary["requests"]["measured"]  # nothing lost, only late
    assert summary["audit"]["valid"] is False
    assert summary["audit"]["lag_ms"]["max"] > 900
    assert any("generator stalled" in reason for reason in summary["audit"]["reasons"])


def test_a_schedule_from_the_wrong_distribution_fails_the_sampler_audit(fast_server: str) -> None:
    """Sent faithfully, but the schedule is constant-rate while the scenario claims Poisson arrivals."""
    schedule = constant(200, 800)
    records, usage = run_open_loop(f"{fast_server}/ok", schedule, [BODY] * len(schedule), ClientConfig(), 0.0, QUIET)
    summary = summarize(records, ArrivalSpec("exponential", rate=200.0, requests=800), LoadgenParams(), usage)
    assert not summary.audit.valid
    assert any("drawn schedule does not follow" in reason for reason in summary.audit.reasons)


@pytest.mark.benchmark
def test_both_clients_measure_the_same_schedule_alike(null_server: str, timing_record: Timing) -> None:
    """Agreement: one seeded Poisson schedule (60 req/s, 6 s) against a server with a known capacity (one request
    at a time, 10 ms each: 60 % busy, so queues form and clear as in the load tests). Both clients must give the
    same outcomes, latency percentiles within 10 % + 1 ms of each other, and per-request latencies whose median
    paired difference is under 1 ms + 5 % of the median latency: the choice of client does not move a figure
    the study reports."""
    spec = ArrivalSpec("exponential", rate=60.0, duration_s=6.0, seed=21)
    schedule = draw_schedule(spec)
    runs = {client: run_open_loop(f"{null_server}/serial?ms=10", schedule, [BODY] * len(schedule),
                                  ClientConfig(client=client), 0.5, QUIET)[0] for client in CLIENTS}
    aiohttp_run, lean_run = runs["aiohttp"], runs["lean"]
    assert (aiohttp_run["outcome"] == "ok").all() and (lean_run["outcome"] == "ok").all()
    for quantile in (50, 90, 99):
        one, other = (float(np.percentile(run.loc[~run["warmup"], "latency_ms"], quantile))
                      for run in (aiohttp_run, lean_run))
        assert abs(one - other) <= 0.1 * max(one, other) + 1.0, (quantile, one, other)
    paired = (aiohttp_run["latency_ms"] - lean_run["latency_ms"]).abs()
    # 1 ms held on a quiet machine; with another process spinning on one core the scheduling jitter of two
    # separate runs grew it to 1.24 ms (percentiles still within 10 % + 1 ms): allow 5 % of the median on top.
    typical = float(aiohttp_run["latency_ms"].median())
    timing_record.figures |= {"median_latency_ms": typical, "paired_difference_median_ms": float(paired.median()),
                       "bound_ms": 1.0 + 0.05 * typical}
    assert float(paired.median()) < 1.0 + 0.05 * typical, (typical, paired.describe())


def test_merge_runs_keeps_schedule_order_and_the_busiest_process() -> None:
    frames = [pd.DataFrame({"index": [0, 2, 4], "x": [0, 2, 4]}), pd.DataFrame({"index": [1, 3], "x": [1, 3]})]
    merged, usage = merge_runs(frames, [GeneratorUsage(0.4, 0.5), GeneratorUsage(0.9, 0.1)])
    assert merged["index"].tolist() == merged["x"].tolist() == [0, 1, 2, 3, 4]
    assert usage == GeneratorUsage(0.9, 0.1)
    with pytest.raises(ValueError, match="overlap"):
        merge_runs([frames[0], frames[0]], [GeneratorUsage(0.1, None)] * 2)


def test_the_gap_audit_forgives_jitter_below_its_resolution_and_catches_distortion() -> None:
    """A faithful 4 req/s constant-rate run (every gap 250 ms, sent with ~0.1 ms of jitter) used to score 0.505
    (floored to 1 ms, 249.9 ms and 250 ms fall on different steps); bunching and stalls still score high."""
    rng = np.random.default_rng(3)
    scheduled = np.full(400, 0.250)
    sent = np.diff(np.cumsum(np.concatenate([[0.0], scheduled])) + rng.normal(0, 1e-4, 401))
    assert realised_statistic(sent, scheduled) == 0.0
    bunched = np.tile([0.010, 0.490], 200)  # pairs sent together: same mean rate, wrong traffic
    assert realised_statistic(bunched, scheduled) == pytest.approx(0.5)
    stalled = np.concatenate([scheduled[:300], [10.0], np.full(99, 0.0)])  # a 10 s stall, then a burst
    assert realised_statistic(stalled, scheduled) >= 0.24
    poisson = rng.exponential(0.25, 2000)
    assert realised_statistic(poisson + rng.normal(0, 2e-4, 2000), poisson) < 0.01
