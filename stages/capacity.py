"""capacity stage: per service, the highest Poisson arrival rate whose p99 meets the objective.

A bracketing search (:mod:`stages.loadgen.capacity`) of short open-loop runs, each on a fresh server: a step
passes when p99 latency from the scheduled time is within ``capacity.slo_p99_ms`` and the share of failed
requests (any outcome but ok, 503 sheds and timeouts included) within ``capacity.max_error_rate``. Each step
measures ``capacity.requests_per_step`` requests after its warm-up; at 459 or more with no violation the p99
claim holds at 99 % confidence (MLPerf LoadGen's rule), and a step with fewer says so. By default the first step
runs at the service's served saturation throughput from ``limits`` (an upper bound on its capacity), which saves
the slow low-rate steps of walking up from a fixed start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LIMITS_JSON,
    RESULTS_DIR,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import CapacityParams, Params, ScenarioParams, load_params
from stages.common.results import Bentos, BuiltService, Capacity, CapacityStep, Limits, ServiceCapacity
from stages.loadgen.capacity import bracket_search
from stages.serving.runs import served_run

P99_CLAIM_MIN_REQUESTS = 459  # MLPerf LoadGen: a 99th percentile claim at 99 % confidence, zero violations


def step_scenario(rate: float, params: CapacityParams) -> ScenarioParams:
    """An exponential run of ``requests_per_step`` measured requests after ``warmup_s`` of the same rate."""
    warmup = int(np.ceil(params.warmup_s * rate))
    return ScenarioParams(process="exponential", rate=rate, requests=params.requests_per_step + warmup,
                          warmup_s=params.warmup_s, timeout_s=params.timeout_s, seed=params.seed)


def probe(name: str, built: BuiltService, home: Path, logs: Path, params: Params, texts: list[str],
          rate: float) -> tuple[bool, CapacityStep]:
    """One step of the search: a fresh server, one run at ``rate``; pass or fail against the objective."""
    served = served_run(name, built, home, logs / f"{name}-{rate:.2f}.log", params,
                        step_scenario(rate, params.capacity), texts, warmup_requests=5, scrape_interval_s=5.0)
    measured = served.records[~served.records["warmup"]]
    ok = measured[measured["outcome"] == "ok"]
    failed = len(measured) - len(ok)
    p99 = float(np.percentile(measured["latency_ms"].fillna(np.inf), 99)) if len(measured) else float("inf")
    error_rate = failed / max(len(measured), 1)
    passed = p99 <= params.capacity.slo_p99_ms and error_rate <= params.capacity.max_error_rate
    # Goodput: requests answered ok within the objective's latency bound, per second of the measured schedule.
    span = float(measured["scheduled_s"].max() - measured["scheduled_s"].min()) if len(measured) > 1 else 0.0
    good = int((ok["latency_ms"] <= params.capacity.slo_p99_ms).sum())
    print(f"capacity: {name} at {rate:.2f}/s: p99 {p99:.0f} ms, errors {error_rate:.1%} -> "
          f"{'pass' if passed else 'fail'}", file=sys.stderr, flush=True)
    return passed, CapacityStep(rate=rate, measured=len(measured), failed=failed, error_rate=error_rate,
                                p99_ms=p99 if np.isfinite(p99) else None,
                                p50_ms=float(ok["latency_ms"].median()) if len(ok) else None,
                                goodput_per_s=good / span if span > 0 else None, passed=passed,
                                p99_claim=len(measured) >= P99_CLAIM_MIN_REQUESTS)


def start_rate(name: str, params: CapacityParams, limits: Limits | None) -> float:
    """The first step's rate: fixed in params, or the service's saturation throughput measured by ``limits``."""
    if params.start_rate != "saturation":
        return params.start_rate
    if limits is None or name not in limits.services:  # limits measures the same services as capacity
        raise ServebenchError(f"capacity.start_rate: saturation needs {name!r} in {LIMITS_JSON} (run the limits "
                              "stage), or give capacity.start_rate a rate in req/s")
    return round(limits.services[name].served.saturation.throughput_per_s, 2)


def find_capacity(name: str, built: BuiltService, home: Path, logs: Path, params: Params,
                  texts: list[str], start: float) -> ServiceCapacity:
    found = bracket_search(lambda rate: probe(name, built, home, logs, params, texts, rate),
                           start=start, growth=params.capacity.growth,
                           precision=params.capacity.precision, max_probes=params.capacity.max_steps)
    return ServiceCapacity(variant=built.variant, start_rate=start, capacity_per_s=found.passed,
                           bracket=[found.passed, found.failed],
                           steps=[step.detail for step in found.probes],
                           short_steps=sum(not step.detail.p99_claim for step in found.probes))


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, limits=LIMITS_JSON,
                          logs=RESULTS_DIR / "capacity_logs", out=CAPACITY_JSON)
    args = parser.parse_args()
    params = load_params(args.params)
    bentos = read_result(args.bentos, Bentos)
    texts = read_corpus(args.dataset / CORPUS_FILE)
    limits = read_result(args.limits, Limits) if params.capacity.start_rate == "saturation" else None
    services = {name: find_capacity(name, bentos.services[name], Path(bentos.bentoml_home), args.logs, params, texts,
                                    start_rate(name, params.capacity, limits))
                for name in params.loadtest.services}
    base, opt = (services[name].capacity_per_s if name in services else None for name in ("baseline", "optimized"))
    result = Capacity(slo_p99_ms=params.capacity.slo_p99_ms, max_error_rate=params.capacity.max_error_rate,
                      services=services, ratio=opt / base if base and opt else None)
    write_result(args.out, result)
    def rate(value: float | None) -> str:
        return "none" if value is None else f"{value:.2f}"

    brackets = ", ".join(f"{name} {rate(s.capacity_per_s)} req/s (bracket {[rate(v) for v in s.bracket]})"
                         for name, s in services.items())
    ratio = "n/a" if result.ratio is None else f"{result.ratio:.2f}x"
    print(f"capacity: {brackets}; ratio {ratio} -> {args.out}")


if __name__ == "__main__":
    run_stage("capacity", main)
