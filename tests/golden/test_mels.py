"""The two mel spectrograms, the resampler and the conditioning crops match the original (mels.pt).

Measured on the shipped fixture: every log-mel within 1.6e-5 absolute of the reference (its own fp64 noise is
1.1e-5 .. 1.7e-5), resampling within 7e-6, the diffusion conditioning mel within 1.4e-4 (resampling noise amplified
by the log near the 1e-5 floor). The test uses the fixture's tolerances (1e-4 .. 4e-4; 3e-3 for that last one).
"""

from __future__ import annotations

import re

import pytest
import torch

from tests.golden.fixtures import assert_golden, load_fixture
from tortoise import audio

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("mels", on_device=False)


def _signal_ids(fixture) -> list[str]:
    ids = sorted(m.group(1) for k in fixture["inputs"] if (m := re.fullmatch(r"wav22_(\w+)", k)))
    assert ids, "fixture has no wav22_* inputs"
    return ids


def test_config_matches_our_constants(fixture):
    cfg = fixture["config"]
    ar, voc = cfg["TorchMelSpectrogram"], cfg["TacotronSTFT"]
    assert (ar["filter_length"], ar["hop_length"], ar["win_length"]) == (audio.N_FFT, audio.HOP_LENGTH, audio.N_FFT)
    assert (ar["n_mel_channels"], ar["mel_fmax"], ar["sampling_rate"]) == (
        audio.AR_N_MELS,
        audio.AR_FMAX,
        audio.AR_SAMPLE_RATE,
    )
    assert (voc["n_mel_channels"], voc["mel_fmax"], voc["sampling_rate"]) == (
        audio.VOC_N_MELS,
        audio.VOC_FMAX,
        audio.OUTPUT_SAMPLE_RATE,
    )
    assert cfg["format_conditioning"]["cond_length"] == audio.COND_LENGTH
    assert cfg["diffusion_cond_length"] == audio.DIFFUSION_COND_LENGTH
    if "mel_norms" in fixture["inputs"]:
        torch.testing.assert_close(audio.mel_norms(), fixture["inputs"]["mel_norms"], rtol=0, atol=0)


def test_outputs(fixture):
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    sr22 = inputs.get("sample_rate_22k", audio.AR_SAMPLE_RATE)
    sr24 = inputs.get("sample_rate_24k", audio.OUTPUT_SAMPLE_RATE)
    checked = 0
    for i in _signal_ids(fixture):
        wav22 = inputs[f"wav22_{i}"]
        wav24 = inputs.get(f"wav24_{i}", outputs.get(f"resampled_24k_{i}"))
        computed = {
            f"ar_mel_{i}": lambda w=wav22: audio.ar_mel(w),
            f"resampled_24k_{i}": lambda w=wav22: audio.resample(w, sr22, sr24),
            f"univnet_mel_{i}": lambda w=wav24: audio.vocoder_mel(w),
            f"univnet_mel_normalized_{i}": lambda w=wav24: audio.vocoder_mel(w, normalize=True),
            f"format_conditioning_{i}": lambda w=wav22: audio.format_conditioning(w),
            f"diffusion_cond_mel_{i}": lambda w=wav22: audio.diffusion_conditioning_mel(w),
        }
        for key, fn in computed.items():
            if key in outputs:
                assert_golden(fn(), fixture, key)
                checked += 1
    unknown = set(outputs) - {k for i in _signal_ids(fixture) for k in outputs if k.endswith(f"_{i}")}
    assert not unknown, f"outputs this test does not know how to check: {sorted(unknown)}"
    assert checked > 0
