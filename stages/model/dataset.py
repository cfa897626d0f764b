"""The evaluation set and the load generator's payload corpus, from the Hub or local TweetEval files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.artifacts import CORPUS_FILE, DATASET_INFO, EVAL_FILE
from stages.common.io import write_result
from stages.model.examples import clean_examples, read_local_examples, read_table
from stages.model.hub import fetch_file, snapshot_commit
from stages.params.data import DataParams
from stages.records.dataset import DatasetInfo

OFFLINE_OPTIONS = (
    "set data.source=local with data.local_path=<parquet/CSV/JSONL file or TweetEval folder> "
    "(e.g. ../shared/data/tweet_eval_sentiment on the development machines)"
)


def load_examples(params: DataParams) -> tuple[pd.DataFrame, dict]:
    """Read the whole split from the configured source; return it with its provenance."""
    if params.source == "local":
        path = Path(params.local_path or "")
        origin = {"path": str(path), "split": params.split if path.is_dir() else None}
        examples = read_local_examples(path, params.split, params.labels, "data.local_path")
        return examples, {"source": params.source, **origin}
    path = fetch_file(params.hub.id, params.hub.revision, "dataset", params.hub.file, OFFLINE_OPTIONS)
    origin = {"id": params.hub.id, "file": params.hub.file, "revision": params.hub.revision,
              "commit": snapshot_commit(path)}
    return clean_examples(read_table(path), params.labels, str(path)), {"source": params.source, **origin}


def subsample(frame: pd.DataFrame, max_samples: int | None, seed: int) -> pd.DataFrame:
    """Seeded sample without replacement, kept in the source's order so diffs of the file stay readable."""
    if max_samples is None or max_samples >= len(frame):
        return frame.reset_index(names="source_row")
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_samples, replace=False))
    return frame.iloc[chosen].reset_index(names="source_row")


def build_dataset(params: DataParams, out_dir: Path) -> DatasetInfo:
    """Write the evaluation set, the payload corpus and a summary of both to ``out_dir``."""
    examples, origin = load_examples(params)
    evaluation = subsample(examples, params.max_samples, params.seed)
    corpus = subsample(examples, params.corpus_size, params.seed + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation.to_parquet(out_dir / EVAL_FILE, index=False)
    corpus[["text"]].to_json(out_dir / CORPUS_FILE, orient="records", lines=True, force_ascii=False)
    counts = np.bincount(evaluation["label"], minlength=len(params.labels))
    info = DatasetInfo.model_validate({
        **origin,
        "labels": params.labels,
        "total_examples": len(examples),
        "eval_examples": len(evaluation),
        "eval_label_counts": dict(zip(params.labels, counts.tolist(), strict=True)),
        "corpus_texts": len(corpus),
    })
    write_result(out_dir / DATASET_INFO, info, exclude_none=True)
    return info
