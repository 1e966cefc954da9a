"""Random-voice latent generators (``rlg_auto.pth``: 1024 channels, ``rlg_diffuser.pth``: 2048 channels).

A StyleGAN-style mapping network: 5 ``EqualLinear`` (lr_mul 0.1, fused leaky ReLU) and a plain Linear turn
Gaussian noise into a conditioning latent for the AR model (1024) or the diffusion decoder (2048).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class RLGConfig:
    """``channels``: 1024 for the AR latent (``rlg_auto``), 2048 for the diffusion latent (``rlg_diffuser``)."""

    channels: int = 1024
    n_equal: int = 5
    lr_mul: float = 0.1

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> RLGConfig:
        """Map the original ``RandomLatentConverter(channels)`` arguments onto this config."""
        unknown = set(kwargs) - {"channels"}
        if unknown:
            raise ValueError(f"unsupported RandomLatentConverter arguments {sorted(unknown)}")
        return cls(channels=int(kwargs["channels"]))


class EqualLinear(nn.Module):
    """``leaky_relu(x @ (W * lr_mul / sqrt(in)).T + b * lr_mul, 0.2) * sqrt(2)`` (StyleGAN2 equalised lr)."""

    def __init__(self, dim_in: int, dim_out: int, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim_out, dim_in) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(dim_out))
        self.lr_mul = lr_mul
        self.scale = (1 / math.sqrt(dim_in)) * lr_mul

    def forward(self, x: Tensor) -> Tensor:
        h = F.linear(x, self.weight * self.scale)
        return F.leaky_relu(h + self.bias * self.lr_mul, 0.2) * math.sqrt(2)


class RandomLatentConverter(nn.Module):
    """Noise (B, C) -> latent (B, C). ``sample`` draws the noise exactly as the original."""

    def __init__(self, cfg: RLGConfig | None = None):
        super().__init__()
        cfg = cfg or RLGConfig()
        self.cfg = cfg
        C = cfg.channels
        equal = [EqualLinear(C, C, lr_mul=cfg.lr_mul) for _ in range(cfg.n_equal)]
        self.layers = nn.Sequential(*equal, nn.Linear(C, C))

    @torch.inference_mode()
    def forward(self, noise: Tensor) -> Tensor:
        """Map given noise (B, C) to latents (B, C)."""
        return self.layers(noise)

    @torch.inference_mode()
    def sample(self, batch: int = 1, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``randn(batch, C)`` on the CPU generator (the global one unless given) and map it.

        Bit-compatible with the original ``RandomLatentConverter(ref)`` called with a CPU ``ref`` of
        ``batch`` rows, which is how ``TextToSpeech.get_random_conditioning_latents`` uses it (first the
        1024-channel model, then the 2048-channel one, on the same global generator).

        Returns
        -------
        (batch, C) latents on the model's device and dtype.
        """
        if batch < 1:
            raise ValueError(f"batch={batch} must be >= 1")
        noise = torch.randn(batch, self.cfg.channels, generator=generator)  # CPU, float32
        p = self.layers[0].weight
        return self.forward(noise.to(device=p.device, dtype=p.dtype))


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``rlg_*.pth`` keys already match this module 1:1; the function exists for ``loading.build`` symmetry."""
    return sd
