"""FP16 and INT8 variants of the exported ONNX graph."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from stages.model.variants import ONNX_FILE, write_variant_info
from stages.params.convert import Fp16Params, Int8Params
from stages.records.model import VariantInfo

logger = logging.getLogger(__name__)


def optimize_transformer_graph(source: Path, target: Path, model_dir: Path) -> None:
    """Fuse attention, layer norm and GELU with ONNX Runtime's transformer optimizer (CPU-safe, FP32)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=config["num_attention_heads"],
        hidden_size=config["hidden_size"],
        opt_level=1,
        use_gpu=False,
    )
    optimized.save_model_to_file(str(target))


def convert_fp16(source: Path, target: Path, params: Fp16Params) -> None:
    """Cast weights and activations to FP16, keeping FP32 inputs/outputs so callers need not change."""
    from onnxconverter_common import float16

    model = onnx.load(str(source))
    with warnings.catch_warnings(record=True) as truncated:
        # One UserWarning per weight outside FP16's range ("will be truncated to 1e-07"): ~120 lines for a
        # RoBERTa, each saying the same thing. Counted instead; FP16's accuracy is judged by validate.
        warnings.simplefilter("always", UserWarning)
        converted = float16.convert_float_to_float16(
            model,
            keep_io_types=params.keep_io_types,
            op_block_list=params.op_block_list or None,
        )
    onnx.save(converted, str(target))
    clipped = sum("will be truncated" in str(warning.message) for warning in truncated)
    logger.info(f"convert: onnx-fp16: {clipped} weights outside FP16's range clipped to its limits (1e-7 / 1e4)")


def convert_int8(source: Path, target: Path, params: Int8Params) -> None:
    """Dynamic quantization: INT8 weights, activations quantized on the fly per batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8 if params.weight_type == "qint8" else QuantType.QUInt8,
        per_channel=params.per_channel,
        reduce_range=params.reduce_range,
        # Needed on graphs from the transformer optimizer, whose fused nodes carry no type info (design.md).
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


CONVERTERS: dict[str, Callable[[Path, Path, Any], None]] = {"onnx-fp16": convert_fp16, "onnx-int8": convert_int8}


def convert_variant(
    name: str, params: Fp16Params | Int8Params, export_dir: Path, model_dir: Path, out_dir: Path
) -> VariantInfo:
    """Produce variant ``name`` from the exported FP32 graph into ``out_dir``; return its ``variant.json``."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    size_bytes = None
    if params.enabled:
        out_dir.mkdir(parents=True)
        source = export_dir / ONNX_FILE
        with tempfile.TemporaryDirectory(dir=out_dir.parent) as scratch:
            if params.optimize_graph:
                optimized = Path(scratch) / "optimized.onnx"
                optimize_transformer_graph(source, optimized, model_dir)
                source = optimized
            CONVERTERS[name](source, out_dir / ONNX_FILE, params)
        onnx.checker.check_model(str(out_dir / ONNX_FILE))
        size_bytes = (out_dir / ONNX_FILE).stat().st_size
    info = VariantInfo.model_validate({"variant": name, "size_bytes": size_bytes, **params.model_dump()})
    write_variant_info(out_dir, info)
    return info
