"""PyTorch to ONNX, with a parity check of logits on padded batches."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from stages.common.artifacts import EVAL_FILE
from stages.common.errors import ServebenchError
from stages.model.classifier import OnnxBackend, TorchBackend
from stages.model.tokenizer import FastTokenizer
from stages.model.variants import ONNX_FILE, write_variant_info
from stages.params.export import ExportParams
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams
from stages.records.model import ParityCheck, VariantInfo

logger = logging.getLogger(__name__)


class ParityError(ServebenchError):
    """The exported graph disagrees with PyTorch beyond ``export.parity_atol``."""


class _LogitsOnly(torch.nn.Module):
    """Positional inputs, named as the tokenizer names them, -> logits: the graph takes exactly what the
    tokenizer makes (two inputs for RoBERTa, three with ``token_type_ids`` for BERT) and returns one tensor."""

    def __init__(self, model: torch.nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs, strict=True))).logits


def export_onnx(model_dir: Path, out_path: Path, params: ExportParams, tokenizing: TokenizerParams) -> None:
    """Write ``model_dir`` as one self-contained ONNX file (no external data) to ``out_path``."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Static exports are traced at the served maximum shape: batch 1, sequence max_length.
    sample = tokenizer(
        ["servebench export sample"] * (2 if params.dynamic_axes else 1),
        padding="max_length",
        max_length=16 if params.dynamic_axes else tokenizing.max_length,
        return_tensors="pt",
    )
    input_names = [name for name in tokenizer.model_input_names if name in sample]
    args = tuple(sample[name] for name in input_names)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _LogitsOnly(model, input_names)
    with torch.no_grad():
        if params.exporter == "torchscript":
            axes = {name: {0: "batch", 1: "sequence"} for name in input_names} | {"logits": {0: "batch"}}
            torch.onnx.export(
                wrapped,
                args,
                str(out_path),
                dynamo=False,
                opset_version=params.opset,
                input_names=input_names,
                output_names=["logits"],
                dynamic_axes=axes if params.dynamic_axes else None,
            )
        else:
            dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence", max=512)}
            # ``forward(*inputs)``: torch.export sees one tuple argument holding every input.
            program = torch.onnx.export(
                wrapped,
                args,
                dynamo=True,
                opset_version=params.opset,
                input_names=input_names,
                output_names=["logits"],
                dynamic_shapes=(((dims,) * len(input_names)),) if params.dynamic_axes else None,
            )
            if program is None:
                raise ServebenchError("torch.onnx.export(dynamo=True) returned no program")
            program.save(str(out_path), external_data=False)


def parity_report(
    model_dir: Path, onnx_path: Path, texts: list[str], shapes: list[list[int]], threads: int
) -> list[dict]:
    """Max abs logit difference between PyTorch and ONNX Runtime for each ``[batch, sequence]`` shape."""
    runtime = RuntimeParams(threads=threads, providers="cpu")
    tokenizer = FastTokenizer(model_dir)  # what validate and the service encode with
    reference = TorchBackend(model_dir, "fp32", runtime)
    exported = OnnxBackend(onnx_path, runtime, tokenizer.pad_token_id)
    report = []
    for batch, length in tqdm(shapes, desc="export: parity", unit="shape", file=sys.stderr):
        if exported.static_length is not None:
            length = exported.static_length
        chosen = [texts[i % len(texts)] for i in range(batch)]
        encoded = tokenizer.encode(chosen, TokenizerParams(padding="max_length", max_length=length))
        diff = np.abs(reference.logits(encoded) - exported.logits(encoded))
        report.append(
            {
                "batch": batch,
                "sequence": length,
                "padded_fraction": round(float(1 - encoded["attention_mask"].mean()), 3),
                "max_abs_logit_diff": float(diff.max()),
            }
        )
    return report


def export_stage(
    model_dir: Path,
    dataset_dir: Path,
    out_dir: Path,
    params: ExportParams,
    tokenizing: TokenizerParams,
    threads: int,
) -> VariantInfo:
    onnx_path = out_dir / ONNX_FILE
    logger.info(f"export: {params.exporter} exporter, opset {params.opset} ...")
    started = time.perf_counter()
    export_onnx(model_dir, onnx_path, params, tokenizing)
    logger.info(f"export: graph written in {time.perf_counter() - started:.0f} s; checking parity")
    texts = pd.read_parquet(dataset_dir / EVAL_FILE)["text"].tolist()
    report = parity_report(model_dir, onnx_path, texts, params.parity_shapes, threads)
    worst = max(row["max_abs_logit_diff"] for row in report)
    info = VariantInfo(variant="onnx-fp32", enabled=True, exporter=params.exporter, opset=params.opset,
                       dynamic_axes=params.dynamic_axes, size_bytes=onnx_path.stat().st_size,
                       parity=[ParityCheck.model_validate(row) for row in report], parity_atol=params.parity_atol,
                       parity_max_abs_logit_diff=worst)
    write_variant_info(out_dir, info)
    if worst > params.parity_atol:
        raise ParityError(
            f"ONNX export differs from PyTorch by {worst:.3g} (> export.parity_atol {params.parity_atol}): "
            + json.dumps(report)
        )
    return info
