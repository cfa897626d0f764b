"""loadtest stage: baseline vs optimized under one scenario, repeats interleaved, a fresh server per run.

``python -m stages.loadtest --scenario NAME``. The same seeded schedule and payloads go to both services; the
order of the services within each repeat is drawn from ``loadtest.seed`` (A B, B A, ...), so a drift of the
machine's speed does not favour one of them. Every run writes its records, summary (with the fidelity audit)
and server metrics under ``<out>/<service>/run-<k>/``; an invalid run stays, marked with its reasons, and
``runs.json`` lists every run with its validity and the environment fingerprint.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from stages.common.artifacts import BENTOS_JSON, CORPUS_FILE, DATASET_DIR, RUNS_INDEX, read_corpus
from stages.common.cli import run_stage, stage_parser
from stages.common.environment import fingerprint
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import load_params
from stages.common.results import Bentos, LoadtestIndex, LoadtestRun
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import one_line, scenario_summary, write_run
from stages.reporting.plots import write_density
from stages.serving.runs import served_run

SERVER_START_ESTIMATE_S = 20.0  # model load and warm-up, for the ETA only


def run_order(services: list[str], repeats: int, seed: int) -> list[tuple[int, str]]:
    """(repeat, service) in run order: every repeat holds each service once, in a seeded shuffled order."""
    rng = random.Random(seed)
    order = []
    for repeat in range(repeats):
        pair = list(services)
        rng.shuffle(pair)
        order += [(repeat, service) for service in pair]
    return order


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    if args.scenario not in params.loadgen.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} under loadgen.scenarios in {args.params}")
    scenario = params.loadgen.scenarios[args.scenario]
    if scenario.mode != "open":
        raise ServebenchError(f"scenario {args.scenario!r} is closed-loop; the experiment compares open-loop runs")
    bentos = read_result(args.bentos, Bentos)
    texts = read_corpus(args.dataset / CORPUS_FILE)
    order = run_order(params.loadtest.services, params.loadtest.repeats, params.loadtest.seed)
    run_seconds = (scenario.duration_s or (scenario.requests or 0) / scenario.rate) + SERVER_START_ESTIMATE_S
    runs, started = [], time.monotonic()
    for position, (repeat, service) in enumerate(order):
        eta = (len(order) - position) * run_seconds
        print(f"loadtest: {args.scenario}: run {position + 1}/{len(order)} ({service}, repeat {repeat + 1}), "
              f"ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
        out = args.out / service / f"run-{repeat}"
        served = served_run(service, bentos.services[service], Path(bentos.bentoml_home), out / "server.log", params,
                            scenario, texts, params.loadtest.warmup_requests, params.loadtest.scrape_interval_s)
        summary = scenario_summary(served.records, served.usage, args.scenario, scenario, params.loadgen)
        write_run(out, served.records, summary)
        write_density(out, served.records, arrival_spec(scenario))
        write_result(out / "server_metrics.json", served.metrics_delta)
        served.batch_timeline.to_csv(out / "batch_timeline.csv", index=False)
        runs.append(LoadtestRun(service=service, repeat=repeat, order=position, path=str(out.relative_to(args.out)),
                                valid=summary.audit.valid, reasons=summary.audit.reasons))
        print(f"loadtest: {service} run {repeat}: {one_line(args.scenario, summary)}", file=sys.stderr, flush=True)
    write_result(args.out / RUNS_INDEX, LoadtestIndex(
        scenario=args.scenario, variants={name: bentos.services[name].variant for name in params.loadtest.services},
        standin=bentos.standin, runs=runs, environment=fingerprint(args.params)))
    invalid = sum(not run.valid for run in runs)
    print(f"loadtest: {args.scenario}: {len(runs)} runs in {(time.monotonic() - started) / 60:.1f} min, "
          f"{invalid} invalid -> {args.out}")


if __name__ == "__main__":
    run_stage("loadtest", main)
