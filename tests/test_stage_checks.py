"""NaN or infinity from any stage stops the job with an error naming the stage (seen on Arc GPUs with some drivers),
and emptying the device cache can be turned off."""

from __future__ import annotations

import types

import pytest
import torch

from tortoise import api, devices
from tortoise.errors import NonFiniteError
from tortoise.options import preset

QUICK = preset("ultra_fast", num_autoregressive_samples=1, diffusion_steps=2, max_mel_tokens=20, seed=1)


def test_nan_from_the_diffusion_decoder_names_the_stage(tts_factory, monkeypatch):
    tts = tts_factory(enable_redaction=False)
    real = api.decode_mel
    monkeypatch.setattr(api, "decode_mel", lambda *a, **k: torch.full_like(real(*a, **k), float("nan")))
    with pytest.raises(NonFiniteError, match=r"the diffusion stage produced NaN .* --precision fp32"):
        tts.tts("Hello there.", "train_grace", QUICK)


def test_infinity_in_the_voice_latents_is_caught_before_the_models_run(tts_factory, monkeypatch):
    tts = tts_factory(enable_redaction=False)
    good = tts.voice_latents("train_grace")
    bad = type(good)(good.ar * float("inf"), good.diffusion)
    monkeypatch.setattr(tts, "voice_latents", lambda voice, diffusion=True: bad)
    monkeypatch.setattr(tts, "_sample_codes", lambda *a, **k: pytest.fail("the AR model ran on bad latents"))
    with pytest.raises(NonFiniteError, match="the conditioning stage"):
        tts.tts("Hello there.", "train_grace", QUICK)


def test_nan_in_fast_mode_and_in_a_stream_names_the_vocoder(tts_factory, monkeypatch):
    tts = tts_factory(enable_redaction=False)
    hifi = tts.model("hifidecoder")
    monkeypatch.setattr(hifi, "inference", lambda *a, **k: torch.full((1, 1, 256), float("nan")))
    fast = preset("fast_mode", max_mel_tokens=20, seed=1)
    with pytest.raises(NonFiniteError, match="the vocoder stage"):
        tts.tts("Hello there.", "train_grace", fast)
    with pytest.raises(NonFiniteError, match="the vocoder stage"):
        list(tts.stream("Hello there.", "train_grace", fast))


def test_emptying_the_device_cache_can_be_turned_off(monkeypatch):
    calls = []
    fake = types.SimpleNamespace(empty_cache=lambda: calls.append(1))
    monkeypatch.setattr(devices, "_backend", lambda kind: fake)
    monkeypatch.setattr(devices, "is_available", lambda kind: True)
    device = torch.device("xpu", 0)
    devices.empty_cache(device)
    assert calls == [1]
    monkeypatch.setenv("TORTOISE_NO_EMPTY_CACHE", "1")
    devices.empty_cache(device)
    assert calls == [1]  # kept: nothing is given back, nothing can be corrupted by it
