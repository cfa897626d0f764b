"""Synthetic experiments built from the experiment's own units, with no noise model at all.

The model-based calibration (:mod:`stages.calibration.synthetic`) can only be as right as its noise model. Here each
synthetic experiment is drawn from the blocks the experiment measured: for every primary statistic, its observed
per-block log ratios, centred (the null: no change), each given a random sign (a symmetric null with the units'
own spread and tails: the randomisation distribution of a paired test; a bootstrap with replacement would repeat
units, and a block drawn n times reads as certain). The procedure's test then runs on them as the compare stage
runs it on real blocks: one Holm family of the design's size, intervals at the verdict level, a change called
when both agree. Any change called is a false one; the A/A check's units (a service against itself) give a second,
independent null.
"""

from __future__ import annotations

import numpy as np

from stages.stats.arms import tail_percentile
from stages.stats.design import Design
from stages.stats.paired import holm, t_interval
from stages.stats.samples import ArmRuns
from stages.stats.tails import effective_sample


def block_log_ratios(arms: dict[str, ArmRuns], pair: tuple[str, str], tail_confidence: float) -> list[np.ndarray]:
    """The per-block log ratios (candidate / reference) of the p50, of the tail where the runs back one, and of
    the CPU per request where it was measured."""
    blocks = sorted(set(arms[pair[0]].runs) & set(arms[pair[1]].runs)) if all(name in arms for name in pair) else []
    if len(blocks) < 2:
        return []
    runs = [[arms[name].runs[block] for block in blocks] for name in pair]
    quantiles = [0.5]
    tail = tail_percentile(int(min(effective_sample(run.latencies_ms) for side in runs for run in side)),
                           tail_confidence)
    if tail is not None:
        quantiles.append(tail[1])
    units = [np.log([np.quantile(run.latencies_ms, q) for run in runs[1]])
             - np.log([np.quantile(run.latencies_ms, q) for run in runs[0]]) for q in quantiles]
    costs = [[run.cpu_ms_per_request for run in side] for side in runs]
    if all(value is not None and value > 0 for side in costs for value in side):
        units.append(np.log(np.asarray(costs[1], float)) - np.log(np.asarray(costs[0], float)))
    return units


def resampled_false_change(units: list[np.ndarray], design: Design, trials: int, seed: int) -> float | None:
    """The share of ``trials`` sign-flipped copies of the centred ``units`` in which the design's test calls any
    change; None without units."""
    if not units:
        return None
    rng = np.random.default_rng(seed)
    centred = [values - values.mean() for values in units]
    called = 0
    for _ in range(trials):
        tests = []
        for values in centred:
            drawn = values * rng.choice([-1.0, 1.0], len(values))
            _, low, high, p_value = t_interval(drawn, 1 - design.verdict_alpha)
            tests.append((p_value, low > 0 or high < 0))
        adjusted = holm([p_value for p_value, _ in tests], design.family)
        called += any(p < design.look_alpha and outside for p, (_, outside) in zip(adjusted, tests, strict=True))
    return called / trials
