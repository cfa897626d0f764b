"""The serving path's tokenizer (``tokenizers``, no transformers) gives transformers' ids, and the ONNX
classifier built on it gives the logits of today's path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from stages.model.classifier import OnnxBackend, SentimentClassifier
from stages.model.tokenizer import FastTokenizer
from stages.model.variants import parse_variant
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams

EDGE_CASES = ["", "   ", "😀 emoji and ünïcödé", "https://t.co/xyz @user #tag", "word " * 300, "\u200b zero width"]


def sentences_and_edges(sentences: Path) -> list[str]:
    return (sentences / "test_text.txt").read_text().splitlines() + EDGE_CASES


@pytest.mark.parametrize("settings", [TokenizerParams(), TokenizerParams(max_length=16),
                                      TokenizerParams(padding="max_length", max_length=64),
                                      TokenizerParams(truncation=False, max_length=512)])
def test_ids_equal_the_transformers_tokenizer(tiny_model: Path, sentences: Path, settings: TokenizerParams) -> None:
    texts = sentences_and_edges(sentences)
    if not settings.truncation:
        texts = texts[:-2]  # 300 words untruncated exceed the model; transformers would warn, not truncate
    reference = AutoTokenizer.from_pretrained(tiny_model)(
        texts, padding=settings.padding, truncation=settings.truncation, max_length=settings.max_length,
        return_tensors="np")
    ours = FastTokenizer(tiny_model).encode(texts, settings)
    for name in reference:
        np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)
    assert FastTokenizer(tiny_model).pad_token_id == AutoTokenizer.from_pretrained(tiny_model).pad_token_id


def test_onnx_logits_through_the_lean_path_equal_todays(tiny_model: Path, tiny_variants: Path,
                                                        sentences: Path) -> None:
    texts = sentences_and_edges(sentences)[:40]
    runtime = RuntimeParams(threads=1, providers="cpu")
    classifier = SentimentClassifier.load(parse_variant("onnx-int8", tiny_model, tiny_variants), tiny_model,
                                          TokenizerParams(), runtime)
    transformers_encoded = AutoTokenizer.from_pretrained(tiny_model)(texts, padding="longest", truncation=True,
                                                                     max_length=128, return_tensors="np")
    backend = OnnxBackend(tiny_variants / "onnx-int8" / "model.onnx", runtime, classifier.tokenizer.pad_token_id)
    today = backend.logits({name: array.astype(np.int64) for name, array in transformers_encoded.items()})
    np.testing.assert_array_equal(classifier.backend.logits(classifier.encode(texts)), today)
    assert set(classifier.encode(texts)) == {"input_ids", "attention_mask"}  # RoBERTa's graph takes two
