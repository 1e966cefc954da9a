"""Stationary spectral-gating noise reduction in torch (no extra dependency).

A noise profile (mean and spread of each frequency bin's level, in dB) is taken from noise-only audio: a region the
user marks, or else the quietest 10 % of the recording's frames. Time-frequency bins less than ``n_std`` standard
deviations above the noise mean are gated; the binary gate is smoothed over ~50 ms and ~500 Hz (so isolated noise
peaks do not survive as "musical noise" and speech edges are not chopped). That is the classic stationary spectral
gate (as in Sainburg's noisereduce), written here. A binary gate also closes on quiet speech components (soft
fricatives, the decay of vowels), so the gain is the larger of the smoothed gate and a Wiener-style gain
``1 - 1.5 * noise_power / smoothed_power``; the result is clamped to [1 - strength, 1].

Measured on the built-in voices mixed with white noise, 50 Hz hum and room tone at 5-20 dB SNR (bench and tests):
this keeps more speech than the gate alone (scale-invariant SDR +3.5 dB on average instead of -1.4 dB; noisereduce's
stationary mode at the same strength scores below both) for the same noise removal.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
    wav: np.ndarray, noise: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(mean dB, std dB, mean power) per frequency bin, shapes (F, 1), and the profile's level in dBFS.

    ``noise`` is noise-only audio; without it the quietest 10 % of ``wav``'s frames (at least 8) are used.
    """
    if noise is not None and noise.size >= N_FFT:
        frames_db = _db(_stft(noise))
    else:
        spec_db = _db(_stft(wav))  # (F, frames)
        energy = (10 ** (spec_db / 10)).mean(dim=0)
        k = min(spec_db.shape[1], max(MIN_PROFILE_FRAMES, int(QUIET_FRACTION * spec_db.shape[1])))
        frames_db = spec_db[:, torch.argsort(energy)[:k]]
    mean, std = frames_db.mean(dim=1, keepdim=True), frames_db.std(dim=1, keepdim=True).nan_to_num(0.0)
    power = (10 ** (frames_db / 10)).mean(dim=1, keepdim=True)
    # average bin power of a Hann-windowed frame / sum(w^2) = the audio's mean square (Parseval)
    level = 10 * torch.log10(power.mean() / (torch.hann_window(N_FFT) ** 2).sum() + 1e-20)
    return mean, std, power, float(level)


def _smoothing_kernel(sr: int) -> torch.Tensor:
    """Normalised triangular kernel over frequency x time: (1, 1, kf, kt)."""
    nf = max(1, round(SMOOTH_HZ / (sr / N_FFT)))
    nt = max(1, round(SMOOTH_S * sr / HOP))
    tri_f = 1 - torch.abs(torch.linspace(-1, 1, 2 * nf + 1))
    tri_t = 1 - torch.abs(torch.linspace(-1, 1, 2 * nt + 1))
    tri_f, tri_t = tri_f[1:-1] if nf > 1 else torch.ones(1), tri_t[1:-1] if nt > 1 else torch.ones(1)
    k = torch.outer(tri_f, tri_t)
    return (k / k.sum())[None, None]


@torch.inference_mode()
def gate_gain(
    wav: np.ndarray, sr: int, *, strength: float, noise: np.ndarray | None = None, n_std: float = N_STD
) -> tuple[torch.Tensor, float]:
    """The spectral gate's gain for ``wav`` (T,): (F, frames) in [1 - strength, 1], and the noise level in dBFS."""
    mean, std, noise_power, level = noise_profile(wav, noise)
    spec = _stft(wav)  # (F, frames)
    kernel = _smoothing_kernel(sr)
    pad = (kernel.shape[3] // 2, kernel.shape[3] // 2, kernel.shape[2] // 2, kernel.shape[2] // 2)

    def smooth(x: torch.Tensor) -> torch.Tensor:  # (F, frames) -> (F, frames)
        return F.conv2d(F.pad(x[None, None], pad, mode="replicate"), kernel)[0, 0]

    gate = smooth((_db(spec) > mean + n_std * std).float())  # in [0, 1]
    wiener = 1.0 - WIENER_OVERSUBTRACT * noise_power / smooth(spec.abs() ** 2).clamp_min(1e-20)
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
