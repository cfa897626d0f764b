"""Scenario rates stated relative to measured capacity, resolved to req/s before a load test sends.

A fixed 20 req/s is 1.3x the baseline's capacity on one machine and 5.4x on a machine 2.5x slower: the same
params ask a different question. ``rate: {of: baseline, fraction: 2.0}`` asks the same one everywhere; the
capacity stage's result (the highest rate whose p99 met the objective) turns it into the rate this machine
gets, and the load test records that rate and how far it sits from every service's capacity.
"""

from __future__ import annotations

from stages.common.artifacts import CAPACITY_JSON
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result
from stages.params.base import StageParams, load_params
from stages.params.loadgen import LoadgenParams, RelativeRate, ScenarioParams
from stages.params.loadtest import LoadtestParams
from stages.records.capacity import Capacity
from stages.records.load import OfferedLoad


def capacity_of(service: str, capacity: Capacity | None) -> float | None:
    """The service's capacity under the p99 objective, when it was measured and some rate passed."""
    if capacity is None or service not in capacity.services:
        return None
    return capacity.services[service].capacity_per_s


def saturation_of(service: str, capacity: Capacity | None) -> float | None:
    """The service's served saturation throughput (limits), as the capacity stage recorded it."""
    if capacity is None or service not in capacity.services:
        return None
    return capacity.services[service].saturation_per_s


def resolve(name: str, settings: ScenarioParams, capacity: Capacity | None) -> ScenarioParams:
    """The scenario with its rate in req/s: as given, or ``fraction`` x the named service's capacity (or its
    saturation throughput, ``basis: saturation``)."""
    if not isinstance(settings.rate, RelativeRate):
        return settings
    relative = settings.rate
    if relative.basis == "saturation":
        saturation = saturation_of(relative.of, capacity)
        if saturation is None:
            raise ServebenchError(f"loadgen.scenarios.{name}.rate is {relative.fraction:g} x {relative.of}'s "
                                  f"saturation throughput, which {CAPACITY_JSON} does not record: rerun `dvc repro "
                                  "capacity` (it copies it from the limits stage)")
        return settings.model_copy(update={"rate": round(relative.fraction * saturation, 3)})
    measured = capacity_of(relative.of, capacity)
    if measured is None:
        why = ("no capacity results" if capacity is None else
               f"{relative.of!r} has no measured capacity (no probed rate down to capacity.min_rate met the objective)"
               if relative.of in capacity.services else f"{relative.of!r} is not in the capacity results")
        raise ServebenchError(f"loadgen.scenarios.{name}.rate is {relative.fraction:g} x {relative.of}'s capacity, "
                              f"but {CAPACITY_JSON} has {why}: run `dvc repro capacity`, or give the rate in req/s")
    return settings.model_copy(update={"rate": round(relative.fraction * measured, 3)})


def offered_load(settings: ScenarioParams, resolved: ScenarioParams, capacity: Capacity | None) -> OfferedLoad:
    """What the load test offered, and as what multiple of each measured service's capacity."""
    if not isinstance(resolved.rate, float | int):
        raise TypeError(f"offered_load needs a resolved rate in req/s, got {resolved.rate!r}")
    relative = settings.rate if isinstance(settings.rate, RelativeRate) else None
    capacities = {service: capacity_of(service, capacity) for service in (capacity.services if capacity else {})}
    return OfferedLoad(rate_per_s=float(resolved.rate),
                       relative_to=relative.of if relative else None,
                       fraction=relative.fraction if relative else None,
                       basis=relative.basis if relative else "capacity",
                       capacity_per_s={service: value for service, value in capacities.items() if value},
                       multiple_of_capacity={service: float(resolved.rate) / value
                                             for service, value in capacities.items() if value},
                       requests_per_run=resolved.requests,
                       cut_from=settings.requests if settings.requests != resolved.requests else None)


def describe(load: OfferedLoad) -> str:
    """'4.41 req/s (0.5 x baseline's capacity; 0.50x baseline's, 0.10x optimized's capacity)'."""
    basis = f"{load.fraction:g} x {load.relative_to}'s {load.basis}; " if load.relative_to else ""
    multiples = ", ".join(f"{multiple:.2f}x {service}'s" for service, multiple in load.multiple_of_capacity.items())
    cut = (f", runs cut from {load.cut_from} to {load.requests_per_run} requests to fit the load test's budget"
           if load.cut_from else "")
    return f"{load.rate_per_s:.3g} req/s" + (f" ({basis}{multiples} capacity)" if basis or multiples else "") + cut


def as_offered(name: str, settings: ScenarioParams, offered: OfferedLoad | None) -> ScenarioParams:
    """The scenario at the rate and run size a finished load test recorded (what later stages must model, not the
    params: a rate relative to capacity, requests cut to the budget)."""
    if offered is not None:
        sized = {"requests": offered.requests_per_run} if offered.requests_per_run is not None else {}
        return settings.model_copy(update={"rate": offered.rate_per_s, **sized})
    if isinstance(settings.rate, RelativeRate):
        raise ServebenchError(f"the load test of {name!r} recorded no offered rate and its params state one "
                              "relative to capacity: rerun `dvc repro loadtest`")
    return settings


class RatesSettings(StageParams):
    loadgen: LoadgenParams = LoadgenParams()
    loadtest: LoadtestParams = LoadtestParams()


def main() -> None:
    """``python -m stages.loadgen.relative``: the rate each load-test scenario would send with these capacity
    results, and which service it puts past its capacity, without sending anything."""
    parser = stage_parser(main.__doc__, capacity=CAPACITY_JSON)
    args = parser.parse_args()
    params = load_params(RatesSettings, args.params)
    capacity = read_result(args.capacity, Capacity)
    for name in params.loadtest.scenarios:
        stated = params.loadgen.scenarios[name]
        load = offered_load(stated, resolve(name, stated, capacity), capacity)
        past = [service for service, multiple in load.multiple_of_capacity.items() if multiple > 1]
        print(f"{name}: {describe(load)}; past capacity: {', '.join(past) or 'none'}")


if __name__ == "__main__":
    run_stage("rates", main)
