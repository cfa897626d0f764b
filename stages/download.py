"""download stage: put the classifier to serve into ``data/model`` in one normalised Hugging Face layout.

Sources: the Hub (``model.id`` at ``model.revision``), a local folder, the offline stand-in, or a pretrained
encoder fine-tuned here (``model.source: finetune``, :mod:`stages.model.finetune`). Whatever the source, the output
is saved by transformers itself (safetensors weights, ``tokenizer.json``), so every later stage loads one format,
and ``model_info.json`` records where the model came from and whether it is a stand-in. ``results/training.json``
(DVC metrics) and ``results/training_loss.csv`` (DVC plot) record the fine-tuning run, or say there was none.
"""

from __future__ import annotations

from stages.common.artifacts import MODEL_DIR, TRAINING_JSON, TRAINING_LOSS_CSV
from stages.common.cli import run_stage, stage_parser
from stages.model.download import download_model, write_training
from stages.params.base import StageParams, load_params
from stages.params.data import DataParams
from stages.params.model import ModelParams
from stages.params.runtime import RuntimeParams


class Settings(StageParams):
    model: ModelParams = ModelParams()
    data: DataParams = DataParams()
    runtime: RuntimeParams = RuntimeParams()


def main() -> None:
    parser = stage_parser(__doc__, out=MODEL_DIR, training=TRAINING_JSON, training_loss=TRAINING_LOSS_CSV)
    args = parser.parse_args()
    params = load_params(Settings, args.params)
    info, training = download_model(params.model, params.data, args.out, params.runtime.threads)
    write_training(training, params.model.source, args.training, args.training_loss)
    trained = f", fine-tuned in {training.wall_s:.0f} s, final loss {training.final_loss:.3f}" if training else ""
    print(f"download: {info.id} ({info.source}) -> {args.out}, labels {info.labels}{trained}")


if __name__ == "__main__":
    run_stage("download", main)
