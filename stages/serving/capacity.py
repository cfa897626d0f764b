"""Per service, the highest Poisson arrival rate whose p99 meets the objective (the capacity stage's search).

A bracketing search (:mod:`stages.loadgen.capacity`) of short open-loop runs, each on a fresh server: a step
passes when p99 latency from the scheduled time is within ``capacity.slo_p99_ms`` and the share of failed
requests (any outcome but ok, 503 sheds and timeouts included) within ``capacity.max_error_rate``. Each step
measures exactly ``capacity.requests_per_step`` requests after its warm-up; at 459 or more with no violation the
p99 claim holds at 99 % confidence (MLPerf LoadGen's rule), and a capacity from a shorter step says it is a
bracket below the rule. A step stops sending as soon as its failure is certain (enough measured requests past
the objective that no later answer can save the p99); the step records how many it left unsent. Failed requests
are censored in the p99 (a shed 503 answered in 2 ms is not a fast
answer), and a capacity is the offered rate the passing step's seeded schedule realised, not its nominal rate.
By default the first step runs at the service's served saturation throughput from ``limits`` (an upper bound on
its capacity), which saves the slow low-rate steps of walking up from a fixed start; no step runs below
``capacity.min_rate``, where one step would take many minutes. The stage hands in how a step runs (a fresh local
server, or a cluster run sent whole).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from stages.common.cpu_steal import stolen_note
from stages.common.errors import ServebenchError, present
from stages.common.machine import probe_note
from stages.common.percentiles import min_requests
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.capacity import bracket_search
from stages.loadgen.decided import CertainFailure
from stages.loadgen.payloads import arrival_spec
from stages.params.capacity import CapacityParams
from stages.params.loadgen import ScenarioParams
from stages.records.capacity import Capacity, CapacityStep, ServiceCapacity
from stages.records.limits import Limits
from stages.serving.runs import ServedRun

logger = logging.getLogger(__name__)

P99_CLAIM_MIN_REQUESTS = min_requests(0.99, 0.99)  # MLPerf LoadGen: 459 for a p99 claim at 99 % confidence


def step_scenario(rate: float, params: CapacityParams) -> ScenarioParams:
    """An exponential run of exactly ``requests_per_step`` measured requests after ``warmup_s`` of the same rate:
    the seeded schedule is drawn once to count its warm-up arrivals (a draw's prefix does not depend on its
    length), so a step never falls short of the 459 a p99 claim needs by the luck of the warm-up."""
    spread = int(np.ceil(2 * params.warmup_s * rate)) + 20
    draft = ScenarioParams(process="exponential", rate=rate, requests=params.requests_per_step + spread,
                           warmup_s=params.warmup_s, timeout_s=params.timeout_s, seed=params.seed)
    warmup = int((draw_schedule(arrival_spec(draft)) < params.warmup_s).sum())
    return draft.model_copy(update={"requests": params.requests_per_step + warmup})


def censored_p99(measured: pd.DataFrame) -> float:
    """p99 latency from the schedule with every failed request (timeouts, errors, shed 503s answered fast)
    counted as slower than any served one, as the compare stage censors them."""
    latencies = np.where(measured["outcome"] == "ok", measured["latency_ms"].to_numpy(float), np.inf)
    return float(np.percentile(latencies, 99, method="higher")) if len(latencies) else float("inf")


def offered_rate(measured: pd.DataFrame) -> float | None:
    """Requests per second the seeded schedule realised over the measured requests (a draw is 2-5 % off nominal)."""
    span = float(measured["scheduled_s"].max() - measured["scheduled_s"].min()) if len(measured) > 1 else 0.0
    return (len(measured) - 1) / span if span > 0 else None


# One step's run at a nominal rate: a fresh server (local or in a cluster) sent the step's scenario; the
# certain-failure rule may end it early.
StepRunner = Callable[[float, ScenarioParams, CertainFailure], ServedRun]


def judge_step(rate: float, measured: pd.DataFrame, objective: CapacityParams,
               stolen: float | None = None) -> tuple[bool, CapacityStep]:
    """Pass or fail one step's measured records against the objective; a run that stopped sending (its failure
    certain) fails, and one that lost requests decides nothing."""
    lost = measured.loc[measured["outcome"] == "lost", "error"]
    if len(lost):
        raise ServebenchError(f"capacity: step at {rate:.2f}/s: {lost.iloc[0]}; a step that lost requests decides "
                              "nothing: rerun the stage")
    sent = measured[measured["outcome"] != "not_sent"]
    ok = sent[sent["outcome"] == "ok"]
    failed = len(sent) - len(ok)
    stopped = len(sent) < len(measured)
    p99 = censored_p99(measured)
    error_rate = failed / max(len(sent), 1)
    passed = not stopped and p99 <= objective.slo_p99_ms and error_rate <= objective.max_error_rate
    offered = offered_rate(measured)
    good = int((ok["latency_ms"] <= objective.slo_p99_ms).sum())
    return passed, CapacityStep(rate=rate, offered_per_s=offered, measured=len(sent), failed=failed,
                                error_rate=error_rate, p99_ms=p99 if np.isfinite(p99) else None,
                                p50_ms=float(ok["latency_ms"].median()) if len(ok) else None,
                                goodput_per_s=good * offered / len(sent) if offered and not stopped else None,
                                passed=passed, p99_claim=len(measured) >= P99_CLAIM_MIN_REQUESTS,
                                unsent=len(measured) - len(sent), cpu_stolen=stolen)


def probe(name: str, run_step: StepRunner, objective: CapacityParams, rate: float) -> tuple[bool, CapacityStep]:
    """One step of the search: a fresh server, one run at ``rate``, judged. The run stops sending once its
    failure is certain (:mod:`stages.loadgen.decided`): an overloaded step is decided in seconds instead of
    draining a backlog of timeouts."""
    certain_failure = CertainFailure(warmup_s=objective.warmup_s, bound_ms=objective.slo_p99_ms, quantile=0.99,
                                     max_error_rate=objective.max_error_rate)
    served = run_step(rate, step_scenario(rate, objective), certain_failure)
    passed, step = judge_step(rate, served.records[~served.records["warmup"]], objective, served.usage.stolen)
    step = step.model_copy(update={"machine": served.machine})
    unsent = f"fail, certain after {step.measured} of {step.measured + step.unsent}"
    verdict = unsent if step.unsent else "pass" if passed else "fail"
    logger.info(f"capacity: {name} at {rate:.2f}/s (offered {step.offered_per_s or float('nan'):.2f}/s): p99 "
                f"{step.p99_ms or float('inf'):.0f} ms, errors {step.error_rate:.1%}{stolen_note(step.cpu_stolen)}"
                f"{probe_note(step.machine)} -> {verdict}")
    return passed, step


def start_rate(name: str, params: CapacityParams, limits: Limits | None) -> float:
    """The first step's rate: fixed in params, or the service's saturation throughput measured by ``limits``."""
    if params.start_rate != "saturation":
        return params.start_rate
    if limits is None or name not in limits.services:  # limits measures the same services as capacity
        raise ServebenchError(f"capacity.start_rate: saturation needs {name!r} in the limits results (run the limits "
                              "stage), or give capacity.start_rate a rate in req/s")
    return round(present(saturation(name, limits), "the saturation throughput"), 2)


def saturation(name: str, limits: Limits | None) -> float | None:
    """The service's served saturation throughput (limits), which overload scenarios are stated against."""
    if limits is None or name not in limits.services:
        return None
    return limits.services[name].served.saturation.throughput_per_s


def find_capacity(name: str, variant: str, run_step: StepRunner, params: CapacityParams,
                  start: float) -> ServiceCapacity:
    """The bracketing search from ``start``; the capacity is the offered rate of the highest passing step."""
    found = bracket_search(lambda rate: probe(name, run_step, params, rate), start=start, growth=params.growth,
                           precision=params.precision, max_probes=params.max_steps, min_rate=params.min_rate)
    steps = [step.detail for step in found.probes]
    best = next((step for step in steps if step.passed and step.rate == found.passed), None)
    if found.passed is None:
        logger.info(f"capacity: {name} met the objective at no rate from {start:.2f} down to {steps[-1].rate:.2f} "
                    f"req/s (capacity.min_rate {params.min_rate:g})")
    return ServiceCapacity(variant=variant, start_rate=start,
                           capacity_per_s=None if best is None else best.offered_per_s or best.rate,
                           claim_holds=best is not None and best.p99_claim,
                           bracket=[found.passed, found.failed], steps=steps,
                           short_steps=sum(not step.p99_claim for step in steps))


def capacity_of(services: dict[str, ServiceCapacity], params: CapacityParams) -> Capacity:
    """Both services' capacities and the optimized / baseline ratio."""
    base, opt = (services[name].capacity_per_s if name in services else None for name in ("baseline", "optimized"))
    return Capacity(slo_p99_ms=params.slo_p99_ms, max_error_rate=params.max_error_rate, services=services,
                    ratio=opt / base if base and opt else None)
