"""No float64 on the device: Intel Arc GPUs have none (an op in float64 fails or falls back to the CPU).

The whole tiny pipeline runs under a dispatch mode that records every operation touching a float64 tensor. Only the
host-side builders may compute in float64 (diffusion schedules, mel filterbanks, resampling kernels: built once on
the CPU, converted to float32 there, then moved), and host tensors may be read into Python numbers anywhere; any
other float64 operation fails the test, naming where it happened. On a
GPU (``TORTOISE_TEST_DEVICE``) every float64 tensor must moreover be on the CPU.
"""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from tests.golden.fixtures import TEST_DEVICE
from tortoise.options import preset

PACKAGE = str(Path(__file__).resolve().parents[1] / "tortoise")
# host-side code allowed to compute in float64 (function names, innermost frame in tortoise/)
HOST_BUILDERS = {
    "diffusion.py": {"respaced_schedule", "linear_betas", "space_timesteps", "sigmas", "_floats"},
    "audio.py": {"mel_filters", "_fb_tensor", "_sinc_kernel"},
}
# reading a float64 host tensor into Python numbers (``.tolist()``, ``float(t[0])``) is no computation: allowed anywhere
HOST_READS = {"aten.item.default", "aten.select.int", "aten.resolve_conj.default", "aten.resolve_neg.default"}


class Float64Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        doubles = [
            t
            for t in tree_flatten((args, kwargs, out))[0]
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype == torch.float64
        ]
        if doubles:
            frames = [f for f in traceback.extract_stack()[:-1] if f.filename.startswith(PACKAGE)]
            where = frames[-1] if frames else None
            allowed = str(func) in HOST_READS or (
                where is not None and where.name in HOST_BUILDERS.get(Path(where.filename).name, ())
            )
            on_device = [t.device for t in doubles if t.device.type != "cpu"]
            if not allowed or on_device:
                place = f"{Path(where.filename).name}:{where.lineno} {where.name}" if where else "outside tortoise"
                self.found.append(f"{func} at {place}" + (f" on {on_device[0]}" if on_device else ""))
        return out


@pytest.fixture
def recorded(tts_factory, tmp_path):
    """Run every path of the pipeline (fresh latent cache, so the conditioning is computed too) under the recorder."""
    tts = tts_factory(enable_redaction=False)
    quick = preset("ultra_fast", num_autoregressive_samples=2, diffusion_steps=2, max_mel_tokens=24, seed=1)
    runs = [
        ("Hello there, friend.", "train_grace&train_dotrice", dataclasses.replace(quick, cvvp_amount=0.5)),
        *(
            ("Hello there.", "train_grace", dataclasses.replace(quick, sampler=s))
            for s in ("ddim", "dpm++2m", "dpm++2m-sde")
        ),
        ("Hello there.", "train_grace", dataclasses.replace(quick, vocoder="bigvgan")),
        ("Hello there.", "random", preset("fast_mode", max_mel_tokens=24, seed=2)),
    ]
    recorder = Float64Recorder()
    with recorder:
        for text, voice, options in runs:
            assert tts.tts(text, voice, options).audio[0].numel() > 0
        chunks = list(tts.stream("Streamed.", "train_grace", preset("fast_mode", max_mel_tokens=24, seed=3)))
    assert chunks
    return recorder.found


def test_the_pipeline_computes_nothing_in_float64_on_the_device(recorded):
    assert not recorded, "float64 operations outside the host-side builders:\n" + "\n".join(sorted(set(recorded)))


def test_the_recorder_catches_a_float64_operation():
    recorder = Float64Recorder()
    with recorder:
        (torch.ones(3, device=TEST_DEVICE, dtype=torch.float64) * 2).sum()
    assert recorder.found  # outside the builders (and, on a GPU, on the device): reported
