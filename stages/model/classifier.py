"""The one inference code path: tokenize, run a variant, return labels and probabilities.

Validation, offline benchmarks and the BentoML service all go through :class:`SentimentClassifier`, so what is
validated is exactly what is served. The runtime (PyTorch or ONNX Runtime) hides behind :class:`Backend`; each
backend imports its runtime when it is built, so that serving an ONNX variant never imports torch or
transformers (seconds of start-up in every worker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from stages.common.errors import ServebenchError
from stages.model.tokenizer import Encoded, FastTokenizer
from stages.model.variants import Variant
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams


class Backend(Protocol):
    """Maps a padded, encoded batch to raw logits; ``input_names`` are the arrays its model takes."""

    input_names: list[str]

    def logits(self, encoded: Encoded) -> np.ndarray: ...


class TorchBackend:
    """Eager PyTorch, FP32 on CPU; FP16 only on CUDA (CPU half-precision matmuls are slower than FP32)."""

    def __init__(self, model_dir: Path, precision: str, runtime: RuntimeParams) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

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
        self.input_names = list(AutoTokenizer.from_pretrained(model_dir).model_input_names)

    def logits(self, encoded: Encoded) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            output = self.model(**{name: torch.from_numpy(encoded[name]).to(self.device) for name in self.input_names})
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
        self.input_names = [graph_input.name for graph_input in self.session.get_inputs()]
        shape = self.session.get_inputs()[0].shape
        self.static_batch = shape[0] if isinstance(shape[0], int) else None
        self.static_length = shape[1] if isinstance(shape[1], int) else None

    def _fill(self, name: str, row: bool) -> int:
        """Padding value: the pad id for token ids; a fully attended row for filler rows (an all-zero mask
        makes softmax over nothing, NaN); zero otherwise."""
        if name == "input_ids":
            return self.pad_token_id
        return 1 if row and name == "attention_mask" else 0

    def logits(self, encoded: Encoded) -> np.ndarray:
        arrays = {name: encoded[name] for name in self.input_names}
        if self.static_length is not None:
            arrays = {
                name: np.pad(array, ((0, 0), (0, self.static_length - array.shape[1])),
                             constant_values=self._fill(name, row=False))
                for name, array in arrays.items()
            }
        rows = len(arrays["input_ids"])
        step = self.static_batch or rows
        chunks = []
        for start in range(0, rows, step):
            batch = {name: array[start : start + step] for name, array in arrays.items()}
            missing = step - len(batch["input_ids"])
            if missing:
                batch = {
                    name: np.pad(array, ((0, missing), (0, 0)), constant_values=self._fill(name, row=True))
                    for name, array in batch.items()
                }
            out = self.session.run(["logits"], batch)[0]
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

    def __init__(self, backend: Backend, tokenizer: FastTokenizer, labels: list[str], tokenizing: TokenizerParams
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
        tokenizer = FastTokenizer(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        backend: Backend
        if variant.runtime == "pytorch":
            backend = TorchBackend(variant.path, variant.precision, runtime)
        else:
            backend = OnnxBackend(variant.path, runtime, tokenizer.pad_token_id)
            missing_inputs = set(backend.input_names) - set(FastTokenizer.OUTPUTS)
            if missing_inputs:  # checked once here, not on every call
                raise ServebenchError(f"the ONNX graph {variant.path} needs inputs {sorted(missing_inputs)} that the "
                                      f"tokenizer does not produce ({list(FastTokenizer.OUTPUTS)})")
            if backend.static_length is not None:
                tokenizing = tokenizing.model_copy(
                    update={"max_length": min(tokenizing.max_length, backend.static_length)}
                )
        return cls(backend, tokenizer, labels, tokenizing)

    def encode(self, texts: list[str]) -> Encoded:
        """The arrays the backend's model takes, by name."""
        encoded = self.tokenizer.encode(texts, self.tokenizing)
        return {name: encoded[name] for name in self.backend.input_names}

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``."""
        return softmax(self.backend.logits(self.encode(texts)))

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
