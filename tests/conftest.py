"""Shared pytest set-up: deterministic, single-threaded-friendly CPU tests."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# Keep test runs reproducible and light on a 2-core machine unless the caller says otherwise.
torch.set_num_threads(int(os.environ.get("TORTOISE_TEST_THREADS", "2")))
# Where the pipeline (tts_factory) and golden tests run, and in which precision: CPU/fp32 unless a GPU run asks
# (bench/gpu/run.py runs them with cuda and fp32/bf16/fp16).
TEST_DEVICE = os.environ.get("TORTOISE_TEST_DEVICE", "cpu")
TEST_PRECISION = os.environ.get("TORTOISE_TEST_PRECISION", "fp32")
# The CPU kernels the tests were written for, every time: no calibration timings (tortoise/cpu/calibration.py), no
# writes to the user's cache. Tests of the calibration itself choose their mode explicitly.
os.environ.setdefault("TORTOISE_CPU_KERNELS", "fast")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cpu_generator`` compare draws of torch's CPU generator: skipped when the models run elsewhere."""
    if TEST_DEVICE == "cpu":
        return
    skip = pytest.mark.skip(reason=f"draws of the CPU generator; models on {TEST_DEVICE}")
    for item in items:
        if "cpu_generator" in item.keywords:
            item.add_marker(skip)


# Property tests: in CI (CI=true) the same examples every run, so a red CI is a real regression, never a new random
# draw; locally each run explores new examples and replays past failures from .hypothesis/. A failure found by
# exploring becomes an explicit @example on its test. No deadlines anywhere (timing depends on the machine's load).
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", settings.get_profile("default"), deadline=None)  # not hypothesis's own CI guess
_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _CI else "dev"))


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
        kwargs.setdefault("device", TEST_DEVICE)
        kwargs.setdefault("precision", TEST_PRECISION)
        return TextToSpeech(models_dir=tiny_models, **kwargs)

    return make


@pytest.fixture
def app_engine(tiny_models, tmp_path, monkeypatch):
    """The app's ``Engine`` on the tiny models and the CPU, with private config, data and cache folders."""
    from ui.engine import Engine
    from ui.state import Settings

    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("TORTOISE_VOICES_DIR", "TORTOISE_OUTPUT_DIR", "TORTOISE_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return Engine(Settings(models_dir=str(tiny_models), device="cpu"))
