from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from stages.common.io import read_result
from stages.model.classifier import OnnxBackend, SentimentClassifier, choose_providers
from stages.model.convert import convert_variant
from stages.model.export import ParityError, export_stage
from stages.model.variants import parse_variant, produced_variants
from stages.params.convert import Int8Params
from stages.params.export import ExportParams
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams
from stages.records.model import VariantInfo

TEXTS = ["I love this!", "worst day ever, everything broke", "the meeting is at 3pm", "meh " * 40]
RUNTIME = RuntimeParams(threads=1, providers="cpu")


def load(name: str, model: Path, variants: Path, tokenizing: TokenizerParams | None = None) -> SentimentClassifier:
    variant = parse_variant(name, model, variants)
    return SentimentClassifier.load(variant, model, tokenizing or TokenizerParams(), RUNTIME)


def test_export_records_parity_on_padded_batches(tiny_variants: Path) -> None:
    info = read_result(tiny_variants / "onnx-fp32" / "variant.json", VariantInfo)
    assert [row.batch for row in info.parity] == [1, 4, 8]
    assert any(row.padded_fraction > 0.3 for row in info.parity)
    assert info.parity_max_abs_logit_diff is not None and info.parity_atol is not None
    assert info.parity_max_abs_logit_diff <= info.parity_atol


def test_parity_gate_fails_the_export(tmp_path: Path, tiny_model: Path, small_dataset: Path) -> None:
    with pytest.raises(ParityError, match=r"> export.parity_atol 1e-12"):
        export_stage(
            tiny_model,
            small_dataset,
            tmp_path / "onnx-fp32",
            ExportParams(parity_atol=1e-12),
            TokenizerParams(),
            threads=1,
        )


def test_dynamo_exporter_and_static_shapes(tmp_path: Path, tiny_model: Path, small_dataset: Path) -> None:
    export_stage(
        tiny_model,
        small_dataset,
        tmp_path / "dyn" / "onnx-fp32",
        ExportParams(exporter="dynamo"),
        TokenizerParams(),
        threads=1,
    )
    tokenizing = TokenizerParams(max_length=32)
    export_stage(
        tiny_model,
        small_dataset,
        tmp_path / "static" / "onnx-fp32",
        ExportParams(dynamic_axes=False),
        tokenizing,
        threads=1,
    )
    static = load("onnx-fp32", tiny_model, tmp_path / "static", tokenizing).backend
    assert isinstance(static, OnnxBackend) and (static.static_batch, static.static_length) == (1, 32)
    reference = load("pytorch-fp32", tiny_model, tmp_path, tokenizing).predict_proba(TEXTS)
    for folder in ("dyn", "static"):
        probabilities = load("onnx-fp32", tiny_model, tmp_path / folder, tokenizing).predict_proba(TEXTS)
        np.testing.assert_allclose(probabilities, reference, atol=1e-4)


@pytest.mark.parametrize(("name", "op_type"), [("onnx-fp16", "Cast"), ("onnx-int8", "DynamicQuantizeLinear")])
def test_each_conversion_is_a_loadable_model(tiny_model: Path, tiny_variants: Path, name: str, op_type: str) -> None:
    path = tiny_variants / name / "model.onnx"
    graph = onnx.load(str(path)).graph
    assert any(node.op_type == op_type for node in graph.node)
    fp32_size = (tiny_variants / "onnx-fp32" / "model.onnx").stat().st_size
    assert path.stat().st_size < 0.6 * fp32_size
    predictions = load(name, tiny_model, tiny_variants).classify(TEXTS)
    assert len(predictions) == len(TEXTS)
    for prediction in predictions:
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
        assert prediction.score == max(prediction.probabilities.values())


def test_fp16_stays_close_to_fp32(tiny_model: Path, tiny_variants: Path) -> None:
    fp32 = load("onnx-fp32", tiny_model, tiny_variants).predict_proba(TEXTS)
    fp16 = load("onnx-fp16", tiny_model, tiny_variants).predict_proba(TEXTS)
    np.testing.assert_allclose(fp16, fp32, atol=0.05)


def test_disabled_variant_is_recorded_and_skipped(tmp_path: Path, tiny_model: Path, tiny_variants: Path) -> None:
    variants = tmp_path / "variants"
    for name in ("onnx-fp32", "onnx-fp16"):
        (variants / name).mkdir(parents=True)
        for file in (tiny_variants / name).iterdir():
            (variants / name / file.name).write_bytes(file.read_bytes())
    info = convert_variant(
        "onnx-int8", Int8Params(enabled=False), variants / "onnx-fp32", tiny_model, variants / "onnx-int8"
    )
    assert info.enabled is False and not (variants / "onnx-int8" / "model.onnx").exists()
    names = [v.name for v in produced_variants(tiny_model, variants)]
    assert names == ["pytorch-fp32", "onnx-fp32", "onnx-fp16"]


def test_provider_choice() -> None:
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", both) == both
    assert choose_providers("cpu", both) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="offers only"):
        choose_providers("cuda", ["CPUExecutionProvider"])
