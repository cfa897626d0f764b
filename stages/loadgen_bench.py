"""How fast can the load generator drive a null server without lying? And how do wrk, hey and Locust compare?

``python -m stages.loadgen_bench --out results/loadgen_bench.json``. The null server is pinned to one core and
every generator to another. servebench's open loop runs Poisson arrivals at rising rates and reports the send
lag and achieved rate at each; the highest rate meeting lag p99 <= bound and rate within tolerance is its
capacity. wrk, hey (Debian packages) and Locust (PyPI) are run closed-loop at full speed on the same core and
endpoint: their maximum request rate is the comparison.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from stages.arrivals import ArrivalSpec, draw_schedule
from stages.load_summary import summarize
from stages.loadgen import ClientLimits, run_open_loop
from stages.nullserver import start_null_server
from stages.params import LoadgenParams
from stages.server import free_port

BODY = b'{"texts": ["benchmark payload"]}'
LOCUST_USERS = ("HttpUser", "FastHttpUser")  # Locust's default client (the study's) and its faster one
LOCUSTFILE = """
from locust import {user_class}, constant, task

class Poster({user_class}):
    wait_time = constant(0)

    @task
    def post(self):
        self.client.post("/ok", data={body!r}, headers={{"Content-Type": "application/json"}})
"""


def servebench_at(url: str, rate: float, seconds: float, bounds: LoadgenParams) -> dict:
    spec = ArrivalSpec("exponential", rate=rate, duration_s=seconds, seed=int(rate))
    schedule = draw_schedule(spec)
    records, usage = run_open_loop(url, schedule, [BODY] * len(schedule), ClientLimits(max_in_flight=10_000,
                                   connections=100, timeout_s=10), warmup_s=1.0)
    summary = summarize(records, spec, bounds, usage)
    audit = summary["audit"]
    meets = (audit["lag_ms"]["p99"] is not None and audit["lag_ms"]["p99"] <= bounds.lag_p99_bound_ms
             and audit["rate_error"] is not None and audit["rate_error"] <= bounds.rate_tolerance
             and summary["outcomes"]["ok"] == summary["requests"]["measured"])
    row = {"rate": rate, "requests": len(schedule), "ok": summary["outcomes"]["ok"], "lag_ms": audit["lag_ms"],
           "achieved_rate_per_s": audit["achieved_rate_per_s"], "rate_error": audit["rate_error"],
           "generator_cpu": audit["generator_cpu"], "ks_pvalue": (audit["ks_realised_gaps"] or {}).get("pvalue"),
           "latency_ms_p99": summary["latency_ms"]["p99"], "meets_bounds": meets}
    print(f"loadgen_bench: servebench {rate:>6.0f}/s: lag p99 {audit['lag_ms']['p99']:.2f} ms, "
          f"rate error {audit['rate_error']:.2%}, cpu {usage.cpu:.0%} (spin {usage.spin:.0%}) "
          f"-> {'ok' if meets else 'out of bounds'}",
          flush=True)
    return row


def capacity_search(url: str, seconds: float, bounds: LoadgenParams, fixed: list[float]) -> dict:
    """Fixed rates first, then doubling to the first failure, then bisection between last pass and fail."""
    rows = {rate: servebench_at(url, rate, seconds, bounds) for rate in fixed}
    passed = max((r for r, row in rows.items() if row["meets_bounds"]), default=0.0)
    failed = min((r for r, row in rows.items() if not row["meets_bounds"] and r > passed), default=None)
    while failed is None:
        rate = passed * 1.5
        rows[rate] = servebench_at(url, rate, seconds, bounds)
        passed, failed = (rate, None) if rows[rate]["meets_bounds"] else (passed, rate)
    for _ in range(3):
        rate = round((passed + failed) / 2, -1)
        if rate in rows or rate <= passed:
            break
        rows[rate] = servebench_at(url, rate, seconds, bounds)
        passed, failed = (rate, failed) if rows[rate]["meets_bounds"] else (passed, rate)
    return {"max_rate_within_bounds": passed, "first_rate_out_of_bounds": failed,
            "runs": [rows[rate] for rate in sorted(rows)]}


def run_tool(name: str, command: list[str], core: int, parse: Callable[[str, Path], float | None],
             scratch: Path) -> dict:
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


def other_tools(url: str, core: int, seconds: int, connections: int) -> list[dict]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/loadgen_bench.json"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--generator-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    server = start_null_server(port, args.server_core)
    url = f"http://127.0.0.1:{port}/ok"
    try:
        os.sched_setaffinity(0, {args.generator_core})
        bounds = LoadgenParams()
        capacity = capacity_search(url, args.seconds, bounds, fixed=[100, 500, 1000, 2000])
        tools = other_tools(url, args.generator_core, int(args.seconds), connections=50)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    locust = {t["tool"]: t.get("requests_per_s") for t in tools if t["tool"].startswith("locust")}
    result = {
        "cpu_model": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), "unknown"),
        "generator_core": args.generator_core, "server_core": args.server_core, "seconds_per_run": args.seconds,
        "bounds": {"lag_p99_ms": bounds.lag_p99_bound_ms, "rate_tolerance": bounds.rate_tolerance},
        "servebench_open_loop": capacity,
        "closed_loop_tools": tools,
        "ratio_to_locust": {name: capacity["max_rate_within_bounds"] / rate for name, rate in locust.items() if rate},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"loadgen_bench: servebench open loop sustains {capacity['max_rate_within_bounds']:.0f} req/s within "
          f"bounds on one core; locust {locust} req/s -> {args.out}")


if __name__ == "__main__":
    main()
