"""The ``data`` section: the labelled texts every variant is scored on."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from stages.params.base import PositiveInt, Section, require_local_path


class HubDatasetParams(Section):
    id: Annotated[str, Field(min_length=1)] = "cardiffnlp/tweet_eval"
    revision: Annotated[str, Field(min_length=1)] = "main"
    file: Annotated[str, Field(min_length=1)] = "sentiment/test-00000-of-00001.parquet"


class DataParams(Section):
    source: Literal["hub", "local"] = "hub"
    hub: HubDatasetParams = HubDatasetParams()
    local_path: str | None = None
    split: Literal["test", "val"] = "test"
    max_samples: PositiveInt | None = 1000
    seed: int = 0
    corpus_size: PositiveInt = 5000
    labels: Annotated[list[str], Field(min_length=2)] = ["negative", "neutral", "positive"]

    _section: ClassVar[str] = "data"
    _local_what: ClassVar[str] = "a file or TweetEval folder"

    _local_needs_path = model_validator(mode="after")(lambda self: require_local_path(self))
