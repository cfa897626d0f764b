import hashlib
from pathlib import Path

import numpy as np
import torch

from stages.model.standin import LABELS, build_config, build_standin, build_tokenizer, head_weights
from stages.model.variants import parse_variant
from stages.params.model import StandinParams


def test_tokenizer_is_byte_level_bpe_with_roberta_special_ids() -> None:
    tokenizer = build_tokenizer()
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (
        0,
        1,
        2,
        3,
    )
    ids = tokenizer("Hello world! @user #fun")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert 5 < len(ids) < 15  # real BPE merges, not characters nor a 5-token vocabulary
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Hello world! @user #fun"
    padded = tokenizer(["a", "a much longer sentence here"], padding=True)["input_ids"]
    assert padded[0][-1] == 1


def test_base_config_has_roberta_base_shapes() -> None:
    config = build_config("base")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.max_position_embeddings, config.type_vocab_size, config.pad_token_id) == (514, 1, 1)
    assert config.vocab_size == 50265 and config.id2label == dict(enumerate(LABELS))


def test_tiny_standin_has_a_trained_like_logit_spread(tiny_model: Path, small_dataset: Path) -> None:
    import pandas as pd
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = pd.read_parquet(small_dataset / "eval.parquet")["text"].tolist()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
    ordered = np.sort(logits, axis=1)
    assert np.median(ordered[:, -1] - ordered[:, -2]) > 0.5  # clear winners, not near-ties
    assert len(set(logits.argmax(axis=1))) >= 2  # predictions spread over classes
    assert parse_variant("pytorch-fp32", tiny_model).size_bytes > 0


def test_head_calibration_is_blind_to_last_bit_differences_between_cpus() -> None:
    """Other instruction sets change float sums in their last bits; the head weights must not change at all."""
    features = torch.randn(256, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weight, bias = head_weights(features, spread=3.0)
    for seed in range(5):
        noise = torch.randn(features.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        jittered = features * (1 + 1e-12 * noise)  # far below float32 resolution, as an AVX-512 sum would differ
        other_weight, other_bias = head_weights(jittered, spread=3.0)
        assert torch.equal(weight, other_weight) and torch.equal(bias, other_bias)
    assert torch.equal(head_weights(-features, 3.0)[0].abs(), weight.abs())  # SVD sign choice does not leak


def test_the_stand_in_is_byte_identical_across_builds_and_thread_counts(tmp_path: Path) -> None:
    hashes = set()
    threads_before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = build_standin(StandinParams(size="tiny"), tmp_path / f"t{threads}")
            hashes.add(hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest())
    finally:
        torch.set_num_threads(threads_before)  # later tests in this process time with the default
    assert len(hashes) == 1
