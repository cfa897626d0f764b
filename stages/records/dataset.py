"""``data/dataset/dataset_info.json``: the evaluation set and the payload corpus the dataset stage wrote."""

from __future__ import annotations

from stages.records.base import RecordFile


class DatasetInfo(RecordFile):
    """Where the examples came from (a local path and split, or a Hub file at a revision and commit) and how
    many went where."""

    source: str  # hub | local
    path: str | None = None
    split: str | None = None
    id: str | None = None
    file: str | None = None
    revision: str | None = None
    commit: str | None = None
    labels: list[str]
    total_examples: int
    eval_examples: int
    eval_label_counts: dict[str, int]
    corpus_texts: int
