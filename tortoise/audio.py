"""Audio DSP front end in plain torch: the two mel spectrograms, resampling, conditioning crops.

Both mels are bit-compatible with the original (checked against the golden ``mels.pt``):
- the autoregressive/CVVP conditioning mel: 22.05 kHz, 80 bands, HTK mel scale with Slaney area normalisation,
  power spectrum, ``log(clamp(x, 1e-5))`` divided per band by the shipped ``mel_norms``;
- the vocoder/diffusion mel: 24 kHz, 100 bands, Slaney mel scale and normalisation, magnitude spectrum, natural log.
Both use a periodic Hann window of 1024, hop 256, centred frames with reflect padding: ``T // 256 + 1`` frames.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

AR_SAMPLE_RATE = 22050  # voice clips, AR conditioning, CVVP
OUTPUT_SAMPLE_RATE = 24000  # diffusion conditioning, vocoder, every output file
N_FFT = 1024
HOP_LENGTH = 256
AR_N_MELS, AR_FMAX = 80, 8000.0
VOC_N_MELS, VOC_FMAX = 100, 12000.0
COND_LENGTH = 132300  # 6 s at 22.05 kHz: AR conditioning window
DIFFUSION_COND_LENGTH = 102400  # 4.27 s at 24 kHz: diffusion conditioning window
MEL_MIN = -11.512925148010254  # log(1e-5): the vocoder mel's floor and padding value
MEL_MAX = 2.3143386840820312


def _hz_to_mel(f: np.ndarray, scale: str) -> np.ndarray:
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney (Auditory Toolbox): linear below 1 kHz, logarithmic above
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m: np.ndarray, scale: str) -> np.ndarray:
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=8)
def mel_filters(n_mels: int, sample_rate: int, fmax: float, scale: str, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular mel filterbank with Slaney area normalisation, (n_mels, n_fft // 2 + 1), float64."""
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mels = np.linspace(_hz_to_mel(np.array(0.0), scale), _hz_to_mel(np.array(fmax), scale), n_mels + 2)
    edges = _mel_to_hz(mels, scale)  # (n_mels + 2,)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freqs)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return fb * (2.0 / (edges[2:] - edges[:-2]))[:, None]


@lru_cache(maxsize=8)
def _fb_tensor(n_mels: int, sample_rate: int, fmax: float, scale: str, device: torch.device) -> Tensor:
    return torch.from_numpy(mel_filters(n_mels, sample_rate, fmax, scale)).float().to(device)


@lru_cache(maxsize=1)
def mel_norms() -> Tensor:
    """The original's 80 per-band divisors for the AR conditioning mel (shipped package data)."""
    with resources.as_file(resources.files("tortoise.assets").joinpath("mel_norms.pth")) as path:
        return torch.load(path, map_location="cpu", weights_only=True).float()


def _stft_magnitude(wav: Tensor) -> Tensor:
    """|STFT| with a periodic Hann window, centred frames, reflect padding: (B, T) -> (B, 513, T // 256 + 1)."""
    window = torch.hann_window(N_FFT, periodic=True, device=wav.device, dtype=torch.float32)
    spec = torch.stft(
        wav.float(), N_FFT, HOP_LENGTH, N_FFT, window, center=True, pad_mode="reflect", return_complex=True
    )
    return spec.abs()


def ar_mel(wav: Tensor) -> Tensor:
    """AR/CVVP conditioning mel of 22.05 kHz audio: (B, T) or (T,) -> (B, 80, T // 256 + 1), normalised log power."""
    wav = wav.reshape(-1, wav.shape[-1])
    power = _stft_magnitude(wav).pow(2)
    fb = _fb_tensor(AR_N_MELS, AR_SAMPLE_RATE, AR_FMAX, "htk", wav.device)
    mel = torch.matmul(fb, power)  # (B, 80, frames)
    return torch.log(mel.clamp(min=1e-5)) / mel_norms().to(wav.device)[None, :, None]


def vocoder_mel(wav: Tensor, *, normalize: bool = False) -> Tensor:
    """Diffusion/vocoder mel of 24 kHz audio: (B, T) -> (B, 100, T // 256 + 1), natural-log magnitude.

    With ``normalize`` the result is mapped from [MEL_MIN, MEL_MAX] to [-1, 1] (the diffusion decoder's space).
    """
    wav = wav.reshape(-1, wav.shape[-1]).clamp(-1.0, 1.0)
    fb = _fb_tensor(VOC_N_MELS, OUTPUT_SAMPLE_RATE, VOC_FMAX, "slaney", wav.device)
    mel = torch.log(torch.matmul(fb, _stft_magnitude(wav)).clamp(min=1e-5))
    return normalize_mel(mel) if normalize else mel


def normalize_mel(mel: Tensor) -> Tensor:
    return 2.0 * (mel - MEL_MIN) / (MEL_MAX - MEL_MIN) - 1.0


def denormalize_mel(mel: Tensor) -> Tensor:
    return (mel + 1.0) / 2.0 * (MEL_MAX - MEL_MIN) + MEL_MIN


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, zeros: int, rolloff: float) -> tuple[Tensor, int]:
    """Polyphase windowed-sinc kernels (Hann-squared-cosine window), one row per output phase: (new, 1, K)."""
    cutoff = min(orig, new) * rolloff  # in units of the reduced rates
    width = math.ceil(zeros * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig  # input offsets, in input periods / orig
    t = (-torch.arange(new, dtype=torch.float64)[:, None] / new + taps[None, :]) * cutoff
    t = t.clamp(-zeros, zeros)
    window = torch.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    return (sinc * window * (cutoff / orig)).float()[:, None, :], width


def resample(wav: Tensor, orig_sr: int, new_sr: int, *, zeros: int = 6, rolloff: float = 0.99) -> Tensor:
    """Band-limited sinc resampling along the last axis, identical to the original's resampler.

    The original used ``torchaudio.functional.resample`` defaults (Hann-windowed sinc, 6 zero crossings, roll-off
    0.99); this reproduces it within float32 noise, so conditioning latents match the original's.
    """
    if orig_sr == new_sr:
        return wav
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    kernel, width = _sinc_kernel(orig, new, zeros, rolloff)
    shape = wav.shape
    x = wav.reshape(-1, 1, shape[-1])  # (N, 1, T)
    x = F.pad(x, (width, width + orig))
    y = F.conv1d(x, kernel.to(x.device, x.dtype), stride=orig)  # (N, new, frames)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)
    return y[:, : math.ceil(new * shape[-1] / orig)].reshape(*shape[:-1], -1)


def pad_or_truncate(wav: Tensor, length: int) -> Tensor:
    """Right-pad with zeros or cut to ``length`` samples along the last axis."""
    if wav.shape[-1] >= length:
        return wav[..., :length]
    return F.pad(wav, (0, length - wav.shape[-1]))


def conditioning_window(wav: Tensor) -> Tensor:
    """The part of a 22.05 kHz clip (1, T) that conditions the AR model and CVVP: at most 6 s, the middle of a longer
    clip.

    The original draws a random 6 s window per seed (Python ``random``). A fixed one makes a voice's latent independent
    of the seed, so it can be cached and a seed reproduces; the AR latent and CVVP see the very same window.
    """
    wav = wav.reshape(1, -1)
    start = max(wav.shape[-1] - COND_LENGTH, 0) // 2
    return wav[:, start : start + COND_LENGTH]


def format_conditioning(wav: Tensor) -> Tensor:
    """AR/CVVP conditioning input for one 22.05 kHz clip (1, T): its :func:`conditioning_window`, right-padded with
    zeros to 6 s -> (1, 80, 517)."""
    return ar_mel(pad_or_truncate(conditioning_window(wav), COND_LENGTH))


def diffusion_conditioning_mel(wav: Tensor) -> Tensor:
    """Diffusion conditioning input for one 22.05 kHz clip (1, T): resample to 24 kHz, first 4.27 s -> (1, 100, 401)."""
    wav24 = resample(wav.reshape(1, -1), AR_SAMPLE_RATE, OUTPUT_SAMPLE_RATE)
    return vocoder_mel(pad_or_truncate(wav24, DIFFUSION_COND_LENGTH))
