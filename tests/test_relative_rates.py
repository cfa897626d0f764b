"""Scenario rates relative to measured capacity mean the same on a fast and a slow machine."""

from __future__ import annotations

import pytest
from helpers import REPO_ROOT

from stages.common.errors import ServebenchError
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.relative import as_offered, describe, offered_load, resolve
from stages.params.base import ParamsError, load_params, parse_params
from stages.params.file import Params
from stages.params.loadgen import RelativeRate, ScenarioParams
from stages.records.capacity import Capacity, ServiceCapacity


def capacity(baseline: float | None, optimized: float | None, saturation: float | None = 1.3) -> Capacity:
    """Capacities; each service saturates at ``saturation`` x its capacity (None: not recorded)."""
    def service(rate: float | None) -> ServiceCapacity:
        return ServiceCapacity(variant="v", start_rate=1.0, capacity_per_s=rate, bracket=[rate, None], steps=[],
                               short_steps=0, saturation_per_s=rate * saturation if rate and saturation else None)
    return Capacity(slo_p99_ms=1000, max_error_rate=0.01, services={"baseline": service(baseline),
                                                                     "optimized": service(optimized)}, ratio=None)


# The development VM's capacities (30 Nov) and a 2.5x slower machine's (issue 27).
FAST, SLOW = capacity(15.19, 91.33), capacity(3.72, 16.2)


def test_the_committed_scenarios_ask_the_same_question_on_a_fast_and_a_slow_machine() -> None:
    scenarios = load_params(Params, REPO_ROOT / "params.yaml").loadgen.scenarios
    for name in ("steady", "bursty", "high-intensity"):
        fast, slow = (resolve(name, scenarios[name], machine) for machine in (FAST, SLOW))
        assert fast.rate != slow.rate
        multiples = [offered_load(scenarios[name], resolved, machine).multiple_of_capacity["baseline"]
                     for resolved, machine in ((fast, FAST), (slow, SLOW))]
        assert multiples[0] == pytest.approx(multiples[1], rel=1e-3)
    intense = scenarios["high-intensity"]
    for machine in (FAST, SLOW):
        load = offered_load(intense, resolve("high-intensity", intense, machine), machine)
        assert load.multiple_of_capacity["baseline"] > 1 > load.multiple_of_capacity["optimized"]
        # past the baseline's saturation throughput, not only its SLO capacity: overload on every machine
        assert load.rate_per_s > (machine.services["baseline"].saturation_per_s or float("inf"))
        assert "x baseline's saturation" in describe(load)
    steady_fast = offered_load(scenarios["steady"], resolve("steady", scenarios["steady"], FAST), FAST)
    assert steady_fast.multiple_of_capacity["baseline"] < 1
    assert "0.25 x baseline's capacity" in describe(steady_fast)


def test_a_rate_on_the_saturation_throughput_needs_it_recorded() -> None:
    settings = ScenarioParams(rate=RelativeRate(of="baseline", fraction=1.5, basis="saturation"), requests=100)
    assert resolve("hot", settings, FAST).rate == pytest.approx(1.5 * 1.3 * 15.19, rel=1e-3)
    with pytest.raises(ServebenchError, match=r"hot\.rate is 1\.5 x baseline's saturation throughput.*does not"):
        resolve("hot", settings, capacity(15.19, 91.33, saturation=None))


def test_an_absolute_rate_stays_as_given_and_still_says_where_it_sits() -> None:
    settings = ScenarioParams(rate=20.0, duration_s=10)
    assert resolve("x", settings, SLOW) is settings
    load = offered_load(settings, settings, SLOW)
    assert load.relative_to is None and load.multiple_of_capacity["baseline"] == pytest.approx(20 / 3.72)


def test_a_relative_rate_without_a_measured_capacity_is_refused_by_name() -> None:
    settings = ScenarioParams(rate=RelativeRate(of="baseline", fraction=0.5), requests=100)
    with pytest.raises(ServebenchError, match=r"steady\.rate.*no capacity results"):
        resolve("steady", settings, None)
    with pytest.raises(ServebenchError, match=r"no probed rate down to capacity\.min_rate met the objective"):
        resolve("steady", settings, capacity(None, 50.0))
    with pytest.raises(ServebenchError, match="must be resolved"):
        arrival_spec(settings)
    with pytest.raises(ServebenchError, match="recorded no offered rate"):
        as_offered("steady", settings, None)
    assert as_offered("steady", settings, offered_load(settings, resolve("s", settings, FAST), FAST)).rate == 7.595


def test_relative_rates_are_checked_against_what_the_capacity_stage_measures() -> None:
    relative = {"process": "exponential", "rate": {"of": "optimized", "fraction": 0.5}, "requests": 100}
    with pytest.raises(ParamsError, match=r"loadgen.scenarios.s.rate.of = 'optimized'.*measures"):
        parse_params(Params, {"loadgen": {"scenarios": {"s": relative}},
                      "loadtest": {"scenarios": ["s"], "services": ["baseline"], "aa": {"service": None}}})
    baseline_only = {"services": ["baseline"], "aa": {"service": None}}
    for resilience in ({"scenario": "s", "near_capacity": {"faults": []}}, {"near_capacity": {"scenario": "s"}}):
        with pytest.raises(ParamsError, match=r"loadgen.scenarios.s.rate.of = 'optimized'.*measures"):
            parse_params(Params, {"loadgen": {"scenarios": {"s": relative}}, "loadtest": baseline_only,
                          "resilience": resilience})
    both = {"scenario": "s", "near_capacity": {"scenario": "s"}}
    chosen = parse_params(Params, {"loadgen": {"scenarios": {"s": relative}}, "resilience": both})
    assert chosen.resilience.scenario == "s"
    with pytest.raises(ParamsError, match=r"near_capacity.scenario = 'resilience-near-capacity'.*faults: \[\]"):
        parse_params(Params, {"loadgen": {"scenarios": {"s": relative}}, "resilience": {"scenario": "s"}})
    with pytest.raises(ParamsError, match=r"resilience.near_capacity.scenario = 'nope': must be a name under"):
        parse_params(Params, {"loadgen": {"scenarios": {"s": relative}},
                              "resilience": {"near_capacity": {"scenario": "nope"}}})
    with pytest.raises(ParamsError, match=r"cpu-stress.*strike the whole machine"):
        parse_params(Params, {"resilience": {"failover": {"faults": ["kill-server", "cpu-stress"]}}})
    with pytest.raises(ParamsError, match="trace sets its own arrival times"):
        parse_params(Params, {"loadgen": {"scenarios": {"t": {**relative, "process": "trace", "trace_file": "x.csv"}}}})
    with pytest.raises(ParamsError, match="fraction"):
        parse_params(Params, {"loadgen": {"scenarios": {"s": {**relative, "rate": {"of": "baseline", "fraction": 0}}}}})

