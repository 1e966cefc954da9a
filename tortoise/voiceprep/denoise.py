"""Stationary spectral-gating noise reduction in torch (no extra dependency).

A noise profile (mean and spread of each frequency bin's level, in dB) is taken from noise-only audio: a region the
user marks, or else the quietest 10 % of the recording's frames. Time-frequency bins less than ``n_std`` standard
deviations above the noise mean are gated; the binary gate is smoothed over ~50 ms and ~500 Hz (so isolated noise
peaks do not survive as "musical noise" and speech edges are not chopped). That is the classic stationary spectral
gate (as in Sainburg's noisereduce), written here. A binary gate also closes on quiet speech components (soft
fricatives, the decay of vowels), so the gain is the larger of the smoothed gate and a Wiener-style gain
``1 - 1.5 * noise_power / smoothed_power``; the result is clamped to [1 - strength, 1].

Measured during development on three built-in voices mixed with white noise, 50 Hz hum and room tone at 5, 10 and
20 dB SNR: the hybrid raised scale-invariant SDR by 3.5 dB on average where the binary gate alone lowered it by
1.4 dB (down to -11.5 dB on clean-ish input), at the same noise removal; noisereduce's stationary mode at the same
strength scored below both. The true SNR gain at 10 dB input is ~+9 dB for white noise, +3-4 dB for hum (after the
high-pass) and +2.5 dB for room tone, whose energy sits under the voice (``bench/bench_voiceprep.py`` prints these).
"""

from __future__ import annotations

import numpy as np
import torch

N_FFT, HOP = 1024, 256  # 46 ms / 11.6 ms at 22.05 kHz
N_STD = 1.5
WIENER_OVERSUBTRACT = 1.5
QUIET_FRACTION = 0.10
MIN_PROFILE_FRAMES = 8
SMOOTH_HZ, SMOOTH_S = 500.0, 0.05


def _stft(x: np.ndarray) -> torch.Tensor:
    """(T,) -> complex (F, frames)."""
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    return torch.stft(t, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)


def _db(spec: torch.Tensor) -> torch.Tensor:
    return 20 * torch.log10(spec.abs().clamp_min(1e-10))


def noise_profile(
    wav: np.ndarray, noise: np.ndarray | None = None, *, spec_db: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(mean dB, std dB, mean power) per frequency bin, shapes (F, 1), and the profile's level in dBFS.

    ``noise`` is noise-only audio; without it the quietest 10 % of ``wav``'s frames (at least 8) are used.
    ``spec_db`` is ``wav``'s STFT in dB when the caller already has it.
    """
    if noise is not None and noise.size >= N_FFT:
        frames_db = _db(_stft(noise))
    else:
        spec_db = _db(_stft(wav)) if spec_db is None else spec_db  # (F, frames)
        energy = (10 ** (spec_db / 10)).mean(dim=0)
        k = min(spec_db.shape[1], max(MIN_PROFILE_FRAMES, int(QUIET_FRACTION * spec_db.shape[1])))
        frames_db = spec_db[:, torch.argsort(energy)[:k]]
    mean, std = frames_db.mean(dim=1, keepdim=True), frames_db.std(dim=1, keepdim=True).nan_to_num(0.0)
    power = (10 ** (frames_db / 10)).mean(dim=1, keepdim=True)
    # average bin power of a Hann-windowed frame / sum(w^2) = the audio's mean square (Parseval)
    level = 10 * torch.log10(power.mean() / (torch.hann_window(N_FFT) ** 2).sum() + 1e-20)
    return mean, std, power, float(level)


def _smooth(x: torch.Tensor, sr: int) -> torch.Tensor:
    """Triangular smoothing over ~500 Hz x ~50 ms: (F, frames) -> (F, frames).

    A triangle is a box convolved with itself, so two running means per axis do it in O(1) per bin (a 2-D
    convolution with the 45 x 7 kernel took 20x longer on CPU)."""
    from scipy.ndimage import uniform_filter1d

    y = x.numpy().astype(np.float64)
    for axis, width in ((0, SMOOTH_HZ / (sr / N_FFT)), (1, SMOOTH_S * sr / HOP)):
        box = max(1, round(width))
        y = uniform_filter1d(y, size=box, axis=axis, mode="nearest")
        # an even box leans half a bin left; leaning right in the second pass centres the triangle
        y = uniform_filter1d(y, size=box, axis=axis, mode="nearest", origin=-1 if box % 2 == 0 else 0)
    return torch.from_numpy(y.astype(np.float32))


@torch.inference_mode()
def gate_gain(
    wav: np.ndarray, sr: int, *, strength: float, noise: np.ndarray | None = None, n_std: float = N_STD
) -> tuple[torch.Tensor, float]:
    """The spectral gate's gain for ``wav`` (T,): (F, frames) in [1 - strength, 1], and the noise level in dBFS."""
    mag = _stft(wav).abs()  # (F, frames)
    spec_db = 20 * torch.log10(mag.clamp_min(1e-10))
    mean, std, noise_power, level = noise_profile(wav, noise, spec_db=spec_db)
    gate = _smooth((spec_db > mean + n_std * std).float(), sr)  # in [0, 1]
    wiener = 1.0 - WIENER_OVERSUBTRACT * noise_power / _smooth(mag**2, sr).clamp_min(1e-20)
    return torch.maximum(gate, wiener).clamp(min=1.0 - strength, max=1.0), level


@torch.inference_mode()
def apply_gain(wav: np.ndarray, gain: torch.Tensor) -> np.ndarray:
    """Multiply ``wav``'s STFT by ``gain`` (F, frames) and resynthesise (T,)."""
    out = torch.istft(_stft(wav) * gain, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, length=wav.size)
    return out.numpy().astype(np.float32, copy=False)


def spectral_gate(
    wav: np.ndarray, sr: int, *, strength: float, noise: np.ndarray | None = None, n_std: float = N_STD
) -> tuple[np.ndarray, float]:
    """Reduce stationary noise in ``wav`` (T,). Returns (denoised (T,), noise profile level in dBFS).

    Parameters
    ----------
    wav : mono float audio.
    sr : its sample rate, Hz (only sets the smoothing widths).
    strength : 0..1, the fraction of the gated noise removed (1 - strength is the gain left in noise-only bins).
    noise : optional noise-only audio for the profile (e.g. a marked region); default the quietest frames.
    n_std : how many standard deviations above the noise mean a bin must be to count as signal.
    """
    if wav.size < N_FFT or strength <= 0:
        return wav, float("-inf")
    gain, level = gate_gain(wav, sr, strength=strength, noise=noise, n_std=n_std)
    return apply_gain(wav, gain), level
