"""The ``tokenizer`` section: how texts become model inputs (export, validation and serving alike)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.params.base import Section


class TokenizerParams(Section):
    max_length: Annotated[int, Field(ge=8, le=512)] = 128
    padding: Literal["longest", "max_length"] = "longest"
    truncation: bool = True
