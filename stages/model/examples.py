"""Labelled examples (text, label id) from local files, checked row by row.

Shared by the ``dataset`` stage (the evaluation split) and fine-tuning (the training split), so both read the
same formats with the same checks: parquet, CSV or JSONL with ``text`` and ``label`` columns, or a TweetEval
folder (``<split>_text.txt`` and ``<split>_labels.txt``, one item per line, optional ``mapping.txt``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.errors import ServebenchError


class DatasetError(ServebenchError):
    """The evaluation data is missing, malformed or inconsistent."""


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    return path.read_text(encoding="utf-8").splitlines()


def read_tweeteval_folder(folder: Path, split: str, label_names: list[str]) -> pd.DataFrame:
    """TweetEval's own layout: parallel text and label files, and ``mapping.txt`` naming the label ids."""
    texts = _read_lines(folder / f"{split}_text.txt")
    labels = _read_lines(folder / f"{split}_labels.txt")
    if len(texts) != len(labels):
        raise DatasetError(
            f"{folder}: {split}_text.txt has {len(texts)} lines but {split}_labels.txt has {len(labels)}"
        )
    mapping_file = folder / "mapping.txt"
    if mapping_file.is_file():
        mapping = dict(line.split("\t", 1) for line in _read_lines(mapping_file) if line.strip())
        expected = {str(i): name for i, name in enumerate(label_names)}
        if mapping != expected:
            raise DatasetError(f"{mapping_file}: label mapping {mapping} differs from data.labels {expected}")
    return pd.DataFrame({"text": texts, "label": [label.strip() for label in labels]})


def read_table(path: Path) -> pd.DataFrame:
    """A parquet, CSV or JSONL file with ``text`` and ``label`` columns."""
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".parquet": pd.read_parquet,
        ".csv": pd.read_csv,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unsupported file type; expected one of {sorted(readers)} or a TweetEval folder")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    frame = reader(path)
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; found {list(frame.columns)}")
    return frame[["text", "label"]]


def clean_examples(frame: pd.DataFrame, label_names: list[str], origin: str) -> pd.DataFrame:
    """Check every row and map labels (ids or names) to ids; raise on the first rows at fault."""
    texts = frame["text"]
    empty = [i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if empty:
        raise DatasetError(f"{origin}: empty text in row(s) {empty[:10]} (rows counted from 0)")
    lookup = {str(i): i for i in range(len(label_names))} | {name: i for i, name in enumerate(label_names)}
    label_ids = [lookup.get(str(label).strip()) for label in frame["label"]]
    unknown = [(i, frame["label"].iloc[i]) for i, label_id in enumerate(label_ids) if label_id is None]
    if unknown:
        raise DatasetError(
            f"{origin}: unknown label(s) {unknown[:10]} (row, value); allowed: ids 0-{len(label_names) - 1} "
            f"or names {label_names}"
        )
    return pd.DataFrame({"text": list(texts), "label": np.asarray(label_ids, dtype=np.int64)})


def read_local_examples(path: Path, split: str, label_names: list[str], key: str) -> pd.DataFrame:
    """A TweetEval folder's ``split``, or a table file; checked and with label ids. ``key`` is the params key
    that named ``path``, so that a missing path says what to change."""
    if not path.exists():
        raise DatasetError(f"{key}: {path} does not exist; point it at a TweetEval folder (<split>_text.txt, "
                           "<split>_labels.txt) or a parquet/CSV/JSONL file with text and label columns")
    frame = read_tweeteval_folder(path, split, label_names) if path.is_dir() else read_table(path)
    return clean_examples(frame, label_names, str(path))
