"""Where each model variant lives on disk, and which ones a run produced.

The pipeline's variants share one naming scheme, ``<runtime>-<precision>``; validation, the served Bentos and
the report all refer to variants by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from stages.common.artifacts import MODEL_DIR, VARIANTS_DIR
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.records.model import VariantInfo

ONNX_FILE = "model.onnx"
VARIANT_INFO = "variant.json"
REFERENCE_VARIANT = "pytorch-fp32"
CONVERTED_VARIANTS = ("onnx-fp16", "onnx-int8")
Precision = Literal["fp32", "fp16", "int8"]


@dataclass(frozen=True)
class Variant:
    """A loadable form of the model: the runtime that executes it, its precision and its weights file."""

    name: str
    runtime: Literal["pytorch", "onnx"]
    precision: Precision
    path: Path

    @property
    def size_bytes(self) -> int:
        if self.runtime == "onnx":
            return self.path.stat().st_size
        return sum(f.stat().st_size for f in self.path.glob("*.safetensors"))


def parse_variant(name: str, model_dir: Path = MODEL_DIR, variants_dir: Path = VARIANTS_DIR) -> Variant:
    """Resolve a variant name such as ``onnx-int8`` or ``pytorch-fp16`` to its files."""
    runtime, _, precision = name.partition("-")
    if runtime == "pytorch" and precision in ("fp32", "fp16"):
        return Variant(name, "pytorch", cast(Precision, precision), model_dir)
    if runtime == "onnx" and precision in ("fp32", "fp16", "int8"):
        return Variant(name, "onnx", cast(Precision, precision), variants_dir / name / ONNX_FILE)
    raise ServebenchError(
        f"unknown variant {name!r}; expected pytorch-fp32, pytorch-fp16, onnx-fp32, onnx-fp16 or onnx-int8"
    )


def write_variant_info(variant_dir: Path, info: VariantInfo) -> None:
    write_result(variant_dir / VARIANT_INFO, info, exclude_none=True)


def produced_variants(model_dir: Path = MODEL_DIR, variants_dir: Path = VARIANTS_DIR) -> list[Variant]:
    """The reference, the ONNX export and every conversion that was enabled in this run."""
    names = [REFERENCE_VARIANT, "onnx-fp32"]
    for name in CONVERTED_VARIANTS:
        info_file = variants_dir / name / VARIANT_INFO
        if info_file.is_file() and read_result(info_file, VariantInfo).enabled:
            names.append(name)
    return [parse_variant(name, model_dir, variants_dir) for name in names]
