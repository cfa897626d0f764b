"""A rule across three sections: each served variant is one the pipeline produces and the hardware can run."""

from __future__ import annotations

from stages.params.convert import ConvertParams
from stages.params.runtime import RuntimeParams
from stages.params.serve import ServeParams


def check_servable(serve: ServeParams, convert: ConvertParams, runtime: RuntimeParams) -> None:
    """Each served variant one the pipeline will produce: its conversion enabled, half precision in PyTorch only
    where a GPU may run it (checked again against the hardware when the Bentos are built)."""
    for service in ("baseline", "optimized"):
        variant = getattr(serve, service).variant
        key = f"serve.{service}.variant = {variant!r}"
        for precision in ("fp16", "int8"):
            if variant == f"onnx-{precision}" and not getattr(convert, precision).enabled:
                raise ValueError(f"{key}: needs convert.{precision}.enabled: true (it is off)")
        if variant == "auto" and not convert.int8.enabled and runtime.providers != "cuda":
            raise ValueError(f"{key}: auto serves onnx-int8 on a CPU and convert.int8.enabled is false; set "
                             "runtime.providers: cuda (auto then serves onnx-fp16) or name a variant")
        if variant == "auto" and not convert.fp16.enabled and runtime.providers == "cuda":
            raise ValueError(f"{key}: auto serves onnx-fp16 on a GPU and convert.fp16.enabled is false; name a "
                             "variant")
        if variant == "pytorch-fp16" and runtime.providers == "cpu":
            raise ValueError(f"{key}: PyTorch FP16 runs on a CUDA GPU only and runtime.providers is cpu; "
                             "serve onnx-int8 (or auto) on a CPU")
