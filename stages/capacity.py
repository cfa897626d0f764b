"""capacity stage: per service, the highest Poisson arrival rate whose p99 meets the objective
(``results/capacity.json``; the search: :mod:`stages.serving.capacity`). With ``loadtest.target: cluster`` each
step is a cluster run (:mod:`stages.cluster.run`), sent whole: generator pods cannot stop one another early."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from stages.cluster.run import run_on_target
from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LIMITS_JSON,
    LOGS_DIR,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_optional_result, read_result, write_result
from stages.common.machine import Watch, watched_machine
from stages.loadgen.decided import CertainFailure
from stages.params.base import load_params
from stages.params.capacity import CapacityParams
from stages.params.loadgen import ScenarioParams
from stages.params.machine import MachineParams
from stages.records.bentos import Bentos, BuiltService
from stages.records.limits import Limits
from stages.serving.capacity import StepRunner, capacity_of, find_capacity, saturation, start_rate
from stages.serving.runs import RunSettings, RunSpec, ServedRun

WARMUP_REQUESTS = 5  # sequential, unmeasured, before each step


class Settings(RunSettings):
    capacity: CapacityParams = CapacityParams()
    machine: MachineParams = MachineParams()


def step_runner(name: str, built: BuiltService, home: Path, logs: Path, params: Settings, texts: list[str],
                watch: Watch) -> StepRunner:
    """How one step runs: a fresh local server that stops at a certain failure, or a whole cluster run; the
    machine probe read over it, so that each step records the machine state it was measured in."""

    def run(rate: float, scenario: ScenarioParams, certain_failure: CertainFailure) -> ServedRun:
        log = logs / f"{name}-{rate:.2f}.log"
        spec = RunSpec(name, built, params, "capacity", scenario, texts, WARMUP_REQUESTS, log)
        with watch.span() as span:
            served = run_on_target(spec, name, home, scrape_interval_s=5.0, stop_when=certain_failure)
        return dataclasses.replace(served, machine=span.state)

    return run


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, limits=LIMITS_JSON,
                          logs=LOGS_DIR / "capacity", out=CAPACITY_JSON)
    args = parser.parse_args()
    params = load_params(Settings, args.params)
    bentos = read_result(args.bentos, Bentos)
    texts = read_corpus(args.dataset / CORPUS_FILE)
    limits = read_optional_result(args.limits, Limits)
    home = Path(bentos.bentoml_home)
    with watched_machine(params.machine) as watch:
        result = capacity_of({name: find_capacity(
            name, bentos.services[name].variant,
            step_runner(name, bentos.services[name], home, args.logs, params, texts, watch), params.capacity,
            start_rate(name, params.capacity, limits)).model_copy(update={"saturation_per_s": saturation(name, limits)})
            for name in params.loadtest.services}, params.capacity)
    write_result(args.out, result)

    def rate(value: float | None) -> str:
        return "none" if value is None else f"{value:.2f}"

    brackets = ", ".join(f"{name} {rate(s.capacity_per_s)} req/s (bracket {[rate(v) for v in s.bracket]})"
                         for name, s in result.services.items())
    ratio = "n/a" if result.ratio is None else f"{result.ratio:.2f}x"
    print(f"capacity: {brackets}; ratio {ratio} -> {args.out}")


if __name__ == "__main__":
    run_stage("capacity", main)
