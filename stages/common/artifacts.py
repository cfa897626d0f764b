"""The file contract between stages: where each stage writes, what its files are called, and their readers.

Stages never import each other; the paths in ``dvc.yaml`` and the names here are the only thing they share,
so importing a constant never loads another stage's heavy dependencies (torch, bentoml).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.common.io import read_result
from stages.records.dataset import DatasetInfo
from stages.records.model import ModelInfo

PARAMS_FILE = Path("params.yaml")
MODEL_DIR = Path("data/model")
DATASET_DIR = Path("data/dataset")
VARIANTS_DIR = Path("data/variants")
RESULTS_DIR = Path("results")
# Server logs of the last run of each serving stage: diagnostics, neither results nor DVC outputs (a fresh clone
# has none, and its `dvc status` must not call the committed results changed for lack of them).
LOGS_DIR = Path("logs")
BENTOML_HOME = Path("bentoml")

MODEL_INFO = "model_info.json"
EVAL_FILE = "eval.parquet"
CORPUS_FILE = "corpus.jsonl"
CLASSIFY = "/classify"  # the served Bento's API route
STARTUP_MARK = "servebench-startup"  # a served worker logs its start-up instants after it (service/startup.py)
SLOT_COLUMN = "slot"  # in a switchback run's records: the pair (schedule segment) a request was sent in
DATASET_INFO = "dataset_info.json"

VALIDATION_JSON = RESULTS_DIR / "validation.json"
BENTOS_JSON = RESULTS_DIR / "bentos.json"
LIMITS_JSON = RESULTS_DIR / "limits.json"
TRAINING_JSON = RESULTS_DIR / "training.json"  # the fine-tuning run (DVC metrics), or a note that none ran
TRAINING_LOSS_CSV = RESULTS_DIR / "training_loss.csv"
LOADTEST_DIR = RESULTS_DIR / "loadtest"
RUNS_INDEX = "runs.json"  # in each LOADTEST_DIR/<scenario>/
RECORDS_FILE = "records.parquet"  # in every run's folder: one row per scheduled request
SUMMARY_FILE = "summary.json"  # in every run's folder: outcomes, percentiles, the fidelity audit
CAPACITY_JSON = RESULTS_DIR / "capacity.json"
RESILIENCE_JSON = RESULTS_DIR / "resilience.json"

SERVICES = ("baseline", "optimized")
# Read by the served Bento (service/service.py): overrides the built worker count for one server (resilience).
WORKERS_ENV = "SERVEBENCH_WORKERS"


def read_corpus(path: Path) -> list[str]:
    """Payload texts: the dataset stage's ``corpus.jsonl``, or any plain text file with one text per line."""
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)["text"].tolist()
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dataset_labels(dataset_dir: Path) -> list[str]:
    """Label names of a dataset built by the dataset stage, index = label id."""
    return read_result(dataset_dir / DATASET_INFO, DatasetInfo).labels


def model_info(model_dir: Path) -> ModelInfo:
    """Provenance of the model in ``model_dir`` (source, id, whether it is the stand-in, labels)."""
    return read_result(model_dir / MODEL_INFO, ModelInfo)


def aa_arm(service: str) -> str:
    """The A/A check's second arm of ``service`` (loadtest.aa): its runs lie in ``<scenario>/aa-<service>/``."""
    return f"aa-{service}"
