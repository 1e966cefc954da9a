"""Shared pytest set-up: deterministic, single-threaded-friendly CPU tests."""

from __future__ import annotations

import os

import pytest
import torch

# Keep test runs reproducible and light on a 2-core machine unless the caller says otherwise.
torch.set_num_threads(int(os.environ.get("TORTOISE_TEST_THREADS", "2")))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A models folder of tiny random-weight checkpoints in the released files' layout (see model_zoo)."""
    from tortoise.model_zoo import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny-models"), seed=0)


@pytest.fixture
def tts_factory(tiny_models, tmp_path):
    """Make a ``TextToSpeech`` on the tiny models with private voice, cache and user folders."""
    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.voices import VoiceLibrary

    def make(**kwargs):
        kwargs.setdefault("voices", VoiceLibrary(user_dir=tmp_path / "user-voices"))
        kwargs.setdefault("latent_cache", LatentCache(tmp_path / "latent-cache"))
        return TextToSpeech(models_dir=tiny_models, device="cpu", **kwargs)

    return make
