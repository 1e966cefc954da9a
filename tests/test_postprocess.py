"""VoiceFixer post-processing: the missing-package path for real, the glue with stand-in packages."""

from __future__ import annotations

import math
import sys
import types
from typing import ClassVar

import numpy as np
import pytest
import torch

from tortoise import postprocess
from tortoise.errors import TortoiseError
from tortoise.postprocess import VoiceFixerUnavailableError, apply_voicefixer, voicefixer_available


@pytest.fixture(autouse=True)
def fresh_state():
    postprocess._restorer.cache_clear()
    yield
    postprocess._restorer.cache_clear()
    sys.modules.pop("voicefixer", None)


def tone(seconds: float = 0.5, sr: int = 24_000) -> torch.Tensor:
    t = torch.arange(int(seconds * sr)) / sr
    return 0.5 * torch.sin(2 * math.pi * 440 * t)


class FakeVoiceFixer:
    """Stands in for ``voicefixer.VoiceFixer``: halves the signal, returns (1, S) like the real one."""

    calls: ClassVar[list[dict]] = []

    def restore_inmem(self, wav, cuda=False, mode=0):
        FakeVoiceFixer.calls.append({"wav": wav, "cuda": cuda, "mode": mode})
        return (0.5 * wav)[None]


def fake_module() -> types.ModuleType:
    module = types.ModuleType("voicefixer")
    module.VoiceFixer = FakeVoiceFixer
    FakeVoiceFixer.calls = []
    return module


@pytest.mark.skipif(voicefixer_available(), reason="voicefixer is installed here")
def test_missing_package_says_how_to_install():
    assert not voicefixer_available()
    with pytest.raises(VoiceFixerUnavailableError, match="pip install voicefixer") as info:
        apply_voicefixer(tone(), 24_000)
    assert isinstance(info.value, TortoiseError) and "weights" in str(info.value)


def test_glue_resamples_to_44k_and_back():
    audio = tone()[None, None]  # (1, 1, S) as the pipeline holds it
    out, sr = apply_voicefixer(audio, 24_000, module=fake_module())
    (call,) = FakeVoiceFixer.calls
    assert call["wav"].dtype == np.float32 and call["wav"].ndim == 1
    assert abs(call["wav"].shape[0] - 0.5 * 44_100) <= 1
    assert (call["cuda"], call["mode"]) == (False, 0)
    assert sr == 24_000 and isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.shape[:2] == (1, 1) and abs(out.shape[-1] - audio.shape[-1]) <= 1
    n = min(out.shape[-1], audio.shape[-1])
    middle = slice(1000, n - 1000)  # away from the resampler's edges
    assert torch.allclose(out[..., middle], 0.5 * audio[..., middle], atol=1e-3)


def test_glue_numpy_rates_device_and_mode():
    out, sr = apply_voicefixer(tone(sr=22_050).numpy(), 22_050, module=fake_module(), device=torch.device("cuda"))
    assert isinstance(out, np.ndarray) and sr == 24_000 and abs(out.shape[0] - 12_000) <= 1
    assert FakeVoiceFixer.calls[-1]["cuda"] is True  # the flag is passed; the fake never touches CUDA
    with pytest.warns(UserWarning, match="CUDA or the CPU only, not xpu"):
        apply_voicefixer(tone(), 24_000, module=fake_module(), device="xpu", mode=2, target_sample_rate=44_100)
    assert (FakeVoiceFixer.calls[-1]["cuda"], FakeVoiceFixer.calls[-1]["mode"]) == (False, 2)


def test_glue_rejects_bad_input():
    with pytest.raises(ValueError, match="mono"):
        apply_voicefixer(torch.zeros(2, 100), 24_000, module=fake_module())
    with pytest.raises(ValueError, match="mode=3"):
        apply_voicefixer(tone(), 24_000, module=fake_module(), mode=3)


def test_output_is_clipped():
    module = fake_module()
    module.VoiceFixer = type("Loud", (), {"restore_inmem": lambda self, wav, cuda, mode: 10 * wav})
    out, _ = apply_voicefixer(tone(), 24_000, module=module)
    assert out.abs().max() <= 1.0


def write_package(tmp_path, source: str, monkeypatch) -> None:
    (tmp_path / "voicefixer").mkdir()
    (tmp_path / "voicefixer" / "__init__.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_installed_package_is_imported_and_used(tmp_path, monkeypatch):
    write_package(
        tmp_path,
        "class VoiceFixer:\n    def restore_inmem(self, wav, cuda=False, mode=0):\n        return wav[None]\n",
        monkeypatch,
    )
    assert voicefixer_available()
    out, sr = apply_voicefixer(tone(), 24_000)
    assert sr == 24_000 and abs(out.shape[-1] - tone().shape[-1]) <= 1


def test_weights_download_failure_is_explained(tmp_path, monkeypatch):
    write_package(tmp_path, "import urllib.error\nraise urllib.error.URLError('no network')\n", monkeypatch)
    assert voicefixer_available()
    with pytest.raises(VoiceFixerUnavailableError, match=r"could not fetch its model weights.*no network"):
        apply_voicefixer(tone(), 24_000)


def test_missing_checkpoint_in_constructor_is_explained():
    module = fake_module()

    def broken():
        raise RuntimeError("Error 0: The checkpoint for analysis module (vf.ckpt) is not found")

    module.VoiceFixer = broken
    with pytest.raises(VoiceFixerUnavailableError, match=r"vf\.ckpt"):
        apply_voicefixer(tone(), 24_000, module=module)
