"""The ``loadgen`` section: the generator's fidelity bounds and the named workloads (scenarios)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from stages.params.base import PositiveInt, Section


class RelativeRate(Section):
    """A rate stated as a share of a service's measured capacity (``results/capacity.json``), so that a scenario
    asks the same question on a fast and a slow machine; the load test resolves it to req/s before it sends and
    records the rate it used (:mod:`stages.loadgen.relative`)."""

    of: Literal["baseline", "optimized"]
    fraction: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)]
    # capacity: the highest rate meeting the p99 objective (the capacity stage); saturation: the service's
    # saturation throughput (the limits stage, recorded by the capacity stage). An overload scenario is stated
    # against saturation, so that it is past the knee on every machine, not at it.
    basis: Literal["capacity", "saturation"] = "capacity"


def _rate_kind(value: Any) -> str:
    return "relative" if isinstance(value, dict | RelativeRate) else "absolute"


# A mapping is a relative rate, anything else a number: errors then name the one form the user meant.
Rate = Annotated[Annotated[Annotated[float, Field(gt=0.0, allow_inf_nan=False)], Tag("absolute")]
                 | Annotated[RelativeRate, Tag("relative")], Discriminator(_rate_kind)]


class ScenarioParams(Section):
    """One workload: arrival process, size, payload and client limits."""

    process: Literal["exponential", "gamma", "constant", "trace"] = "exponential"
    # req/s, or {of: baseline|optimized, fraction: f}: f x that service's capacity under the p99 objective
    rate: Rate = 1.0
    shape: Annotated[float, Field(gt=0.0)] = 1.0
    trace_file: str | None = None
    duration_s: Annotated[float, Field(gt=0.0)] | None = None
    requests: PositiveInt | None = None
    warmup_s: Annotated[float, Field(ge=0.0)] = 0.0
    texts_per_request: PositiveInt = 1
    timeout_s: Annotated[float, Field(gt=0.0)] = 30.0
    max_in_flight: PositiveInt = 2000
    connections: PositiveInt = 200
    mode: Literal["open", "closed"] = "open"
    users: PositiveInt = 1
    think_time_s: Annotated[float, Field(ge=0.0)] = 2.0
    seed: int = 0

    @model_validator(mode="after")
    def _sized(self) -> ScenarioParams:
        if (self.duration_s is None) == (self.requests is None) and self.process != "trace":
            raise ValueError("give exactly one of duration_s and requests")
        if self.process == "trace" and not self.trace_file:
            raise ValueError("process 'trace' needs trace_file")
        if isinstance(self.rate, RelativeRate) and self.process == "trace":
            raise ValueError("a trace sets its own arrival times: a rate relative to capacity means nothing there")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise ValueError(f"warmup_s ({self.warmup_s:g}) must be shorter than duration_s ({self.duration_s:g}): "
                             "every request of the run would be warm-up, none measured")
        return self


class LoadgenParams(Section):
    """Fidelity bounds of the load generator (docs/method.md, "Fidelity audit"), and the named scenarios."""

    # Send lag (at the highest percentile the run's sends back at lag_confidence) may reach the larger of an
    # absolute bound and a share of the schedule's mean gap: the bounds depend on the arrival process only, never
    # on the measured service, so both arms of a block are judged alike.
    lag_bound_ms: Annotated[float, Field(gt=0.0)] = 2.0
    lag_gap_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    lag_confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.99
    lag_max_bound_ms: Annotated[float, Field(gt=0.0)] = 100.0  # one send this late means the generator stalled
    rate_tolerance: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    sampler_alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.001  # KS test of the drawn schedule vs target
    max_gap_ks_distance: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05  # realised vs scheduled gaps ...
    gap_resolution_ms: Annotated[float, Field(gt=0.0)] = 1.0  # ... both floored to this resolution
    processes: PositiveInt = 1
    # Which HTTP client sends (stages/loadgen/pools.py): aiohttp's ClientSession, or the lean transport that
    # holds schedules of thousands of requests/s (results/loadgen_bench.json has both ceilings).
    client: Literal["aiohttp", "lean"] = "aiohttp"
    scenarios: dict[str, ScenarioParams] = {}
