"""loadtest stage: baseline vs optimized under one scenario, repeats interleaved, a fresh server per run.

``python -m stages.loadtest --scenario NAME``. The same seeded schedule and payloads go to both services; the
order of the arms within each repeat (a block) is drawn from ``loadtest.seed`` (A B, B A, ...), so a drift of
the machine's speed does not favour one of them. In the A/A check's scenario (``loadtest.aa``) one service runs
twice per block: its second arm is ``aa-<service>``, the same Bento on a fresh server. Every run writes its
records, summary (with the fidelity audit) and server metrics under ``<out>/<arm>/run-<k>/``; an invalid run
stays, marked with its reasons, and ``runs.json`` lists every run with its validity and the environment
fingerprint.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from stages.common.artifacts import BENTOS_JSON, CORPUS_FILE, DATASET_DIR, RUNS_INDEX, aa_arm, read_corpus
from stages.common.cli import run_stage, stage_parser
from stages.common.environment import fingerprint
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import Params, load_params
from stages.common.results import Bentos, LoadtestIndex, LoadtestRun
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import one_line, scenario_summary, write_run
from stages.reporting.plots import write_density
from stages.serving.runs import served_run

SERVER_START_ESTIMATE_S = 20.0  # model load and warm-up, for the ETA only


def run_order(arms: list[str], repeats: int, seed: int) -> list[tuple[int, str]]:
    """(repeat, arm) in run order: every repeat holds each arm once, in a seeded shuffled order."""
    rng = random.Random(seed)
    order = []
    for repeat in range(repeats):
        block = list(arms)
        rng.shuffle(block)
        order += [(repeat, arm) for arm in block]
    return order


def scenario_arms(params: Params, scenario: str) -> dict[str, str]:
    """Arm name -> the service (Bento) it serves: every service, plus the A/A arm in the A/A scenario."""
    arms = {service: service for service in params.loadtest.services}
    aa = params.loadtest.aa
    if aa.service is not None and params.loadtest.aa_scenario == scenario:
        arms[aa_arm(aa.service)] = aa.service
    return arms


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
    arms = scenario_arms(params, args.scenario)
    order = run_order(list(arms), params.loadtest.repeats, params.loadtest.seed)
    run_seconds = (scenario.duration_s or (scenario.requests or 0) / scenario.rate) + SERVER_START_ESTIMATE_S
    runs, started = [], time.monotonic()
    for position, (repeat, arm) in enumerate(order):
        eta = (len(order) - position) * run_seconds
        print(f"loadtest: {args.scenario}: run {position + 1}/{len(order)} ({arm}, repeat {repeat + 1}), "
              f"ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
        out = args.out / arm / f"run-{repeat}"
        service = arms[arm]
        served = served_run(service, bentos.services[service], Path(bentos.bentoml_home), out / "server.log", params,
                            scenario, texts, params.loadtest.warmup_requests, params.loadtest.scrape_interval_s)
        summary = scenario_summary(served.records, served.usage, args.scenario, scenario, params.loadgen)
        write_run(out, served.records, summary)
        write_density(out, served.records, arrival_spec(scenario))
        write_result(out / "server_metrics.json", served.metrics_delta)
        served.batch_timeline.to_csv(out / "batch_timeline.csv", index=False)
        runs.append(LoadtestRun(service=arm, repeat=repeat, order=position, path=str(out.relative_to(args.out)),
                                valid=summary.audit.valid, reasons=summary.audit.reasons,
                                server_ready_s=served.ready_after_s))
        print(f"loadtest: {arm} run {repeat}: {one_line(args.scenario, summary)}", file=sys.stderr, flush=True)
    write_result(args.out / RUNS_INDEX, LoadtestIndex(
        scenario=args.scenario, variants={arm: bentos.services[service].variant for arm, service in arms.items()},
        standin=bentos.standin, runs=runs, environment=fingerprint(args.params)))
    invalid = sum(not run.valid for run in runs)
    print(f"loadtest: {args.scenario}: {len(runs)} runs in {(time.monotonic() - started) / 60:.1f} min, "
          f"{invalid} invalid -> {args.out}")


if __name__ == "__main__":
    run_stage("loadtest", main)
