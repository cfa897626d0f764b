"""Tokenization with Hugging Face ``tokenizers`` (Rust), straight from the checkpoint's ``tokenizer.json``.

transformers' fast tokenizers wrap this same library; calling it directly gives the same ids (a test holds them
equal) without importing transformers, and so without torch: an ONNX variant is served by this and ONNX Runtime
alone, which is most of why its server starts in seconds. Padding and truncation are set here the way
transformers sets them for ``padding="longest"|"max_length"``, ``truncation=True``, ``max_length``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from stages.params.tokenizer import TokenizerParams

Encoded = dict[str, np.ndarray]
"""The tokenizer's arrays by name (``input_ids``, ``attention_mask``, ``token_type_ids``), int64.

A backend takes the ones its model was exported or built with, by name, so that RoBERTa's two inputs and
BERT's three take one code path."""


def _token(value: str | dict | None) -> str | None:
    """A special token as tokenizer_config.json stores it: a string, or an AddedToken dict with ``content``."""
    return value.get("content") if isinstance(value, dict) else value


class FastTokenizer:
    """Texts to padded, truncated int64 arrays, as the checkpoint's tokenizer makes them."""

    OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        config = json.loads((model_dir / "tokenizer_config.json").read_text())
        self.pad_token = _token(config.get("pad_token"))
        pad_id = self._tokenizer.token_to_id(self.pad_token) if self.pad_token is not None else None
        if pad_id is None:
            raise ValueError(f"{model_dir}: the tokenizer has no pad token ({self.pad_token!r}); batches need one")
        self.pad_token_id: int = pad_id
        self._settings: TokenizerParams | None = None

    def _configure(self, tokenizing: TokenizerParams) -> None:
        """Truncation and padding of ``tokenizing``; set once per distinct setting (they are stateful)."""
        if self._settings == tokenizing:
            return
        if tokenizing.truncation:
            self._tokenizer.enable_truncation(max_length=tokenizing.max_length)
        else:
            self._tokenizer.no_truncation()
        length = tokenizing.max_length if tokenizing.padding == "max_length" else None
        self._tokenizer.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token, length=length)
        self._settings = tokenizing

    def encode(self, texts: list[str], tokenizing: TokenizerParams) -> Encoded:
        self._configure(tokenizing)
        encodings = self._tokenizer.encode_batch(texts)
        columns = (
            [e.ids for e in encodings], [e.attention_mask for e in encodings], [e.type_ids for e in encodings])
        return {name: np.array(rows, dtype=np.int64) for name, rows in zip(self.OUTPUTS, columns, strict=True)}
