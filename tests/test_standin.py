import numpy as np
import torch

from stages.standin import LABELS, build_config, build_tokenizer
from stages.variants import parse_variant


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


def test_tiny_standin_has_a_trained_like_logit_spread(tiny_model, small_dataset) -> None:
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
