"""The ``runtime`` section: threads and execution providers of every model session."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.params.base import Section


class RuntimeParams(Section):
    threads: Annotated[int, Field(ge=0, le=256)] = 2
    providers: Literal["auto", "cpu", "cuda"] = "auto"
    # ONNX Runtime's intra-op threads busy-wait between ops by default: fastest alone, but on a small machine the
    # spinning can steal the CPU a server's event loop needs.
    spinning: bool = True
