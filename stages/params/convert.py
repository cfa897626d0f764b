"""The ``convert`` section: the FP16 and INT8 variants made from the ONNX export."""

from __future__ import annotations

from typing import Literal

from stages.params.base import Section


class Fp16Params(Section):
    enabled: bool = True
    keep_io_types: bool = True
    op_block_list: list[str] = []
    optimize_graph: bool = False


class Int8Params(Section):
    enabled: bool = True
    weight_type: Literal["qint8", "quint8"] = "qint8"
    per_channel: bool = True
    reduce_range: bool = False
    optimize_graph: bool = True


class ConvertParams(Section):
    fp16: Fp16Params = Fp16Params()
    int8: Int8Params = Int8Params()
