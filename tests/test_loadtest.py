"""Which arms a scenario's load test runs, and in what order: every block holds each arm once."""

from __future__ import annotations

import pytest

from stages.common.params import ParamsError, parse_params
from stages.loadtest import run_order, scenario_arms

SCENARIOS = {"loadgen": {"scenarios": {"a": {"rate": 2.0, "duration_s": 5}, "b": {"rate": 2.0, "duration_s": 5}}}}


def params(**loadtest: object):
    return parse_params({**SCENARIOS, "loadtest": {"scenarios": ["a", "b"], **loadtest}})


def test_the_aa_scenario_serves_the_aa_service_twice() -> None:
    chosen = params(aa={"service": "optimized", "scenario": "a"})
    assert scenario_arms(chosen, "a") == {"baseline": "baseline", "optimized": "optimized",
                                          "aa-optimized": "optimized"}
    assert scenario_arms(chosen, "b") == {"baseline": "baseline", "optimized": "optimized"}


@pytest.mark.parametrize("aa", [{"service": None, "scenario": "a"}, {"service": "optimized", "scenario": "c"}])
def test_no_aa_arm_when_it_is_off_or_its_scenario_is_not_run(aa: dict) -> None:
    chosen = params(aa=aa)
    assert chosen.loadtest.aa_scenario is None
    assert all(len(scenario_arms(chosen, name)) == 2 for name in ("a", "b"))


def test_an_aa_service_that_is_not_served_is_refused() -> None:
    with pytest.raises(ParamsError, match=r"loadtest\.aa\.service = 'baseline': must be one of loadtest\.services"):
        params(services=["optimized"], aa={"service": "baseline", "scenario": "a"})


def test_every_block_runs_each_arm_once_in_a_seeded_order() -> None:
    arms = ["baseline", "optimized", "aa-optimized"]
    order = run_order(arms, repeats=6, seed=3)
    assert [repeat for repeat, _ in order] == [r for r in range(6) for _ in arms]
    blocks = [[arm for repeat, arm in order if repeat == r] for r in range(6)]
    assert all(sorted(block) == sorted(arms) for block in blocks)
    assert len({tuple(block) for block in blocks}) > 1  # the order changes between blocks
    assert run_order(arms, 6, 3) == order and run_order(arms, 6, 4) != order
