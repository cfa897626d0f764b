"""Where the model comes from (the Hub, a local folder, the offline stand-in, or a fine-tune), saved in one
normalised checkpoint layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from stages.common.artifacts import MODEL_INFO
from stages.common.errors import ServebenchError
from stages.common.io import write_result
from stages.model.finetune import finetune
from stages.model.hub import fetch_snapshot, snapshot_commit
from stages.model.standin import build_standin
from stages.params.data import DataParams
from stages.params.model import ModelParams
from stages.records.model import ModelInfo, TrainingRecord, TrainingRun

HUB_FILES = [
    "config.json",
    "*.safetensors",
    "pytorch_model.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
]
OFFLINE_OPTIONS = (
    "`make repro-offline` (the whole pipeline on the offline stand-in and a local TweetEval copy), "
    "model.source=finetune (fine-tune a packaged pretrained encoder: `make repro-offline-trained`), "
    "model.source=local with model.local_path=<folder with config.json, weights and tokenizer>, "
    "pre-fill the cache with `hf download <id> --revision <rev>` on a connected machine, "
    "or model.source=standin alone (its predictions are meaningless)"
)


def normalise_checkpoint(source_dir: Path, out_dir: Path) -> None:
    """Load a sequence-classification checkpoint and save it back in the layout every stage expects."""
    if not (source_dir / "config.json").is_file():
        raise ServebenchError(f"{source_dir} holds no config.json: not a transformers checkpoint folder")
    tokenizer = AutoTokenizer.from_pretrained(source_dir)
    model = AutoModelForSequenceClassification.from_pretrained(source_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def download_model(params: ModelParams, data: DataParams, out_dir: Path, threads: int
                   ) -> tuple[ModelInfo, TrainingRun | None]:
    """Materialise the model named by ``params`` into ``out_dir``; return its provenance record and, when it was
    fine-tuned here, the training record."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    info: dict[str, object] = {"source": params.source, "standin": params.source == "standin"}
    training = None
    if params.source == "finetune":
        training = finetune(params.finetune, data, out_dir, threads)
        info |= {"id": f"{params.finetune.base}-finetuned", "base": params.finetune.base,
                 "trained_on": f"{params.finetune.data_path} ({params.finetune.split})"}
    elif params.source == "standin":
        build_standin(params.standin, out_dir)
        info |= {
            "id": f"standin-roberta-{params.standin.size}",
            "size": params.standin.size,
            "seed": params.standin.seed,
        }
    elif params.source == "local":
        normalise_checkpoint(Path(params.local_path or ""), out_dir)
        info |= {"id": str(params.local_path)}
    else:
        snapshot = fetch_snapshot(params.id, params.revision, "model", HUB_FILES, OFFLINE_OPTIONS)
        normalise_checkpoint(snapshot, out_dir)
        info |= {"id": params.id, "revision": params.revision, "commit": snapshot_commit(snapshot)}
    config = json.loads((out_dir / "config.json").read_text())
    info["labels"] = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    record = ModelInfo.model_validate(info)
    write_result(out_dir / MODEL_INFO, record, exclude_none=True)
    return record, training


def write_training(training: TrainingRun | None, source: str, metrics: Path, curve: Path) -> None:
    """The training record without its curve (metrics) and the loss per step (plot); empty when not trained."""
    run = training.model_dump(exclude={"loss_curve"}) if training is not None else {}
    write_result(metrics, TrainingRecord(source=source, trained=training is not None, **run), exclude_none=True)
    frame = pd.DataFrame([point.model_dump() for point in training.loss_curve] if training else [],
                         columns=["step", "epoch", "loss"])
    frame.to_csv(curve, index=False)
