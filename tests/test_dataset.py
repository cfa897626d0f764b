from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stages.model.dataset import build_dataset, load_examples, subsample
from stages.model.examples import DatasetError
from stages.params.data import DataParams

LABELS = ["negative", "neutral", "positive"]


def local(path: Path, **kwargs: Any) -> DataParams:
    return DataParams(source="local", local_path=str(path), **kwargs)


def tweeteval_folder(root: Path, texts: list[str], labels: list[str]) -> Path:
    root.mkdir()
    (root / "test_text.txt").write_text("\n".join(texts) + "\n")
    (root / "test_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n")
    return root


def test_a_tweeteval_folder_split_is_read_whole(sentences: Path) -> None:
    frame, origin = load_examples(local(sentences, split="val"))
    assert len(frame) == 128
    assert set(frame["label"]) == {0, 1, 2}
    assert origin == {"source": "local", "path": str(sentences), "split": "val"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_table_formats_accept_label_ids_and_names(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"text": ["good day", "meh", "awful"], "label": ["positive", "1", "negative"]})
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    examples, _ = load_examples(local(path))
    assert examples["label"].tolist() == [2, 1, 0]


def test_empty_text_is_rejected_with_its_row(tmp_path: Path) -> None:
    folder = tweeteval_folder(tmp_path / "tw", ["fine", "   ", "ok"], ["0", "1", "2"])
    with pytest.raises(DatasetError, match=r"empty text in row\(s\) \[1\]"):
        load_examples(local(folder))


def test_unknown_label_is_rejected(tmp_path: Path) -> None:
    folder = tweeteval_folder(tmp_path / "tw", ["a", "b"], ["0", "7"])
    with pytest.raises(DatasetError, match=r"unknown label\(s\) \[\(1, '7'\)\]"):
        load_examples(local(folder))


def test_mismatched_text_and_label_files(tmp_path: Path) -> None:
    folder = tweeteval_folder(tmp_path / "tw", ["a", "b", "c"], ["0", "1"])
    with pytest.raises(DatasetError, match=r"has 3 lines but test_labels\.txt has 2"):
        load_examples(local(folder))


def test_mapping_that_disagrees_with_labels(tmp_path: Path) -> None:
    folder = tweeteval_folder(tmp_path / "tw", ["a"], ["0"])
    (folder / "mapping.txt").write_text("0\tpositive\n1\tneutral\n2\tnegative\n")
    with pytest.raises(DatasetError, match=r"differs from data\.labels"):
        load_examples(local(folder))


def test_missing_column_and_unsupported_file(tmp_path: Path) -> None:
    pd.DataFrame({"sentence": ["x"], "label": [0]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['text'\]"):
        load_examples(local(tmp_path / "d.csv"))
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_examples(local(tmp_path / "d.xlsx"))
    with pytest.raises(DatasetError, match=r"^data\.local_path: .*tweet_eval_sentiment does not exist"):
        load_examples(local(tmp_path / "tweet_eval_sentiment"))


def test_subsample_is_seeded_and_keeps_source_order() -> None:
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": [i % 3 for i in range(100)]})
    first, again, other = subsample(frame, 10, 0), subsample(frame, 10, 0), subsample(frame, 10, 1)
    assert first["source_row"].tolist() == again["source_row"].tolist()
    assert first["source_row"].tolist() != other["source_row"].tolist()
    assert first["source_row"].is_monotonic_increasing
    assert len(subsample(frame, None, 0)) == 100


def test_build_writes_eval_set_corpus_and_info(tmp_path: Path, sentences: Path) -> None:
    info = build_dataset(local(sentences, max_samples=30, corpus_size=40), tmp_path)
    assert len(pd.read_parquet(tmp_path / "eval.parquet")) == 30
    corpus = [json.loads(line)["text"] for line in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    assert len(corpus) == 40 and all(corpus)
    assert info.total_examples == 160 and sum(info.eval_label_counts.values()) == 30
