"""How fast can the load generator drive a server without lying? And how do wrk, hey and Locust compare?

``python -m stages.loadgen.bench --out results/loadgen_bench.json``. The protocol-level null server
(:mod:`stages.loadgen.nullserver` ``--fast``) is pinned to one core and every generator to another; the
server's own CPU share is recorded at each rate, so a reader can check that it was not the bottleneck.
servebench's open loop runs Poisson arrivals at fixed rates and then a bracketing search for the highest rate
whose run passes the generator's own fidelity audit (the ceiling), through each HTTP client (aiohttp, the
stages' default, and the lean transport), with one process and, for the lean client, ``--processes 2``. An
agreement run sends one seeded schedule through both clients to the test server's ``/serial`` route (a server
with a known capacity) and records each client's latency percentiles.
wrk, hey (Debian packages) and Locust (PyPI) run closed-loop at full speed on the same core and endpoint: their
maximum request rate is the comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml

from stages.common.cli import run_stage
from stages.common.environment import cpu_model
from stages.common.io import write_result
from stages.common.net import free_port
from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.capacity import bracket_search
from stages.loadgen.client import ClientConfig, GeneratorUsage, SendOptions, run_open_loop
from stages.loadgen.nullserver import start_null_server
from stages.loadgen.pools import CLIENTS
from stages.loadgen.shards import run_shards
from stages.loadgen.summary import summarize
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.records.bench import LoadgenBench

BODY = b'{"texts": ["benchmark payload"]}'
FIXED_RATES = (200, 1000, 2000, 3500, 5000, 7000, 10000)  # the table's rates, as in the issue that asked
WARMUP_S = 1.0
QUIET = SendOptions(progress_every_s=None)  # no progress lines: the benchmark prints its own
CLIENT = ClientConfig(max_in_flight=10_000, connections=100, timeout_s=10)
AGREEMENT = ArrivalSpec("exponential", rate=60.0, duration_s=20.0, seed=21)  # 60 % of /serial?ms=10's capacity
LOCUST_USERS = ("HttpUser", "FastHttpUser")  # Locust's default client (the study's) and its faster one
LOCUSTFILE = """
from locust import {user_class}, constant, task

class Poster({user_class}):
    wait_time = constant(0)

    @task
    def post(self):
        self.client.post("/ok", data={body!r}, headers={{"Content-Type": "application/json"}})
"""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (psutil, as the servers' cost is read)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


class Bench:
    """One null server and the rates driven against it; every open-loop run becomes a table row."""

    def __init__(self, url: str, server_pid: int, seconds: float, bounds: LoadgenParams, client: str) -> None:
        self.url, self.server_pid, self.seconds, self.bounds, self.client = url, server_pid, seconds, bounds, client

    def _row(self, rate: float, processes: int, records: pd.DataFrame, usage: GeneratorUsage, spec: ArrivalSpec,
             server_cpu: float) -> dict[str, Any]:
        summary = summarize(records, spec, self.bounds, usage)
        audit = summary.audit
        passed = audit.valid and summary.outcomes["ok"] == summary.requests.measured
        print(f"loadgen_bench: {self.client}, {processes} process(es) {rate:>7.0f}/s: "
              f"achieved {audit.achieved_rate_per_s:.0f}/s, "
              f"lag p99 {audit.lag_ms.p99:.2f} ms, max {audit.lag_ms.max:.1f} ms, "
              f"latency p99 {summary.latency_ms.p99 or float('nan'):.2f} ms, generator CPU {usage.cpu:.0%}, "
              f"server CPU {server_cpu:.0%} -> {'pass' if passed else 'FAIL: ' + '; '.join(audit.reasons)}",
              flush=True)
        return {"client": self.client, "rate": rate, "processes": processes, "requests": summary.requests.scheduled,
                "ok": summary.outcomes["ok"], "achieved_rate_per_s": audit.achieved_rate_per_s,
                "rate_error": audit.rate_error, "lag_ms": audit.lag_ms.model_dump(),
                # Against a server that answers in microseconds, latency is the client's own work and queueing.
                "latency_ms": {"p50": summary.latency_ms.p50, "p99": summary.latency_ms.p99},
                "gap_ks_distance": audit.realised_gap_fit.statistic if audit.realised_gap_fit else None,
                "generator_cpu": usage.cpu, "server_cpu": server_cpu, "passes_audit": passed,
                "reasons": audit.reasons}

    def one_process(self, rate: float) -> tuple[bool, dict[str, Any]]:
        spec = ArrivalSpec("exponential", rate=rate, duration_s=self.seconds, seed=int(rate))
        schedule = draw_schedule(spec)
        before = process_cpu_seconds(self.server_pid)
        config = ClientConfig(CLIENT.max_in_flight, CLIENT.connections, CLIENT.timeout_s, self.client)
        records, usage = run_open_loop(self.url, schedule, [BODY] * len(schedule), config, WARMUP_S, QUIET)
        server_cpu = (process_cpu_seconds(self.server_pid) - before) / (schedule[-1] + 0.5)
        row = self._row(rate, 1, records, usage, spec, server_cpu)
        return row["passes_audit"], row

    def sharded(self, rate: float, processes: int, scratch: Path) -> tuple[bool, dict[str, Any]]:
        """The same run from ``processes`` generator processes (this package's CLI) sharing one schedule."""
        scenario = ScenarioParams(rate=rate, duration_s=self.seconds, warmup_s=WARMUP_S, seed=int(rate),
                                  max_in_flight=CLIENT.max_in_flight, connections=CLIENT.connections,
                                  timeout_s=CLIENT.timeout_s)
        bounds = self.bounds.model_copy(update={"scenarios": {"bench": scenario}, "client": self.client})
        params = scratch / "params.yaml"
        params.write_text(yaml.safe_dump({"loadgen": bounds.model_dump()}))
        corpus = scratch / "corpus.txt"
        corpus.write_text("benchmark payload\n")
        before = process_cpu_seconds(self.server_pid)
        pinned = os.sched_getaffinity(0)
        os.sched_setaffinity(0, range(os.cpu_count() or 1))  # the shards inherit it: one core each if there are
        try:
            records, usage = run_shards(self.url, "bench", params, corpus, scratch / f"run-{rate:.0f}", processes)
        finally:
            os.sched_setaffinity(0, pinned)
        server_cpu = (process_cpu_seconds(self.server_pid) - before) / (self.seconds + 2.5)
        row = self._row(rate, processes, records, usage, ArrivalSpec("exponential", rate=rate), server_cpu)
        return row["passes_audit"], row


def run_tool(name: str, command: list[str], core: int, parse: Callable[[str, Path], float | None],
             scratch: Path) -> dict[str, Any]:
    """Run a closed-loop tool at full speed, pinned to the generator core; parse its requests per second."""
    if shutil.which(command[0]) is None:
        return {"tool": name, "available": False, "note": f"{command[0]} not installed"}
    pinned = ["taskset", "-c", str(core), *command]
    result = subprocess.run(pinned, capture_output=True, text=True, cwd=scratch, timeout=180, check=False)
    rate = parse(result.stdout + result.stderr, scratch)
    print(f"loadgen_bench: {name}: {rate} req/s", flush=True)
    return {"tool": name, "available": True, "requests_per_s": rate, "command": " ".join(pinned),
            "exit_code": result.returncode}


def requests_per_sec_line(output: str, _: Path) -> float | None:
    """wrk and hey both print ``Requests/sec: N``."""
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(match.group(1)) if match else None


def locust_csv_rate(_: str, scratch: Path, prefix: str) -> float | None:
    stats = scratch / f"{prefix}_stats.csv"
    if not stats.is_file():
        return None
    frame = pd.read_csv(stats)
    return float(frame.loc[frame["Name"] == "Aggregated", "Requests/s"].iloc[0])


def other_tools(url: str, core: int, seconds: int, connections: int) -> list[dict[str, Any]]:
    scratch = Path(tempfile.mkdtemp())
    (scratch / "post.lua").write_text(
        f"wrk.method = 'POST'\nwrk.body = '{BODY.decode()}'\nwrk.headers['Content-Type'] = 'application/json'\n"
    )
    for user_class in LOCUST_USERS:
        (scratch / f"locust_{user_class}.py").write_text(LOCUSTFILE.format(user_class=user_class, body=BODY.decode()))
    locust = str(Path(sys.executable).with_name("locust"))
    tools = [
        ("wrk", ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", "post.lua", url], requests_per_sec_line),
        ("hey", ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST", "-T", "application/json",
                 "-d", BODY.decode(), url], requests_per_sec_line),
    ] + [
        (f"locust ({user_class}, 1 process)",
         [locust, "-f", f"locust_{user_class}.py", "--headless", "-u", str(connections), "-r", str(connections),
          "-t", f"{seconds}s", "--host", url.rsplit("/", 1)[0], "--only-summary", "--csv", user_class],
         functools.partial(locust_csv_rate, prefix=user_class))
        for user_class in LOCUST_USERS
    ]
    return [run_tool(name, command, core, parse, scratch) for name, command, parse in tools]


def ceiling(probe: Callable[[float], tuple[bool, dict[str, Any]]], start: float) -> dict[str, Any]:
    found = bracket_search(probe, start=start, growth=1.5, precision=0.05, max_probes=8)
    return {"max_rate_passing_audit": found.passed, "first_rate_failing": found.failed,
            "runs": [p.detail for p in found.probes]}


def client_agreement(scratch: Path) -> dict[str, Any]:
    """One seeded schedule through each client against the test server's ``/serial?ms=10`` route (60 % busy):
    the same outcomes and latency percentiles are expected whichever client measured them."""
    port = free_port()
    server = start_null_server(port)
    url = f"http://127.0.0.1:{port}/serial?ms=10"
    schedule = draw_schedule(AGREEMENT)
    per_client: dict[str, dict[str, Any]] = {}
    try:
        for client in CLIENTS:
            config = ClientConfig(CLIENT.max_in_flight, CLIENT.connections, CLIENT.timeout_s, client)
            records, usage = run_open_loop(url, schedule, [BODY] * len(schedule), config, WARMUP_S, QUIET)
            summary = summarize(records, AGREEMENT, LoadgenParams(), usage)
            per_client[client] = {"outcomes": summary.outcomes, "latency_ms": summary.latency_ms.model_dump(),
                                  "lag_ms": summary.audit.lag_ms.model_dump(), "audit_valid": summary.audit.valid}
            records.to_parquet(scratch / f"agreement-{client}.parquet")
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    print("loadgen_bench: agreement on /serial?ms=10 at 60/s: " + "; ".join(
        f"{client} p50 {row['latency_ms']['p50']:.2f} ms, p99 {row['latency_ms']['p99']:.2f} ms"
        for client, row in per_client.items()), flush=True)
    return {"spec": dataclasses.asdict(AGREEMENT), "server": "stages.loadgen.nullserver /serial?ms=10",
            "clients": per_client}


def client_ceilings(bench: Bench) -> dict[str, Any]:
    """The fixed-rate table, then the audited ceiling from the best passing rate, for one client."""
    table = [bench.one_process(rate)[1] for rate in FIXED_RATES]
    best = max((row["rate"] for row in table if row["passes_audit"]), default=FIXED_RATES[0])
    return {"open_loop_table": table, "ceiling_1_process": ceiling(bench.one_process, best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/loadgen_bench.json"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--generator-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    server = start_null_server(port, args.server_core, fast=True)
    url = f"http://127.0.0.1:{port}/ok"
    scratch = Path(tempfile.mkdtemp())
    bounds = LoadgenParams()
    try:
        os.sched_setaffinity(0, {args.generator_core})
        clients = {client: client_ceilings(Bench(url, server.pid, args.seconds, bounds, client))
                   for client in CLIENTS}
        single = clients["lean"]["ceiling_1_process"]
        # Two processes need two cores besides the server's: on a 2-core machine they share the server's core.
        lean = Bench(url, server.pid, args.seconds, bounds, "lean")
        double = ceiling(lambda rate: lean.sharded(rate, 2, scratch), single["max_rate_passing_audit"] or 1000)
        tools = other_tools(url, args.generator_core, int(args.seconds), connections=50)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    agreement = client_agreement(scratch)
    locust = {t["tool"]: t.get("requests_per_s") for t in tools if t["tool"].startswith("locust")}
    top = single["max_rate_passing_audit"] or 0.0
    result = LoadgenBench.model_validate({
        "cpu_model": cpu_model(), "generator_core": args.generator_core, "server_core": args.server_core,
        "server": "stages.loadgen.nullserver --fast (asyncio protocol, no framework)",
        "seconds_per_run": args.seconds,
        "audit_bounds": bounds.model_dump(exclude={"scenarios", "processes", "client"}),
        "clients": clients,
        "ceiling_2_processes_lean": double,
        "client_agreement": agreement,
        "closed_loop_tools": tools,
        "ratio_to_locust": {name: top / rate for name, rate in locust.items() if rate},
    })
    write_result(args.out, result)
    aiohttp_top = clients["aiohttp"]["ceiling_1_process"]["max_rate_passing_audit"] or 0.0
    print(f"loadgen_bench: one process passes its audit up to {top:.0f} req/s (lean), {aiohttp_top:.0f} req/s "
          f"(aiohttp); two lean processes up to "
          f"{double['max_rate_passing_audit'] or 0:.0f} req/s; closed-loop maxima "
          f"{ {t['tool']: t.get('requests_per_s') for t in tools} } -> {args.out}")


if __name__ == "__main__":
    run_stage("loadgen_bench", main)
