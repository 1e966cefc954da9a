"""A tiny random-weight wav2vec2 CTC model (transformers) for the aligner and the project checks: no download."""

from __future__ import annotations

import pytest
import torch

LETTERS = "abcdefghijklmnopqrstuvwxyz'"


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
    """A ``Wav2VecAligner`` over a letters vocabulary (blank 0, word separator 1)."""
    from tortoise.redaction import CTCVocab, Wav2VecAligner

    vocab = CTCVocab({"<pad>": 0, "|": 1, **{c: i + 2 for i, c in enumerate(LETTERS)}}, blank_id=0)
    return Wav2VecAligner(model=tiny_model(len(LETTERS) + 2), vocab=vocab)
