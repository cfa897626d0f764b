"""The BentoML side of the pipeline: its environment, which variant a service serves, and the accuracy gate."""

from __future__ import annotations

import os
from pathlib import Path

from stages.common.errors import ServebenchError
from stages.records.validation import Validation


class BuildError(ServebenchError):
    """A service cannot be built or served as configured."""


def bentoml_env(home: Path) -> dict[str, str]:
    """Environment for any bentoml process of the pipeline: its own store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(home.resolve()), "BENTOML_DO_NOT_TRACK": "true"}


def cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def resolve_variant(setting: str, cuda: bool) -> str:
    """``auto`` serves what the hardware favours: FP16 on a CUDA GPU, INT8 dynamic quantization on a CPU."""
    if setting != "auto":
        return setting
    return "onnx-fp16" if cuda else "onnx-int8"


def check_gate(variant: str, validation: Validation) -> None:
    """Refuse to serve a variant that was not validated or failed the accuracy gate."""
    result = validation.variants.get(variant)
    if result is None:
        why = ("PyTorch FP16 is produced only where CUDA is available, and this machine has no GPU"
               if variant == "pytorch-fp16" else
               f"enable convert.{variant.split('-')[1]}.enabled" if variant.startswith("onnx-") else "")
        raise BuildError(
            f"variant {variant!r} was not produced and validated in this run (validated: "
            f"{sorted(validation.variants)}){': ' + why if why else ''}; choose another serve.*.variant "
            "(auto: onnx-fp16 on a GPU, onnx-int8 on a CPU)"
        )
    if not result.passed:
        raise BuildError(f"variant {variant!r} failed the accuracy gate: {'; '.join(result.failed_because)}")
