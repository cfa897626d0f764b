"""The one inference code path: tokenize, run a variant, return labels and probabilities.

Validation, offline benchmarks and the BentoML service all go through :class:`SentimentClassifier`, so what is
validated is exactly what is served. The runtime (PyTorch or ONNX Runtime) hides behind :class:`Backend`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from stages.common.params import RuntimeParams, TokenizerParams
from stages.model.variants import Variant


class Backend(Protocol):
    """Maps a padded batch of token ids to raw logits."""

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """Eager PyTorch, FP32 on CPU; FP16 only on CUDA (CPU half-precision matmuls are slower than FP32)."""

    def __init__(self, model_dir: Path, precision: str, runtime: RuntimeParams) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        self._torch = torch
        use_cuda = runtime.providers != "cpu" and torch.cuda.is_available()
        if runtime.providers == "cuda" and not use_cuda:
            raise RuntimeError("runtime.providers is 'cuda' but torch sees no CUDA device")
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        self.device = torch.device("cuda" if use_cuda else "cpu")
        dtype = torch.float16 if precision == "fp16" else torch.float32
        if dtype == torch.float16 and not use_cuda:
            raise RuntimeError("pytorch-fp16 needs a CUDA device; use onnx-fp16 or onnx-int8 on a CPU")
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype)
        self.model = model.to(self.device).eval()

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            output = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
            )
        return output.logits.float().cpu().numpy()


def choose_providers(setting: str, available: list[str]) -> list[str]:
    """ONNX Runtime providers for ``runtime.providers``: CUDA first when asked for or present, CPU last."""
    if setting == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError(f"runtime.providers is 'cuda' but ONNX Runtime offers only {available}")
    if setting != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxBackend:
    """ONNX Runtime session with fixed thread counts; copes with models exported with static shapes."""

    def __init__(self, model_path: Path, runtime: RuntimeParams, pad_token_id: int) -> None:
        import onnxruntime as ort

        self.pad_token_id = pad_token_id
        options = ort.SessionOptions()
        options.intra_op_num_threads = runtime.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if runtime.spinning else "0")
        providers = choose_providers(runtime.providers, ort.get_available_providers())
        self.session = ort.InferenceSession(str(model_path), options, providers=providers)
        self.providers = self.session.get_providers()
        shape = self.session.get_inputs()[0].shape
        self.static_batch = shape[0] if isinstance(shape[0], int) else None
        self.static_length = shape[1] if isinstance(shape[1], int) else None

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.static_length is not None:
            pad = self.static_length - input_ids.shape[1]
            input_ids = np.pad(input_ids, ((0, 0), (0, pad)), constant_values=self.pad_token_id)
            attention_mask = np.pad(attention_mask, ((0, 0), (0, pad)))
        step = self.static_batch or len(input_ids)
        chunks = []
        for start in range(0, len(input_ids), step):
            ids, mask = input_ids[start : start + step], attention_mask[start : start + step]
            missing = step - len(ids)
            if missing:
                ids = np.pad(ids, ((0, missing), (0, 0)), constant_values=self.pad_token_id)
                mask = np.pad(mask, ((0, missing), (0, 0)), constant_values=1)
            out = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
            chunks.append(out[: step - missing])
        return np.concatenate(chunks).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float
    probabilities: dict[str, float]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class SentimentClassifier:
    """Texts in, probabilities out, for any variant."""

    def __init__(
        self, backend: Backend, tokenizer: PreTrainedTokenizerBase, labels: list[str], tokenizing: TokenizerParams
    ) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.labels = labels
        self.tokenizing = tokenizing

    @classmethod
    def load(
        cls, variant: Variant, model_dir: Path, tokenizing: TokenizerParams, runtime: RuntimeParams
    ) -> SentimentClassifier:
        """Load ``variant``; the tokenizer and label names always come from the reference checkpoint."""
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        backend: Backend
        if variant.runtime == "pytorch":
            backend = TorchBackend(variant.path, variant.precision, runtime)
        else:
            backend = OnnxBackend(variant.path, runtime, tokenizer.pad_token_id)
            if backend.static_length is not None:
                tokenizing = tokenizing.model_copy(
                    update={"max_length": min(tokenizing.max_length, backend.static_length)}
                )
        return cls(backend, tokenizer, labels, tokenizing)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self.tokenizer(
            texts,
            padding=self.tokenizing.padding,
            truncation=self.tokenizing.truncation,
            max_length=self.tokenizing.max_length,
            return_tensors="np",
        )
        return encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``."""
        input_ids, attention_mask = self.encode(texts)
        return softmax(self.backend.logits(input_ids, attention_mask))

    def classify(self, texts: list[str]) -> list[Prediction]:
        probabilities = self.predict_proba(texts)
        return [
            Prediction(
                label=self.labels[int(row.argmax())],
                score=float(row.max()),
                probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
            )
            for row in probabilities
        ]
