"""Reliability fixtures: every test runs offline, with private voices/cache folders, on the tiny models."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No network (the redaction aligner would try the hub), no writes to the real home folders."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORTOISE_VOICES_DIR", str(tmp_path / "user-voices"))


@pytest.fixture(scope="session")
def shared_tts(tiny_models, tmp_path_factory):
    """One pipeline for the whole session (models load once); for tests that do not change its state."""
    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.voices import VoiceLibrary

    root = tmp_path_factory.mktemp("shared-tts")
    return TextToSpeech(
        models_dir=tiny_models,
        device="cpu",
        voices=VoiceLibrary(user_dir=root / "voices"),
        latent_cache=LatentCache(root / "latents"),
        enable_redaction=False,
    )


@pytest.fixture
def tts(tts_factory):
    """A fresh pipeline on the tiny models with redaction off (its aligner needs real weights)."""
    return tts_factory(enable_redaction=False)


@pytest.fixture
def cli(tiny_models, tmp_path, monkeypatch, capsys):
    """Run ``tortoise.cli.main`` in ``tmp_path`` on the tiny models; returns (exit code, stdout, stderr)."""
    from tortoise.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*argv: str, models: bool = True) -> tuple[int, str, str]:
        args = [*argv, "--models-dir", str(tiny_models)] if models else list(argv)
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run
