"""dataset stage: the labelled evaluation set and the text corpus the load generator draws payloads from.

Sources: the Hub dataset (TweetEval sentiment test split by default, a pinned parquet file) or local files:
parquet, CSV or JSONL with ``text`` and ``label`` columns, or a TweetEval folder (``<split>_text.txt`` and
``<split>_labels.txt``, one item per line, optional ``mapping.txt``). Bad data stops the stage with the file and
row at fault: an empty text or an unknown label would otherwise skew accuracy silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.artifacts import CORPUS_FILE, DATASET_DIR, DATASET_INFO, EVAL_FILE
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import write_result
from stages.common.params import DataParams, load_params
from stages.model.hub import fetch_file, snapshot_commit

OFFLINE_OPTIONS = (
    "set data.source=local with data.local_path=<parquet/CSV/JSONL file or TweetEval folder> "
    "(e.g. ../shared/data/tweet_eval_sentiment on the development machines)"
)


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
    readers = {
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


def load_examples(params: DataParams) -> tuple[pd.DataFrame, dict]:
    """Read the whole split from the configured source; return it with its provenance."""
    if params.source == "hub":
        path = fetch_file(params.hub.id, params.hub.revision, "dataset", params.hub.file, OFFLINE_OPTIONS)
        frame = read_table(path)
        origin = {
            "id": params.hub.id,
            "file": params.hub.file,
            "revision": params.hub.revision,
            "commit": snapshot_commit(path),
        }
    else:
        path = Path(params.local_path or "")
        frame = read_tweeteval_folder(path, params.split, params.labels) if path.is_dir() else read_table(path)
        origin = {"path": str(path), "split": params.split if path.is_dir() else None}
    return clean_examples(frame, params.labels, str(path)), {"source": params.source, **origin}


def subsample(frame: pd.DataFrame, max_samples: int | None, seed: int) -> pd.DataFrame:
    """Seeded sample without replacement, kept in the source's order so diffs of the file stay readable."""
    if max_samples is None or max_samples >= len(frame):
        return frame.reset_index(names="source_row")
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_samples, replace=False))
    return frame.iloc[chosen].reset_index(names="source_row")


def build_dataset(params: DataParams, out_dir: Path) -> dict:
    """Write the evaluation set, the payload corpus and a summary of both to ``out_dir``."""
    examples, origin = load_examples(params)
    evaluation = subsample(examples, params.max_samples, params.seed)
    corpus = subsample(examples, params.corpus_size, params.seed + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation.to_parquet(out_dir / EVAL_FILE, index=False)
    corpus[["text"]].to_json(out_dir / CORPUS_FILE, orient="records", lines=True, force_ascii=False)
    counts = np.bincount(evaluation["label"], minlength=len(params.labels))
    info = {
        **origin,
        "labels": params.labels,
        "total_examples": len(examples),
        "eval_examples": len(evaluation),
        "eval_label_counts": dict(zip(params.labels, counts.tolist(), strict=True)),
        "corpus_texts": len(corpus),
    }
    write_result(out_dir / DATASET_INFO, info)
    return info


def main() -> None:
    parser = stage_parser(__doc__, out=DATASET_DIR)
    args = parser.parse_args()
    info = build_dataset(load_params(args.params).data, args.out)
    print(
        f"dataset: {info['eval_examples']} of {info['total_examples']} examples "
        f"{info['eval_label_counts']}, corpus {info['corpus_texts']} texts -> {args.out}"
    )


if __name__ == "__main__":
    run_stage("dataset", main)
