"""The ``export`` section: the PyTorch to ONNX export and its parity check."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.params.base import PositiveInt, Section

BatchShape = Annotated[list[PositiveInt], Field(min_length=2, max_length=2, description="[batch, sequence length]")]


class ExportParams(Section):
    exporter: Literal["torchscript", "dynamo"] = "torchscript"
    opset: Annotated[int, Field(ge=14, le=21)] = 17
    dynamic_axes: bool = True
    parity_atol: Annotated[float, Field(gt=0.0)] = 1e-3
    parity_shapes: Annotated[list[BatchShape], Field(min_length=1)] = [[1, 16], [4, 32], [8, 64]]
