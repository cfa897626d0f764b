"""export stage: PyTorch checkpoint to ONNX (the ``onnx-fp32`` variant), with a parity gate.

The legacy TorchScript exporter with eager attention is the default because it is the only path whose graph ONNX
Runtime's transformer optimizer fuses into ``Attention`` nodes (design.md, traps). Parity is checked on padded
batches of real evaluation texts at several shapes: padding is where position ids and attention masks go wrong.
"""

from __future__ import annotations

from stages.common.artifacts import DATASET_DIR, MODEL_DIR, VARIANTS_DIR
from stages.common.cli import run_stage, stage_parser
from stages.model.export import export_stage
from stages.params.base import StageParams, load_params
from stages.params.export import ExportParams
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams


class Settings(StageParams):
    export: ExportParams = ExportParams()
    tokenizer: TokenizerParams = TokenizerParams()
    runtime: RuntimeParams = RuntimeParams()


def main() -> None:
    parser = stage_parser(__doc__, model=MODEL_DIR, dataset=DATASET_DIR, out=VARIANTS_DIR / "onnx-fp32")
    args = parser.parse_args()
    params = load_params(Settings, args.params)
    info = export_stage(args.model, args.dataset, args.out, params.export, params.tokenizer, params.runtime.threads)
    print(
        f"export: {info.exporter} opset {info.opset}, {(info.size_bytes or 0) / 2**20:.1f} MiB, "
        f"parity max |Δlogit| {info.parity_max_abs_logit_diff or 0.0:.2e} over {len(info.parity)} shapes -> {args.out}"
    )


if __name__ == "__main__":
    run_stage("export", main)
