"""The ``loadtest`` section: baseline against optimized under each scenario, locally or on a cluster."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.params.base import PinnedImage, PositiveInt, Quantity, Section
from stages.params.loadgen import LoadgenParams, RelativeRate


class AaParams(Section):
    """The A/A check: one scenario's load tests run ``service`` a second time in every block, as arm
    ``aa-<service>``, and compare analyses it against ``service`` like any change. Identical Bentos must come out
    "equivalent" or "inconclusive"; anything else says the verdicts cannot be trusted on this machine."""

    service: Literal["baseline", "optimized"] | None = "optimized"  # null: no A/A arm
    scenario: str | None = "steady"  # a name in loadtest.scenarios (else no A/A arm runs)


class AutoRepeatsParams(Section):
    """``loadtest.repeats: auto``: after ``min_repeats`` blocks and after each further one (a look), stop when
    every primary verdict is decided (stages/stats/sequential.py), else at ``max_repeats`` or the budget. Each look
    spends alpha / looks; the targets are what every verdict must be powered for ("underpowered" below 0.5)."""

    min_repeats: Annotated[int, Field(ge=4, le=50)] = 8
    max_repeats: Annotated[int, Field(ge=4, le=200)] = 12
    budget_minutes: Annotated[float, Field(gt=0.0)] = 8.0  # per scenario, its first blocks included
    # When min_repeats blocks at a scenario's stated requests would overrun the budget (a rate relative to capacity
    # falls with a slow machine), its runs are cut to fit, to no fewer than this (stages/experiment/budget.py).
    shortest_run: Annotated[int, Field(ge=10)] | None = 30  # null: never cut
    target_p50_change: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2  # 0.2: a 20 % change of the median
    target_tail_ratio: Annotated[float, Field(gt=1.0)] = 2.0  # 2.0: the tail percentile doubles (or halves)
    target_cost_change: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1  # 0.1: CPU per request x0.9 (or x1.11)
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # family-wise level sized for (as compare.alpha)

    @model_validator(mode="after")
    def _ordered(self) -> AutoRepeatsParams:
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"max_repeats ({self.max_repeats}) must be >= min_repeats ({self.min_repeats})")
        return self


class GeneratorPodParams(Section):
    """Requests and limits of each generator pod: a generator starved of CPU sends late and fails its audit."""

    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "1"
    memory_request: Quantity = "256Mi"
    memory_limit: Quantity = "512Mi"


class ServedPodParams(Section):
    """What a cluster load-test run measures: the replicas and each one's CPU and memory. The rest of the pod
    (probes, security, port) is the k3s stage's (``k3s``), which does not move a measurement, so a ``k3s`` knob
    reruns the manifests only."""

    replicas: PositiveInt = 1
    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "2"
    memory_request: Quantity = "1Gi"
    memory_limit: Quantity = "2Gi"


class ClusterLoadParams(Section):
    """Cluster-mode load tests (stages/cluster): each run deploys the arm's image as a fresh Deployment in this
    kubectl context and namespace only, and sends the scenario from an Indexed Job of ``shards`` generator pods."""

    context: str | None = None  # kubectl context, exactly as the kubeconfig names it; cluster mode needs one
    namespace: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench"
    # The generator image (k3s/README.md: built from the project's Containerfile.loadgen, imported into K3s).
    generator_image: PinnedImage = "servebench-loadgen:0.1.0"
    shards: Annotated[int, Field(ge=1, le=64)] = 2  # generator pods: pod k sends every shards-th request from k
    start_lead_s: Annotated[float, Field(gt=0.0)] = 30.0  # pods start (and pod 0 warms up) before the common start
    rollout_timeout_s: PositiveInt = 300  # the run's Deployment ready, else the run fails
    served: ServedPodParams = ServedPodParams()
    generator: GeneratorPodParams = GeneratorPodParams()


class SwitchbackParams(Section):
    """Both arms under the same machine state: warm servers, the load alternated between them in short slots
    (stages/experiment/switchback.py). Off: a fresh server per run, one arm after the other (the study's protocol)."""

    enabled: bool = True
    # A slot's length in seconds of schedule: shorter than the time over which the machine's steal decorrelates
    # (docs/method.md measures it), long enough to hold several requests at the scenario's rate.
    slot_s: Annotated[float, Field(gt=0.0, le=600.0)] = 5.0
    # Scenarios run with a fresh server per run even so: overload leaves BentoML's batcher a learned wait that
    # would carry into the other arm's next slot.
    fresh_per_run: list[str] = []


class LoadtestParams(Section):
    """Baseline vs optimized under each scenario: repeats interleaved in a seeded order, a fresh server per run."""

    scenarios: list[str] = []
    services: Annotated[list[Literal["baseline", "optimized"]], Field(min_length=1)] = ["baseline", "optimized"]
    # Blocks: a paired comparison needs >= 2 (the A/A check 4); "auto": from auto.min_repeats until the primary
    # verdicts can detect auto's target changes, or its budget is spent.
    repeats: Annotated[int, Field(ge=2, le=50)] | Literal["auto"] = "auto"
    auto: AutoRepeatsParams = AutoRepeatsParams()
    max_reruns: Annotated[int, Field(ge=0, le=10)] = 2  # a run failing the audit is rerun in its block
    seed: int = 0  # order of the services within each repeat
    warmup_requests: Annotated[int, Field(ge=0)] = 10  # sequential, unmeasured, after /readyz
    scrape_interval_s: Annotated[float, Field(gt=0.0)] = 1.0  # /metrics during the run (batch size over time)
    aa: AaParams = AaParams()
    switchback: SwitchbackParams = SwitchbackParams()
    target: Literal["local", "cluster"] = "local"  # cluster: Deployments and generator pods (loadtest.cluster)
    cluster: ClusterLoadParams = ClusterLoadParams()

    @model_validator(mode="after")
    def _cluster_named(self) -> LoadtestParams:
        if self.target == "cluster" and not self.cluster.context:
            raise ValueError("loadtest.target is 'cluster': set loadtest.cluster.context to the kubectl context "
                             "to run in (see k3s/README.md)")
        return self

    @property
    def aa_scenario(self) -> str | None:
        """The scenario that runs the A/A arm: loadtest.aa.scenario when a service is set and the scenario is
        one of loadtest.scenarios (the report says when it is not); else None."""
        active = self.aa.service is not None and self.aa.scenario in self.scenarios
        return self.aa.scenario if active else None

    @property
    def planned_repeats(self) -> int:
        """The blocks every scenario runs at least: ``repeats``, or auto's minimum."""
        return self.auto.min_repeats if self.repeats == "auto" else self.repeats

    @property
    def most_repeats(self) -> int:
        """The blocks a scenario may run at most."""
        return self.auto.max_repeats if self.repeats == "auto" else self.repeats


def check_relative_rates(scenarios: list[str], loadgen: LoadgenParams, loadtest: LoadtestParams) -> None:
    """A rate relative to a service's capacity needs the capacity stage to measure that service (the load tests
    and the resilience stage read ``results/capacity.json``)."""
    for name in scenarios:
        rate = loadgen.scenarios[name].rate
        if isinstance(rate, RelativeRate) and rate.of not in loadtest.services:
            raise ValueError(f"loadgen.scenarios.{name}.rate.of = {rate.of!r}: the capacity stage measures "
                             f"loadtest.services {loadtest.services} only")


def check_loadtest(loadtest: LoadtestParams, loadgen: LoadgenParams) -> None:
    """Every scenario the load tests name exists under ``loadgen.scenarios``, the A/A arm is a measured service."""
    known = sorted(loadgen.scenarios)
    unknown = [name for name in loadtest.scenarios if name not in loadgen.scenarios]
    if unknown:
        raise ValueError(f"loadtest.scenarios names {unknown}, not in loadgen.scenarios ({known})")
    aa = loadtest.aa
    if aa.service is not None and aa.service not in loadtest.services:
        raise ValueError(f"loadtest.aa.service = {aa.service!r}: must be one of loadtest.services "
                         f"{loadtest.services}")
    fresh = [name for name in loadtest.switchback.fresh_per_run if name not in loadgen.scenarios]
    if fresh:
        raise ValueError(f"loadtest.switchback.fresh_per_run names {fresh}, not in loadgen.scenarios ({known})")
    check_relative_rates(loadtest.scenarios, loadgen, loadtest)
