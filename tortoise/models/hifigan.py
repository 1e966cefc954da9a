"""HiFi-GAN decoder of the original's fast mode (``api_fast.py``, ``hifidecoder.pth``): GPT latents -> 24 kHz audio.

Kong et al. 2020, "HiFi-GAN" generator (V1 residual blocks) with a global conditioning input, as in Coqui XTTS.
It skips CLVP, diffusion and the mel vocoder entirely: the AR model's latents (one per 1024-sample code at
22.05 kHz) are linearly resampled to 24 kHz frames of hop 256 and vocoded, conditioned on the AR voice latent.

Loading. The original loads ``hifidecoder.pth`` with ``strict=False``. manifests.json ["hifidecoder"] lists the
reference module's 236 keys (weight-norm ``weight_g``/``weight_v`` for conv_pre, ups.0-3, the 72 ResBlock convs and
conv_post; plain ``cond_layer.weight``/``bias``). After folding the 78 g/v pairs (``remap_keys``) those are exactly
this module's 158 keys (shapes included; tested), so a file with the manifest's layout loads strictly here and
``strict=False`` hides nothing from it. What ``strict=False`` WOULD hide, and why we do not use it:
- weight-norm pairs saved under PyTorch's parametrization names (``<layer>.parametrizations.weight.original0/1``,
  what Coqui code on torch >= 2.1 writes): the original would silently leave those 78 layers at random init;
  ``remap_keys`` folds that form too, so it loads correctly here;
- any extra entry, or any missing one: the original would ignore it (a missing one stays randomly initialised);
  we raise ``CheckpointError`` naming the keys instead of producing noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import from_reference_kwargs
from .weight_norm import fold_state_dict

LRELU_SLOPE = 0.1  # inside the upsampling stages and ResBlocks; the last activation uses F.leaky_relu's 0.01
AR_SAMPLES_PER_CODE = 1024  # one AR latent per 1024 samples at 22.05 kHz ...
HOP = 256  # ... = 4 frames of hop 256
AR_RATE, OUT_RATE = 22050, 24000

# reference arguments that only change the serialised form (weight norm on/off) or are unused at inference
_IGNORED_REFERENCE_KEYS = frozenset({"inference_padding", "conv_pre_weight_norm", "conv_post_weight_norm"})


@dataclass(frozen=True)
class HifiConfig:
    """HifiganGenerator hyperparameters; defaults are the released ``hifidecoder.pth``."""

    in_channels: int = 1024
    out_channels: int = 1
    resblock_type: str = "1"
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    upsample_factors: tuple[int, ...] = (8, 8, 2, 2)
    cond_channels: int = 1024
    conv_post_bias: bool = True

    def __post_init__(self) -> None:
        if self.resblock_type != "1":
            raise ValueError(f"resblock_type={self.resblock_type!r} is not supported (the released decoder uses '1')")
        if len(self.upsample_factors) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_factors and upsample_kernel_sizes must have the same length")

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> HifiConfig:
        """Map ``HifiganGenerator(**kwargs)`` constructor arguments onto a config."""
        return from_reference_kwargs(cls, kwargs, what="HifiganGenerator", ignored=_IGNORED_REFERENCE_KEYS)


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``hifidecoder.pth`` (weight-norm g/v, either serialised form) or a folded state dict -> this module's keys."""
    return fold_state_dict(sd)


def _padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Three residual [lrelu, dilated conv, lrelu, conv] units."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]):
        super().__init__()
        C, k = channels, kernel_size
        self.convs1 = nn.ModuleList(nn.Conv1d(C, C, k, dilation=d, padding=_padding(k, d)) for d in dilation)
        self.convs2 = nn.ModuleList(nn.Conv1d(C, C, k, padding=_padding(k, 1)) for _ in dilation)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            h = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + c2(F.leaky_relu(h, LRELU_SLOPE))
        return x


class HifiganDecoder(nn.Module):
    """The api_fast HiFi-GAN: ``forward(x, g)`` on upsampled latents, ``inference(latents, cond_latent)``."""

    def __init__(self, cfg: HifiConfig | None = None):
        super().__init__()
        cfg = cfg or HifiConfig()
        self.cfg = cfg
        C = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.in_channels, C, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(C >> i, C >> (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_factors, cfg.upsample_kernel_sizes))
        )
        self.resblocks = nn.ModuleList(
            ResBlock1(C >> (i + 1), k, d)
            for i in range(len(cfg.upsample_factors))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)
        )
        ch = C >> len(cfg.upsample_factors)
        self.conv_post = nn.Conv1d(ch, cfg.out_channels, 7, 1, padding=3, bias=cfg.conv_post_bias)
        self.cond_layer = nn.Conv1d(cfg.cond_channels, C, 1) if cfg.cond_channels > 0 else None

    @staticmethod
    def upsample_latents(latents: Tensor) -> Tensor:
        """AR latents (B, S, C) -> (B, C, T) frames of hop 256 at 24 kHz: linear x4, then linear x24000/22050.

        ``F.interpolate`` with ``scale_factor`` (not a size), as the original, so the sample positions match it.
        """
        x = F.interpolate(latents.transpose(1, 2), scale_factor=[AR_SAMPLES_PER_CODE / HOP], mode="linear")
        return F.interpolate(x, scale_factor=[OUT_RATE / AR_RATE], mode="linear")

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """x: (B, in_channels, T); g: (B, cond_channels, 1) global conditioning -> (B, out_channels, T * 256)."""
        o = self.conv_pre(x)
        if self.cond_layer is not None:
            if g is None:
                raise ValueError("this decoder is conditioned: pass g (B, cond_channels, 1)")
            o = o + self.cond_layer(g)
        n = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            o = up(F.leaky_relu(o, LRELU_SLOPE))  # (B, C_i, T * u_0 * ... * u_i)
            blocks = self.resblocks[i * n : (i + 1) * n]
            o = sum(block(o) for block in blocks) / n  # multi-receptive-field fusion
        o = self.conv_post(F.leaky_relu(o))  # default slope 0.01 here, as in the original
        return torch.tanh(o)

    @torch.inference_mode()
    def inference(self, latents: Tensor, cond_latent: Tensor) -> Tensor:
        """Vocode GPT latents directly (the original fast mode).

        Parameters
        ----------
        latents : (B, S, in_channels) AR latents (the ``return_latent=True`` pass over the codes up to the stop code,
            untrimmed, as the original's ``api_fast``).
        cond_latent : (B, cond_channels) AR conditioning (voice) latent.

        Returns
        -------
        (B, 1, T * 256) waveform at 24 kHz in [-1, 1], T = floor(floor(4 S) * 24000 / 22050).
        """
        x = self.upsample_latents(latents)
        return self.forward(x, cond_latent[:, :, None])
