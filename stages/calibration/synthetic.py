"""Measured error rates of the compare stage: synthetic experiments with a known truth, through the user's path.

Every trial is a whole experiment: for each scenario of ``loadtest.scenarios``, as many blocks as the experiment
ran there, of both arms on the scenario's own seeded schedule, as record frames like the load generator's
(scheduled, sent and done times, outcomes, warm-up), each summarised and audited by the generator's own
:func:`stages.loadgen.summary.summarize`.
Some cases stall the generator in a share of first attempts: those fail the audit and are rerun in their block,
as the loadtest stage does. The runs are then read by :func:`stages.stats.samples.group_by_arm` (censoring,
reruns, exclusions, the schedule-window throughput) and compared by :func:`stages.stats.arms.compare_all`: one Holm
family over every scenario's primary verdicts, exactly as the compare stage.

Noise: per scenario, the variance components measured on the experiment's own runs (:func:`noise_from_runs`):
every block replays the same payloads on the same schedule, so a request costs about the same in every block (a
fixed profile); around it, a per-run level (the machine's speed drifts between runs) and each request's own
noise, autocorrelated within the run. The noisier non-overloaded arm's components serve both arms. A
heavier-tailed case draws level and request noise from Student t (3 degrees of freedom) at the same spread.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from stages.common.artifacts import aa_arm
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import OUTCOMES, GeneratorUsage
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.summary import summarize
from stages.params.compare import CompareParams
from stages.params.gate import GateParams
from stages.params.loadgen import LoadgenParams, ScenarioParams
from stages.records.load import LoadSummary, ProcessCost
from stages.records.loadtest import LoadtestIndex, LoadtestRun
from stages.stats.arms import compare_all, overload_of
from stages.stats.comparison import ComparisonDetail, ScenarioComparison
from stages.stats.design import PRIMARY, Design
from stages.stats.gate import GateResult
from stages.stats.gate import check as gate_check
from stages.stats.paired import CHANGES
from stages.stats.samples import ArmRuns, RunSample, ScenarioRuns, group_by_arm
from stages.stats.sequential import decided, look

HEAVY_TAIL_FREEDOM = 3
STALL_MS = 150.0  # a stalled generator: one send this late fails the audit's stall bound
REFERENCE, CANDIDATE = "baseline", "optimized"
SECONDARY = ("error_rate", "slo_miss")


@dataclass(frozen=True)
class Noise:
    """One scenario's runs on the log scale: a fixed profile over the schedule's requests (the same payloads at
    the same instants cost about the same in every block), a per-run level, and what is left of each request."""

    profile_ms: np.ndarray  # per measured request: its latency with the run's level and its own noise removed
    block_sd: float  # SD of a block's level, shared by its runs (the machine's speed while the block ran)
    run_sd: float  # SD of each run's own level around its block's
    within_sd: float  # SD of a request's own noise around profile and level
    autocorrelation: float  # lag-1, of that noise
    cost_ms: float | None = None  # the reference's CPU per request (None: not measured, no cost verdict)
    cost_sd: float = 0.0  # SD of a run's log CPU per request around its block's (the arms' own)

    def summary(self) -> dict[str, float]:
        return {"block_sd": self.block_sd, "run_sd": self.run_sd, "within_run_sd": self.within_sd,
                "autocorrelation": self.autocorrelation, "profile_sd": float(np.log(self.profile_ms).std()),
                "requests_per_run": float(len(self.profile_ms)), "cost_sd": self.cost_sd,
                **({"cost_ms": self.cost_ms} if self.cost_ms is not None else {})}


@dataclass(frozen=True)
class Case:
    """A known difference between the candidate and the reference, applied in every scenario."""

    description: str
    factor: float = 1.0  # every candidate latency times this
    tail_factor: float = 1.0  # candidate latencies above its run's 80th percentile times this (tail only)
    failures_per_run: int = 0  # the candidate times out this many requests per run
    cost_factor: float = 1.0  # the candidate's CPU per request times this
    heavy_tails: bool = False
    stalled_share: float = 0.0  # share of first attempts whose generator stalls (audit fails, rerun)

    @property
    def true_ratio(self) -> dict[str, float | None]:
        """The true ratio of each primary statistic, where the case fixes it."""
        plain = self.failures_per_run == 0
        return {"p50": self.factor if plain else None,
                "tail": self.factor * self.tail_factor if plain else None, "cost": self.cost_factor}


CASES = {
    "identical": Case("the same service in both arms"),
    "identical-heavy": Case("the same service, heavy-tailed noise (Student t, 3 d.f.)", heavy_tails=True),
    "identical-stalls": Case("the same service; 25 % of first attempts stall the generator and are rerun",
                             stalled_share=0.25),
    "x0.8": Case("candidate 20 % faster at every request", factor=0.8),
    "x0.5": Case("candidate twice as fast, at 0.7x the CPU per request", factor=0.5, cost_factor=0.7),
    "tail-x2": Case("candidate's slowest 20 % of requests twice as slow (a 2x tail regression)", tail_factor=2.0),
    "one-failure": Case("candidate times out one request per run", failures_per_run=1),
}


def _lag1(values: np.ndarray) -> float:
    return float(np.corrcoef(values[:-1], values[1:])[0, 1]) if len(values) > 2 and values.std() > 0 else 0.0


@dataclass(frozen=True)
class ArmComponents:
    """One arm's runs taken apart (all on one schedule): the profile is each request's mean log latency over
    the runs, a run's level its median residual, and the request noise what remains."""

    profile: np.ndarray
    levels: dict[int, float]  # by block
    within_sd: float
    autocorrelation: float
    level_sampling_var: float  # what the request noise alone gives a run's median (AR(1))


def arm_components(runs: dict[int, RunSample]) -> ArmComponents:
    logs = np.log(np.stack([run.latencies_ms for run in runs.values()]))
    blocks, requests = logs.shape
    profile = logs.mean(axis=0)
    residual = logs - profile
    levels = np.median(residual, axis=1)
    noise = (residual - levels[:, None]) * np.sqrt(blocks / (blocks - 1))
    within = float(noise.std(ddof=1))
    rho = float(np.clip(np.mean([_lag1(row) for row in noise]), 0.0, 0.95))
    sampling = np.pi / 2 * within**2 / requests * (1 + rho) / (1 - rho)
    return ArmComponents(profile, dict(zip(runs, levels.tolist(), strict=True)), within, rho, sampling)


def noise_from_runs(arms: dict[str, ArmRuns], pair: tuple[str, str], params: CompareParams) -> Noise:
    """Variance components of a scenario's ``pair`` (reference, candidate). The run levels split into a part
    the arms of a block share and one of their own, from the paired differences (a run's own part only, when
    one arm is overloaded or missing); profile and request noise are the noisier steady arm's."""
    usable = {name: arms[name].runs for name in pair if name in arms and len(arms[name].runs) >= 2}
    steady = {name: runs for name, runs in usable.items()
              if not overload_of(list(runs.values()), params).overloaded} or usable
    if not steady:
        raise ValueError(f"calibration needs runs of {' or '.join(pair)}: at least two valid runs of one arm")
    parts = {name: arm_components(runs) for name, runs in steady.items()}
    noisiest = max(parts.values(), key=lambda part: part.within_sd)
    sampling = max(part.level_sampling_var for part in parts.values())
    level_var = max(float(np.var(list(part.levels.values()), ddof=1)) for part in parts.values())
    common = sorted(set.intersection(*(set(part.levels) for part in parts.values())))
    if len(parts) == 2 and len(common) >= 2:
        reference, candidate = parts.values()
        differences = [candidate.levels[b] - reference.levels[b] for b in common]
        own = max(float(np.var(differences, ddof=1)) / 2 - sampling, 0.0)
        shared = max(level_var - own - sampling, 0.0)
    else:
        own, shared = max(level_var - sampling, 0.0), 0.0
    cost_ms, cost_sd = cost_noise(arms, pair)
    return Noise(np.exp(noisiest.profile), float(np.sqrt(shared)), float(np.sqrt(own)), noisiest.within_sd,
                 noisiest.autocorrelation, cost_ms, cost_sd)


def cost_noise(arms: dict[str, ArmRuns], pair: tuple[str, str]) -> tuple[float | None, float]:
    """The reference's median CPU per request and a run's own log-scale spread around its block (the SD of the
    per-block log ratios over sqrt 2: what the block shares cancels); (None, 0) where it was not measured."""
    if not all(name in arms for name in pair):
        return None, 0.0
    blocks = sorted(set(arms[pair[0]].runs) & set(arms[pair[1]].runs))
    costs = [[arms[name].runs[block].cpu_ms_per_request for block in blocks] for name in pair]
    if len(blocks) < 2 or any(value is None or value <= 0 for side in costs for value in side):
        return None, 0.0
    logs = np.log(np.asarray(costs, float))
    return float(np.exp(np.median(logs[0]))), float((logs[1] - logs[0]).std(ddof=1) / np.sqrt(2))


def _draws(rng: np.random.Generator, size: int | None, heavy: bool) -> np.ndarray:
    """Unit-variance noise: normal, or Student t scaled to unit variance."""
    if not heavy:
        return rng.standard_normal(size)
    return rng.standard_t(HEAVY_TAIL_FREEDOM, size) / np.sqrt(HEAVY_TAIL_FREEDOM / (HEAVY_TAIL_FREEDOM - 2))


def synthetic_latencies(rng: np.random.Generator, profile_ms: np.ndarray, block_level: float, noise: Noise,
                        heavy: bool) -> np.ndarray:
    """One run's latencies (ms): the profile, times the block's and the run's own level, times stationary AR(1)
    request noise."""
    rho = noise.autocorrelation
    level = block_level + noise.run_sd * float(_draws(rng, None, heavy))
    innovations = noise.within_sd * np.sqrt(1 - rho**2) * _draws(rng, len(profile_ms), heavy)
    start = noise.within_sd * float(_draws(rng, None, heavy))
    logs = lfilter([1.0], [1.0, -rho], innovations, zi=[rho * start])[0]
    return profile_ms * np.exp(level + logs)


def synthetic_records(schedule: np.ndarray, latencies_ms: np.ndarray, failed: np.ndarray, warmup_s: float,
                      timeout_s: float, rng: np.random.Generator, stalled: bool) -> pd.DataFrame:
    """A run as the load generator records it: sends a fraction of a millisecond late (one stalled send when
    ``stalled``), ok answers after their latency, failures at the timeout; a latency past the timeout is one too
    (a heavy-tailed draw can reach years, which no generator waits for)."""
    failed = failed | (latencies_ms / 1e3 >= timeout_s)
    lag_s = rng.exponential(0.0002, len(schedule))
    if stalled:
        lag_s[rng.integers(len(schedule) // 2, len(schedule))] = STALL_MS / 1e3
    sent = schedule + lag_s
    done = np.where(failed, schedule + timeout_s, schedule + np.maximum(latencies_ms / 1e3, lag_s + 1e-4))
    outcome = np.where(failed, OUTCOMES.index("timeout"), OUTCOMES.index("ok"))
    return pd.DataFrame({
        "index": np.arange(len(schedule)), "scheduled_s": schedule, "sent_s": sent, "done_s": done,
        "status": np.where(failed, 0, 200), "outcome": pd.Categorical.from_codes(outcome, categories=list(OUTCOMES)),  # type: ignore[call-overload]
        "latency_ms": (done - schedule) * 1e3, "service_ms": (done - sent) * 1e3, "lag_ms": lag_s * 1e3,
        "warmup": schedule < warmup_s})


@dataclass
class SyntheticScenario:
    """One scenario's settings, schedule, noise and block count, from which trials draw experiments; ``aa``:
    it runs the A/A arm too (the candidate's twin: identical to the candidate whatever the case)."""

    name: str
    settings: ScenarioParams
    noise: Noise
    schedule: np.ndarray
    blocks: int
    aa: bool = False


def synthetic_scenario(name: str, settings: ScenarioParams, noise: Noise, blocks: int = 4,
                       aa: bool = False) -> SyntheticScenario:
    return SyntheticScenario(name, settings, noise, draw_schedule(arrival_spec(settings)), blocks, aa)


def _run_latencies(case: Case, arm: str, rng: np.random.Generator, scenario: SyntheticScenario,
                   measured: np.ndarray, block_level: float) -> tuple[np.ndarray, np.ndarray]:
    profile = np.full(len(scenario.schedule), float(np.median(scenario.noise.profile_ms)))
    profile[measured] = scenario.noise.profile_ms
    latencies = synthetic_latencies(rng, profile, block_level, scenario.noise, case.heavy_tails)
    failed = np.zeros(len(latencies), bool)
    if arm != REFERENCE:  # the candidate, and its A/A twin
        latencies = latencies * case.factor
        threshold = np.quantile(latencies[measured], 0.8)
        latencies = np.where(latencies > threshold, latencies * case.tail_factor, latencies)
        if case.failures_per_run:
            failed[rng.choice(np.flatnonzero(measured), case.failures_per_run, replace=False)] = True
    return latencies, failed


class SyntheticLoadTest:
    """One scenario's synthetic load test as it grows block by block (reruns after failed audits included), as
    the loadtest stage leaves it: the index, every run's records and its audited summary."""

    def __init__(self, case: Case, scenario: SyntheticScenario, bounds: LoadgenParams, rng: np.random.Generator):
        self.case, self.scenario, self.bounds, self.rng = case, scenario, bounds, rng
        self.arms = (REFERENCE, CANDIDATE, *((aa_arm(CANDIDATE),) if scenario.aa else ()))
        self.runs: list[LoadtestRun] = []
        self.records: dict[str, pd.DataFrame] = {}
        self.summaries: dict[str, LoadSummary] = {}
        self.blocks = 0

    def add_block(self) -> None:
        settings, scenario, rng = self.scenario.settings, self.scenario, self.rng
        measured = scenario.schedule >= settings.warmup_s
        spec, usage = arrival_spec(settings), GeneratorUsage(cpu=0.05, idle_wait=0.9)
        block, self.blocks = self.blocks, self.blocks + 1
        block_level = scenario.noise.block_sd * float(_draws(rng, None, self.case.heavy_tails))
        for arm in self.arms:
            for attempt in range(3):
                latencies, failed = _run_latencies(self.case, arm, rng, scenario, measured, block_level)
                stalled = attempt == 0 and rng.random() < self.case.stalled_share
                frame = synthetic_records(scenario.schedule, latencies, failed, settings.warmup_s,
                                          settings.timeout_s, rng, stalled)
                summary = summarize(frame, spec, self.bounds, usage).model_copy(
                    update={"scenario": {"name": scenario.name, **settings.model_dump()}})
                path = f"{arm}/run-{block}" + (f"-rerun-{attempt}" if attempt else "")
                self.runs.append(LoadtestRun(service=arm, repeat=block, order=len(self.runs), path=path,
                                             valid=summary.audit.valid, reasons=summary.audit.reasons,
                                             attempt=attempt, cost=self._cost(arm, int(measured.sum()))))
                self.records[path], self.summaries[path] = frame, summary
                if summary.audit.valid:
                    break

    def _cost(self, arm: str, requests: int) -> ProcessCost | None:
        """A run's CPU per request: the reference's, times the case's factor for the candidate and its twin, with
        the run's own log-normal spread (the machine's share of it cancels within a block)."""
        noise = self.scenario.noise
        if noise.cost_ms is None:
            return None
        factor = 1.0 if arm == REFERENCE else self.case.cost_factor
        own = noise.cost_sd * float(_draws(self.rng, None, self.case.heavy_tails))
        return ProcessCost(requests=requests, cpu_ms_per_request=noise.cost_ms * factor * float(np.exp(own)))

    def read(self) -> ScenarioRuns:
        index = LoadtestIndex(scenario=self.scenario.name, variants={}, standin=True, runs=list(self.runs),
                              environment={})
        return ScenarioRuns(index, dict(self.records), dict(self.summaries))


def synthetic_load_test(case: Case, scenario: SyntheticScenario, bounds: LoadgenParams, rng: np.random.Generator
                        ) -> ScenarioRuns:
    """One scenario's synthetic load test of ``scenario.blocks`` blocks."""
    test = SyntheticLoadTest(case, scenario, bounds, rng)
    for _ in range(scenario.blocks):
        test.add_block()
    return test.read()


def synthetic_experiment(case: Case, scenario: SyntheticScenario, bounds: LoadgenParams, rng: np.random.Generator
                         ) -> dict[str, ArmRuns]:
    """One scenario's synthetic load test, read back by the compare stage's reader."""
    return group_by_arm(synthetic_load_test(case, scenario, bounds, rng))


@dataclass(frozen=True)
class Procedure:
    """What the calibration replays: the compare settings, the design (family, floor, looks), the stopping
    rule's blocks (``auto``: (first look, last look), None: every scenario's own block count) and the gate."""

    params: CompareParams
    design: Design
    auto: tuple[int, int] | None
    gate: GateParams


def sequential_arms(test: SyntheticLoadTest, procedure: Procedure) -> dict[str, ArmRuns]:
    """Blocks added as ``repeats: auto`` adds them: the first look, then one more while the verdicts are not
    decided (:mod:`stages.stats.sequential`), up to the last look; a fixed design runs the scenario's blocks."""
    first, last = procedure.auto or (test.scenario.blocks, test.scenario.blocks)
    while test.blocks < first:
        test.add_block()
    arms = group_by_arm(test.read())
    while test.blocks < last and not decided(look(arms, procedure.params, procedure.design))[0]:
        test.add_block()
        arms = group_by_arm(test.read())
    return arms


@dataclass(frozen=True)
class CaseResult:
    """Shares of trials per verdict (per statistic and scenario), the share of trials with any change called
    among the primary verdicts (joint), CI coverage of the true ratio (per interval, and of every interval of a
    trial at once), mean factor detected, the share of runs the audit excluded, the A/A check's false changes,
    the gate's failures, overload calls, and the mean blocks the stopping rule ran."""

    verdicts: dict[str, dict[str, dict[str, float]]]
    joint_change: float
    coverage: dict[str, dict[str, float | None]]
    mde: dict[str, dict[str, float | None]]
    excluded_share: float
    simultaneous_coverage: float | None = None
    aa_change: float | None = None
    gate_failed: float = 0.0
    overload_called: float = 0.0
    blocks: dict[str, float] | None = None


class Tally:
    """What a case's trials said, counted as they come (see :class:`CaseResult`)."""

    def __init__(self, names: list[str], case: Case):
        self.case, self.names, self.trials = case, names, 0
        self.counts = {name: {stat: Counter[str]() for stat in (*PRIMARY, *SECONDARY)} for name in names}
        self.covered, self.estimated = Counter[tuple[str, str]](), Counter[tuple[str, str]]()
        self.mdes: dict[tuple[str, str], list[float]] = {}
        self.blocks: dict[str, list[int]] = {name: [] for name in names}
        self.joint = self.all_covered = self.with_truth = self.aa_change = self.aa_trials = 0
        self.gate_failed = self.overloaded = self.excluded = self.total_runs = 0

    def add(self, arms: dict[str, dict[str, ArmRuns]], results: dict[str, ScenarioComparison],
            aa: ScenarioComparison | None, gate: GateResult) -> None:
        self.trials += 1
        self.excluded += sum(len(arm.excluded) for runs in arms.values() for arm in runs.values())
        self.total_runs += sum(len(arm.runs) + len(arm.excluded) for runs in arms.values() for arm in runs.values())
        changed, every_covered, any_truth = False, True, False
        for name, result in results.items():
            self.blocks[name].append(len(result.blocks))
            for stat_name, stat in result.statistics().items():
                if stat_name not in self.counts[name]:
                    continue
                word = stat.verdict
                self.counts[name][stat_name][word] += 1
                if stat_name not in PRIMARY:
                    continue
                changed |= word in CHANGES
                truth = self.case.true_ratio[stat_name]
                if stat.mde_factor is not None:
                    self.mdes.setdefault((name, stat_name), []).append(stat.mde_factor)
                if truth is not None and stat.ratio is not None:
                    inside = stat.ratio.low <= truth <= stat.ratio.high
                    self.estimated[name, stat_name] += 1
                    self.covered[name, stat_name] += inside
                    every_covered &= inside
                    any_truth = True
        self.joint += changed
        self.with_truth += any_truth
        self.all_covered += any_truth and every_covered
        if aa is not None:
            self.aa_trials += 1
            self.aa_change += any(stat.verdict in CHANGES for stat in (aa.primary or {}).values())
        self.gate_failed += not gate.passed
        self.overloaded += any(state.overloaded for result in (*results.values(), *([aa] if aa else []))
                               for state in (result.overload or {}).values())

    def result(self) -> CaseResult:
        trials, names = self.trials, self.names
        return CaseResult(
            verdicts={name: {stat: {word: n / trials for word, n in sorted(tally.items())}
                             for stat, tally in by_stat.items()} for name, by_stat in self.counts.items()},
            joint_change=self.joint / trials,
            coverage={name: {stat: self.covered[name, stat] / self.estimated[name, stat]
                             if self.estimated[name, stat] else None for stat in PRIMARY} for name in names},
            mde={name: {stat: float(np.mean(self.mdes[name, stat])) if self.mdes.get((name, stat)) else None
                        for stat in PRIMARY} for name in names},
            excluded_share=self.excluded / max(self.total_runs, 1),
            simultaneous_coverage=self.all_covered / self.with_truth if self.with_truth else None,
            aa_change=self.aa_change / self.aa_trials if self.aa_trials else None,
            gate_failed=self.gate_failed / trials, overload_called=self.overloaded / trials,
            blocks={name: float(np.mean(values)) for name, values in self.blocks.items()})


def run_case(case: Case, scenarios: list[SyntheticScenario], procedure: Procedure, bounds: LoadgenParams,
             trials: int, seed: int) -> CaseResult:
    """``trials`` seeded synthetic experiments of one case through the compare stage's own functions: each
    scenario's blocks as the stopping rule adds them, one Holm family over every scenario, the A/A check where a
    scenario runs it, and the gate on the result (its capacity condition aside: capacity is not simulated)."""
    rng = np.random.default_rng(seed)
    tally = Tally([scenario.name for scenario in scenarios], case)
    aa_scenario = next((scenario.name for scenario in scenarios if scenario.aa), None)
    aa_pair = (CANDIDATE, aa_scenario) if aa_scenario else None
    gate_params = procedure.gate.model_copy(update={"min_capacity_ratio": None})
    for _ in range(trials):
        arms = {scenario.name: sequential_arms(SyntheticLoadTest(case, scenario, bounds, rng), procedure)
                for scenario in scenarios}
        results, aa = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, procedure.params, procedure.design,
                                  pooled_p99=False)
        detail = ComparisonDetail(scenarios=results, aa=aa, aa_scenario=aa_scenario, capacity=None, params={})
        tally.add(arms, results, aa, gate_check(detail, gate_params))
    return tally.result()


def monte_carlo_error(rate: float, trials: int) -> float:
    """Half-width of a 95 % normal interval of a rate estimated from ``trials`` trials."""
    return float(1.96 * np.sqrt(rate * (1 - rate) / trials))
