"""Run one load scenario against a URL: ``python -m stages.loadrun --url URL --scenario NAME --out DIR``.

Writes ``records.parquet`` (one row per scheduled request), ``summary.json`` (outcomes, rates, latency
percentiles, fidelity audit) and ``interarrival.csv``/``.png`` (realised vs target gap density). With
``--processes N`` the schedule is shared by N generator processes, each sending every N-th request from one
common start instant; their records merge into one run. Works against any HTTP JSON endpoint.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stages.arrivals import ArrivalSpec, density_curves, draw_schedule
from stages.cli import run_stage
from stages.dataset import read_corpus
from stages.errors import ServebenchError
from stages.load_summary import summarize
from stages.loadgen import ClientLimits, GeneratorUsage, run_closed_loop, run_open_loop
from stages.params import LoadgenParams, ScenarioParams, load_params

SHARD_START_LEAD_S = 2.0  # time for shard processes to import and connect before the common start


def arrival_spec(scenario: ScenarioParams) -> ArrivalSpec:
    return ArrivalSpec(process=scenario.process, rate=scenario.rate, shape=scenario.shape,
                       requests=scenario.requests, duration_s=scenario.duration_s, trace_file=scenario.trace_file,
                       seed=scenario.seed)


def request_bodies(texts: list[str], count: int, texts_per_request: int, seed: int) -> list[bytes]:
    """Seeded payloads ``{"texts": [...]}``, encoded up front so the send loop does no JSON work."""
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, len(texts), size=(count, texts_per_request))
    return [json.dumps({"texts": [texts[i] for i in row]}).encode() for row in picks]


def run_shards(args: argparse.Namespace, processes: int) -> tuple[pd.DataFrame, GeneratorUsage]:
    """Start ``processes`` copies of this CLI on one schedule and merge their records."""
    start_at = time.time() + SHARD_START_LEAD_S
    shard_dirs = [args.out / f"shard-{k}" for k in range(processes)]
    base = [sys.executable, "-m", "stages.loadrun", "--url", args.url, "--scenario", args.scenario,
            "--params", str(args.params), "--corpus", str(args.corpus), "--start-at", repr(start_at)]
    children = [subprocess.Popen([*base, "--shard", f"{k}/{processes}", "--out", str(shard_dirs[k])])
                for k in range(processes)]
    if any(child.wait() != 0 for child in children):
        raise ServebenchError("a generator shard failed; see its output above")
    frames = [pd.read_parquet(d / "records.parquet") for d in shard_dirs]
    usages = [json.loads((d / "summary.json").read_text())["audit"]["generator_cpu"] for d in shard_dirs]
    busiest = max(usages, key=lambda usage: usage["busy"])
    merged = pd.concat(frames).sort_values("index", kind="stable").reset_index(drop=True)
    return merged, GeneratorUsage(busiest["total"], busiest["deadline_spin"])


def write_density(out: Path, records: pd.DataFrame, spec: ArrivalSpec) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sent = np.sort(records["sent_s"].dropna().to_numpy())
    curves = density_curves(np.diff(sent), spec)
    pd.DataFrame(curves).to_csv(out / "interarrival.csv", index=False)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(curves["gap_s"], curves["realised_density"], label="realised (KDE of send gaps)")
    axis.plot(curves["gap_s"], curves["target_density"], "--", label=f"target {spec.process}")
    axis.set(xlabel="inter-arrival time (s)", ylabel="density", title=f"{spec.process}, rate {spec.rate}/s")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "interarrival.png", dpi=100)
    plt.close(figure)


def run_scenario(args: argparse.Namespace, bounds: LoadgenParams, scenario: ScenarioParams) -> dict:
    spec = arrival_spec(scenario)
    limits = ClientLimits(scenario.max_in_flight, scenario.connections, scenario.timeout_s)
    texts = read_corpus(args.corpus)
    args.out.mkdir(parents=True, exist_ok=True)
    shard_index, shard_count = (int(part) for part in args.shard.split("/"))
    processes = args.processes or bounds.processes
    if scenario.mode == "closed":
        count = scenario.requests or 200_000  # a pool the users draw from until the duration ends
        bodies = request_bodies(texts, count, scenario.texts_per_request, scenario.seed)
        records, usage = run_closed_loop(args.url, bodies, scenario.users, scenario.think_time_s,
                                         scenario.duration_s, limits, scenario.warmup_s, scenario.seed)
    elif processes > 1 and args.start_at is None:
        records, usage = run_shards(args, processes)
    else:
        schedule = draw_schedule(spec)
        bodies = request_bodies(texts, len(schedule), scenario.texts_per_request, scenario.seed)
        print(f"loadrun: {len(schedule) // shard_count} requests over {schedule[-1]:.1f} s "
              f"({spec.process}, {spec.rate}/s) -> {args.url}", file=sys.stderr, flush=True)
        records, usage = run_open_loop(args.url, schedule, bodies, limits, scenario.warmup_s,
                                       (shard_index, shard_count), args.start_at)
    summary = summarize(records, spec, bounds, usage, open_loop=scenario.mode == "open")
    summary["scenario"] = {"name": args.scenario, **scenario.model_dump()}
    records.to_parquet(args.out / "records.parquet", index=False)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if scenario.mode == "open" and args.start_at is None:
        write_density(args.out, records, spec)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="endpoint receiving POSTed JSON bodies")
    parser.add_argument("--scenario", required=True, help="name under loadgen.scenarios in params.yaml")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--corpus", type=Path, default=Path("data/dataset/corpus.jsonl"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--processes", type=int, help="generator processes sharing the schedule")
    parser.add_argument("--shard", default="0/1", help="k/n: send every n-th request starting at k")
    parser.add_argument("--start-at", type=float, help="common start (unix time) of sharded processes")
    args = parser.parse_args()
    bounds = load_params(args.params).loadgen
    if args.scenario not in bounds.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} in {args.params}; have {sorted(bounds.scenarios)}")
    summary = run_scenario(args, bounds, bounds.scenarios[args.scenario])
    latency, audit = summary["latency_ms"], summary["audit"]
    p50 = f"{latency['p50']:.1f}" if latency["p50"] is not None else "n/a"
    p99 = f"{latency['p99']:.1f}" if latency["p99"] is not None else "n/a"
    print(f"loadrun: {args.scenario}: {summary['outcomes']['ok']}/{summary['requests']['measured']} ok, "
          f"p50 {p50} ms, p99 {p99} ms, lag p99 {audit['lag_ms']['p99']}, "
          f"{'valid' if audit['valid'] else 'INVALID: ' + '; '.join(audit['reasons'])} -> {args.out}")


if __name__ == "__main__":
    run_stage("loadrun", main)
