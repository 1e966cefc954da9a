"""Optional post-processing of generated speech with VoiceFixer (speech restoration), as the fast fork offered.

VoiceFixer (``pip install voicefixer``, MIT, github.com/haoheliu/voicefixer) is not a dependency: it is used when
installed. Importing it downloads its two checkpoints (analysis module and vocoder) into ``~/.cache/voicefixer`` on
first use, which is why :func:`voicefixer_available` looks for the package without importing it. Audio is restored
in memory (``VoiceFixer.restore_inmem`` at 44.1 kHz), so nothing is written next to the user's files.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from functools import lru_cache
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from . import devices
from .audio import OUTPUT_SAMPLE_RATE  # TorToiSe's rate: results go back to it
from .audio_io import resample_hq
from .errors import TortoiseError

VOICEFIXER_SAMPLE_RATE = 44_100  # what VoiceFixer reads and writes
_INSTALL = (
    "pip install voicefixer (it downloads its own model weights into ~/.cache/voicefixer the first time it is imported)"
)


class VoiceFixerUnavailableError(TortoiseError):
    """VoiceFixer post-processing was asked for but the package (or its weights) cannot be used."""


def voicefixer_available() -> bool:
    """True when the ``voicefixer`` package is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("voicefixer") is not None
    except (ImportError, ValueError):  # a broken or half-imported package
        return False


def _import_voicefixer() -> ModuleType:
    if not voicefixer_available():
        raise VoiceFixerUnavailableError(f"VoiceFixer post-processing needs the voicefixer package: {_INSTALL}")
    try:
        return importlib.import_module("voicefixer")
    except OSError as e:  # its import fetches the weights: no network, or the download broke off
        raise VoiceFixerUnavailableError(
            f"voicefixer is installed but could not fetch its model weights into ~/.cache/voicefixer ({e}); "
            "connect to the internet and retry, or turn VoiceFixer off"
        ) from e
    except ImportError as e:  # one of its own dependencies (librosa, torchlibrosa, ...) is missing
        raise VoiceFixerUnavailableError(f"voicefixer is installed but cannot be imported ({e}); {_INSTALL}") from e


@lru_cache(maxsize=1)
def _restorer(module: ModuleType):
    """One ``VoiceFixer`` per process: building it loads both checkpoints."""
    try:
        return module.VoiceFixer()
    except RuntimeError as e:  # its constructor raises RuntimeError when a checkpoint file is missing
        raise VoiceFixerUnavailableError(f"voicefixer cannot load its model weights: {e}") from e


def apply_voicefixer(
    audio: Tensor | np.ndarray,
    sample_rate: int,
    *,
    device: torch.device | str | None = None,
    mode: int = 0,
    target_sample_rate: int = OUTPUT_SAMPLE_RATE,
    module: ModuleType | None = None,
) -> tuple[Tensor | np.ndarray, int]:
    """Restore speech with VoiceFixer and return it at ``target_sample_rate``.

    Parameters
    ----------
    audio : mono waveform (..., S) in [-1, 1] at ``sample_rate`` (leading dims must be 1, e.g. (1, 1, S)).
    device : VoiceFixer runs on CUDA or the CPU only; any other device (xpu, mps) falls back to the CPU with a warning.
    mode : VoiceFixer's mode: 0 (default, as the fast fork), 1 (also removes high frequencies), 2 (badly damaged
        speech).
    target_sample_rate : rate of the result (default 24 kHz, TorToiSe's).
    module : the imported ``voicefixer`` package or a stand-in (tests); default: import it.

    Returns
    -------
    (restored, target_sample_rate): the same type and leading shape as ``audio`` (a tensor on its device, float32),
    about the same duration.

    Raises
    ------
    VoiceFixerUnavailableError
        When voicefixer is not installed (the message says ``pip install voicefixer``) or cannot get its weights.
    """
    if mode not in (0, 1, 2):
        raise ValueError(f"mode={mode} must be 0, 1 or 2")
    restorer = _restorer(module if module is not None else _import_voicefixer())
    device = torch.device(device or "cpu")
    if device.type != "cpu" and not devices.is_cuda(device):
        warnings.warn(f"VoiceFixer runs on CUDA or the CPU only, not {device.type}; using the CPU", stacklevel=2)
    is_tensor = isinstance(audio, Tensor)
    x = audio.detach().to("cpu", torch.float32).numpy() if is_tensor else np.asarray(audio, dtype=np.float32)
    shape = x.shape
    if x.size != shape[-1]:
        raise ValueError(f"apply_voicefixer takes mono audio (..., S) with leading dims of 1, got shape {shape}")
    wav = resample_hq(x.reshape(-1), sample_rate, VOICEFIXER_SAMPLE_RATE)  # (S44,)
    restored = restorer.restore_inmem(np.ascontiguousarray(wav), cuda=devices.is_cuda(device), mode=mode)
    restored = np.asarray(restored, dtype=np.float32).reshape(-1)  # VoiceFixer returns (1, S44)
    out = np.clip(resample_hq(restored, VOICEFIXER_SAMPLE_RATE, target_sample_rate), -1.0, 1.0)
    out = out.reshape(*shape[:-1], -1)
    if is_tensor:
        return torch.from_numpy(np.ascontiguousarray(out)).to(audio.device), target_sample_rate
    return out, target_sample_rate
