"""convert stage: derive the ``onnx-fp16`` and ``onnx-int8`` variants from the ONNX export.

One DVC stage per variant, so switching one off or retuning it reruns only that conversion and what reads it.
A disabled variant still writes its ``variant.json`` (``enabled: false``) so DVC has an output to track and
later stages know to skip it. FP16 pays off on GPUs; INT8 dynamic quantization is the CPU winner (design.md).
"""

from __future__ import annotations

from pathlib import Path

from stages.common.artifacts import MODEL_DIR, VARIANTS_DIR
from stages.common.cli import run_stage, stage_parser
from stages.model.convert import CONVERTERS, convert_variant
from stages.params.base import StageParams, load_params
from stages.params.convert import ConvertParams


class Settings(StageParams):
    convert: ConvertParams = ConvertParams()


def main() -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("variant", choices=sorted(CONVERTERS))
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--export", type=Path, default=VARIANTS_DIR / "onnx-fp32")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    convert = load_params(Settings, args.params).convert
    params = convert.fp16 if args.variant == "onnx-fp16" else convert.int8
    out_dir = args.out or VARIANTS_DIR / args.variant
    info = convert_variant(args.variant, params, args.export, args.model, out_dir)
    size = f"{(info.size_bytes or 0) / 2**20:.1f} MiB" if info.enabled else "disabled"
    print(f"convert: {args.variant}: {size} -> {out_dir}")


if __name__ == "__main__":
    run_stage("convert", main)
