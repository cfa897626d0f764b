"""What the model stages record: the model in ``data/model`` (``model_info.json``), its fine-tuning
(``results/training.json``), and how each variant was made (``variant.json``)."""

from __future__ import annotations

from stages.records.base import RecordFile, Result


class ModelInfo(RecordFile):
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


class LossPoint(Result):
    step: int
    epoch: int
    loss: float


class TrainingRun(Result):
    """A fine-tuning run (:func:`stages.model.finetune.finetune`), its loss per step included."""

    base: str
    base_folder: str
    split: str
    examples: int
    epochs: int
    steps: int
    wall_s: float
    final_loss: float
    loss_curve: list[LossPoint]


class TrainingRecord(RecordFile):
    """``results/training.json`` (DVC metrics): the run without its curve (``training_loss.csv``), or a note that
    the model was not trained here."""

    source: str
    trained: bool
    base: str | None = None
    base_folder: str | None = None
    split: str | None = None
    examples: int | None = None
    epochs: int | None = None
    steps: int | None = None
    wall_s: float | None = None
    final_loss: float | None = None


class ParityCheck(Result):
    """The ONNX export against PyTorch on one padded batch shape."""

    batch: int
    sequence: int
    padded_fraction: float
    max_abs_logit_diff: float


class VariantInfo(RecordFile):
    """``variant.json``: how a variant was made (the ONNX export, or a conversion with its settings), or that its
    conversion is off (DVC still has a file to track)."""

    variant: str
    enabled: bool
    size_bytes: int | None = None
    exporter: str | None = None
    opset: int | None = None
    dynamic_axes: bool | None = None
    parity: list[ParityCheck] = []
    parity_atol: float | None = None
    parity_max_abs_logit_diff: float | None = None
    optimize_graph: bool | None = None  # both conversions
    keep_io_types: bool | None = None  # FP16
    op_block_list: list[str] | None = None
    weight_type: str | None = None  # INT8
    per_channel: bool | None = None
    reduce_range: bool | None = None
