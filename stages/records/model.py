"""What the download stage records of the model it put into ``data/model`` (``model_info.json``)."""

from __future__ import annotations

from stages.records.base import Result


class ModelInfo(Result):
    """Where the model in ``data/model`` came from (``model_info.json``), and what each later stage needs of it."""

    source: str  # hub | local | standin | finetune
    standin: bool
    id: str
    labels: list[str]
    # provenance that depends on the source: revision and commit (hub), size and seed (standin), base (finetune)
    revision: str | None = None
    commit: str | None = None
    size: str | None = None
    seed: int | None = None
    base: str | None = None
    trained_on: str | None = None
