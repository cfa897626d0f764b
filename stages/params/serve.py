"""The ``serve`` section: the two BentoML services, baseline and optimized."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.params.base import Section

VariantChoice = Literal["auto", "pytorch-fp32", "pytorch-fp16", "onnx-fp32", "onnx-fp16", "onnx-int8"]


class BatchingParams(Section):
    enabled: bool = False
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] = 32
    max_latency_ms: Annotated[int, Field(ge=1, le=60_000)] = 2000
    # Cap on the wait BentoML's dispatcher learns (service/dispatcher_wait.py): without it, one saturation
    # burst leaves every later lone request waiting hundreds of ms. null: BentoML's own behaviour.
    max_wait_ms: Annotated[float, Field(ge=0.0, le=60_000)] | None = 5.0


class ServiceParams(Section):
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


class ServeParams(Section):
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

