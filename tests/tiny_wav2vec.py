"""A tiny random-weight wav2vec2 CTC model (transformers) for the aligner and the project checks: no download."""

from __future__ import annotations

import pytest
import torch

LETTERS = "abcdefghijklmnopqrstuvwxyz'"
TOKENS = {"<pad>": 0, "|": 1, **{c: i + 2 for i, c in enumerate(LETTERS)}}  # blank 0, word separator 1


def tiny_config(vocab_size: int, **overrides):
    transformers = pytest.importorskip("transformers")
    settings = dict(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0,
    )  # fmt: skip
    return transformers.Wav2Vec2Config(**{**settings, **overrides})


def tiny_model(vocab_size: int = 10):
    """The model with seeded random weights, in eval mode."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    return transformers.Wav2Vec2ForCTC(tiny_config(vocab_size)).eval()


def tiny_aligner():
    """A ``Wav2VecAligner`` over a letters vocabulary (``TOKENS``)."""
    from tortoise.redaction import CTCVocab, Wav2VecAligner

    return Wav2VecAligner(model=tiny_model(len(TOKENS)), vocab=CTCVocab(TOKENS, blank_id=0))


def install_tiny_recogniser(hub) -> None:
    """The tiny model and its letters vocabulary in the Hugging Face cache folder ``hub`` (``$HF_HOME/hub``), under
    the real recogniser's names (``tortoise.redaction.MODEL_ID``, ``VOCAB_ID``): whatever loads the recogniser from
    that cache (the app's take checks) loads this one, as it would the real one."""
    import json
    from pathlib import Path

    from tortoise.redaction import MODEL_ID, VOCAB_ID

    def snapshot(repo_id: str) -> Path:
        commit = "0123456789abcdef0123456789abcdef01234567"
        root = Path(hub) / f"models--{repo_id.replace('/', '--')}"
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / "main").write_text(commit)
        (root / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        return root / "snapshots" / commit

    tiny_model(len(TOKENS)).save_pretrained(snapshot(MODEL_ID))
    vocab = snapshot(VOCAB_ID)
    (vocab / "vocab.json").write_text(json.dumps(TOKENS))
    (vocab / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>", "word_delimiter_token": "|"}))
