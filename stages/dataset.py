"""dataset stage: the labelled evaluation set and the text corpus the load generator draws payloads from.

Sources: the Hub dataset (TweetEval sentiment test split by default, a pinned parquet file) or local files:
parquet, CSV or JSONL with ``text`` and ``label`` columns, or a TweetEval folder (``<split>_text.txt`` and
``<split>_labels.txt``, one item per line, optional ``mapping.txt``). Bad data stops the stage with the file and
row at fault: an empty text or an unknown label would otherwise skew accuracy silently.
"""

from __future__ import annotations

from stages.common.artifacts import DATASET_DIR
from stages.common.cli import run_stage, stage_parser
from stages.model.dataset import build_dataset
from stages.params.base import StageParams, load_params
from stages.params.data import DataParams


class Settings(StageParams):
    data: DataParams = DataParams()


def main() -> None:
    parser = stage_parser(__doc__, out=DATASET_DIR)
    args = parser.parse_args()
    info = build_dataset(load_params(Settings, args.params).data, args.out)
    print(
        f"dataset: {info.eval_examples} of {info.total_examples} examples "
        f"{info.eval_label_counts}, corpus {info.corpus_texts} texts -> {args.out}"
    )


if __name__ == "__main__":
    run_stage("dataset", main)
