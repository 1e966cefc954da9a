"""BigVGAN generator (the fast fork's vocoder option): 100-band 24 kHz log-mel -> waveform, in plain torch.

Lee et al. 2022, "BigVGAN: A Universal Neural Vocoder with Large-Scale Training". HiFi-GAN-style transposed-conv
upsampling; each stage averages anti-aliased multi-periodicity (AMP) residual blocks whose Snake/SnakeBeta
activations run at 2x the sample rate between kaiser-sinc low-pass filters (Karras et al. 2021, alias-free GAN).
The filters are the checkpoint's persistent buffers; they are also computed here so an unloaded model works.
Key names follow the checkpoint (``generator`` entry); weight norm is folded at load time (``remap_keys``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import from_reference_kwargs
from .univnet import MEL_PAD_FRAMES, MEL_PAD_VALUE
from .weight_norm import fold_state_dict

# training/data keys of a BigVGAN config json that do not change the generator
# fmt: off
_IGNORED_REFERENCE_KEYS = frozenset({
    "num_gpus", "batch_size", "learning_rate", "adam_b1", "adam_b2", "lr_decay", "seed", "segment_size", "num_freq",
    "fmax_for_loss", "num_workers", "dist_config", "use_cqtd_instead_of_mrd", "cqtd_filters", "cqtd_max_filters",
    "cqtd_filters_scale", "cqtd_dilations", "cqtd_hop_lengths", "cqtd_n_octaves", "cqtd_bins_per_octaves",
    "mpd_reshapes", "use_spectral_norm", "discriminator_channel_mult", "use_multiscale_melloss", "lambda_melloss",
    "clip_grad_norm", "normalize_volume", "resolutions", "discriminator_periods", "use_cuda_kernel"
})
# fmt: on


@dataclass(frozen=True)
class BigVGANConfig:
    """Generator hyperparameters; defaults are the fast fork's ``bigvgan_base_24khz_100band`` (14.0 M params).

    NVIDIA's v2 checkpoints (e.g. ``bigvgan_v2_24khz_100band_256x``) use rates (4,4,2,2,2,2), kernels
    (8,8,4,4,4,4), 1536 initial channels, ``use_tanh_at_final=False`` (clamp) and ``use_bias_at_final=False``.
    """

    num_mels: int = 100
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    resblock: str = "1"
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = True
    use_bias_at_final: bool = True
    # audio front end (documentation of what mel the checkpoint expects; hop_size drives the inference trim)
    sampling_rate: int = 24000
    hop_size: int = 256
    n_fft: int = 1024
    win_size: int = 1024
    fmin: int = 0
    fmax: int | None = 12000

    def __post_init__(self) -> None:
        if self.resblock != "1":
            raise ValueError(f"resblock={self.resblock!r} is not supported (only AMPBlock1, '1', was released)")
        if self.activation not in ("snake", "snakebeta"):
            raise ValueError(f"activation={self.activation!r}; expected 'snake' or 'snakebeta'")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes must have the same length")

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> BigVGANConfig:
        """Map a BigVGAN config json (the reference's ``h``) onto a config; training-only keys are ignored."""
        return from_reference_kwargs(cls, kwargs, what="BigVGAN config", ignored=_IGNORED_REFERENCE_KEYS)


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Checkpoint (weight-norm g/v) or already-folded state dict -> this module's keys."""
    return fold_state_dict(sd)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """Kaiser-windowed sinc low-pass filter, normalised to unit DC gain -> (1, 1, kernel_size)."""
    half = kernel_size // 2
    A = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95  # attenuation (dB) for transition width 4*half_width
    if A > 50.0:
        beta = 0.1102 * (A - 8.7)
    elif A >= 21.0:
        beta = 0.5842 * (A - 21) ** 0.4 + 0.07886 * (A - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half) + 0.5
    else:
        t = torch.arange(kernel_size) - half
    h = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (h / h.sum()).view(1, 1, kernel_size)


class SnakeBeta(nn.Module):
    """x + 1/beta * sin^2(alpha x), per channel (log-scale parameters when ``logscale``); Snake when no beta."""

    def __init__(self, channels: int, logscale: bool = True, with_beta: bool = True):
        super().__init__()
        self.logscale = logscale
        init = torch.zeros if logscale else torch.ones
        self.alpha = nn.Parameter(init(channels))
        self.beta = nn.Parameter(init(channels)) if with_beta else None

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha[None, :, None]  # (1, C, 1)
        beta = alpha if self.beta is None else self.beta[None, :, None]
        if self.logscale:
            alpha, beta = alpha.exp(), beta.exp()
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class UpSample1d(nn.Module):
    """x2 upsampling: zero-stuffing transposed conv with the low-pass filter, replicate-padded edges."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        C = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(C, -1, -1), stride=self.ratio, groups=C)
        return x[..., self.crop_left : -self.crop_right]  # (B, C, T * ratio)


class LowPassFilter1d(nn.Module):
    """Depthwise low-pass filter with stride (the downsampler), replicate-padded edges."""

    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int = 12):
        super().__init__()
        self.stride = stride
        self.pad_left = kernel_size // 2 - int(kernel_size % 2 == 0)
        self.pad_right = kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        C = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(C, -1, -1), stride=self.stride, groups=C)


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, stride=ratio, kernel_size=kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.lowpass(x)  # (B, C, T / ratio)


class Activation1d(nn.Module):
    """Anti-aliased activation: upsample x2, Snake(Beta), low-pass and downsample x2."""

    def __init__(self, channels: int, cfg: BigVGANConfig):
        super().__init__()
        self.act = SnakeBeta(channels, cfg.snake_logscale, with_beta=cfg.activation == "snakebeta")
        self.upsample = UpSample1d()
        self.downsample = DownSample1d()

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))


def _padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class AMPBlock1(nn.Module):
    """Three residual [act, dilated conv, act, conv] units (dilations ``dilation``)."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...], cfg: BigVGANConfig):
        super().__init__()
        C, k = channels, kernel_size
        self.convs1 = nn.ModuleList(nn.Conv1d(C, C, k, dilation=d, padding=_padding(k, d)) for d in dilation)
        self.convs2 = nn.ModuleList(nn.Conv1d(C, C, k, padding=_padding(k, 1)) for _ in dilation)
        self.activations = nn.ModuleList(Activation1d(C, cfg) for _ in range(2 * len(dilation)))

    def forward(self, x: Tensor) -> Tensor:
        acts1, acts2 = self.activations[::2], self.activations[1::2]
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, acts1, acts2):
            x = x + c2(a2(c1(a1(x))))
        return x


class BigVGAN(nn.Module):
    """BigVGAN generator: ``forward(mel)`` and the fast fork's ``inference(mel)``."""

    def __init__(self, cfg: BigVGANConfig | None = None):
        super().__init__()
        cfg = cfg or BigVGANConfig()
        self.cfg = cfg
        C = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.num_mels, C, 7, 1, padding=3)
        # each stage is a one-element ModuleList in the reference (keys ups.{i}.0)
        self.ups = nn.ModuleList(
            nn.ModuleList([nn.ConvTranspose1d(C >> i, C >> (i + 1), k, u, padding=(k - u) // 2)])
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes))
        )
        self.resblocks = nn.ModuleList(
            AMPBlock1(C >> (i + 1), k, d, cfg)
            for i in range(len(cfg.upsample_rates))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)
        )
        ch = C >> len(cfg.upsample_rates)
        self.activation_post = Activation1d(ch, cfg)
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=cfg.use_bias_at_final)

    def forward(self, mel: Tensor) -> Tensor:
        """mel: (B, num_mels, L) natural-log magnitude mel -> (B, 1, L * prod(upsample_rates)) in [-1, 1]."""
        x = self.conv_pre(mel)
        n = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up[0](x)  # (B, C_i, T * u_i)
            blocks = self.resblocks[i * n : (i + 1) * n]
            x = sum(block(x) for block in blocks) / n  # multi-receptive-field fusion
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.cfg.use_tanh_at_final else x.clamp(-1.0, 1.0)

    @torch.inference_mode()
    def inference(self, mel: Tensor) -> Tensor:
        """Vocode as the fast fork does: append 10 silent frames (-11.5129), run, drop their audio, clamp.

        mel: (B, num_mels, L) -> (B, 1, L * hop_size) at ``cfg.sampling_rate``.
        """
        B, n_mel, _ = mel.shape
        mel = torch.cat([mel, mel.new_full((B, n_mel, MEL_PAD_FRAMES), MEL_PAD_VALUE)], dim=2)
        audio = self.forward(mel)[:, :, : -(self.cfg.hop_size * MEL_PAD_FRAMES)]
        return audio.clamp(-1, 1)
