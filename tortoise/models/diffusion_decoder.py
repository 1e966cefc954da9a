"""TorToiSe's diffusion decoder (``diffusion_decoder.pth``): AR latents -> 100-band mel, eps + learned variance.

The network predicts, for a noisy mel ``x_t`` (B, 100, L) at a trained timestep ``t`` (0..3999), the noise
``eps`` (first 100 channels) and the learned-range variance values ``v`` in [-1, 1] (last 100). Conditioning
comes from the AR latents, re-timed to L mel frames by ``timestep_independent`` (once per candidate), and a
voice latent from ``get_conditioning``. The samplers live in ``tortoise/diffusion.py``.

``code_embedding``, ``code_converter`` and ``mel_head`` are training-time paths (codes input, auxiliary mel
loss); they exist so the released state dict loads strictly and are not used at inference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import AttentionBlock, normalization


@dataclass(frozen=True)
class DiffusionConfig:
    """Released ``DiffusionTts`` hyperparameters (292.3 M parameters)."""

    model_channels: int = 1024
    num_layers: int = 10
    in_channels: int = 100
    out_channels: int = 200
    in_latent_channels: int = 1024
    in_tokens: int = 8193
    num_heads: int = 16

    # reference kwargs that only matter for training (or are chosen at run time here): accepted, ignored
    _IGNORED = ("dropout", "layer_drop", "unconditioned_percentage", "use_fp16")

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> DiffusionConfig:
        """Map the original ``DiffusionTts(**kwargs)`` arguments onto this config.

        ``dropout``, ``layer_drop`` and ``unconditioned_percentage`` only act in training mode;
        ``use_fp16`` is the original's autocast switch, chosen here at run time with
        :meth:`DiffusionTts.set_layer_dtype`. Any other unknown argument raises ``ValueError``.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kwargs) - fields - set(cls._IGNORED)
        if unknown:
            raise ValueError(f"unsupported DiffusionTts arguments {sorted(unknown)}")
        cfg = cls(**{k: int(v) for k, v in kwargs.items() if k in fields})
        if cfg.model_channels % cfg.num_heads or (2 * cfg.model_channels) % cfg.num_heads:
            raise ValueError(f"model_channels={cfg.model_channels} not divisible by num_heads={cfg.num_heads}")
        return cfg


@lru_cache(maxsize=16)
def _frequencies(half: int, max_period: float, device: torch.device) -> Tensor:
    # computed on the CPU exactly as the reference (float32, then moved), cached per device
    arange = torch.arange(0, half, dtype=torch.float32)
    return torch.exp(-math.log(max_period) * arange / half).to(device)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (B,) -> (B, dim): ``cat(cos(t f), sin(t f))``, cos first, ``t f`` in float32.

    The float32 rounding of ``t * f`` (arguments up to ~4000 rad) is part of what the model was trained
    with, so it is computed exactly like the reference rather than in higher precision.
    """
    half = dim // 2
    args = t[:, None].float() * _frequencies(half, max_period, t.device)[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    """Timestep-conditioned residual block with scale-shift norm (``efficient_config``: 1x1 input conv)."""

    def __init__(self, channels: int, emb_channels: int, dropout: float = 0.0):
        super().__init__()
        C = channels
        self.in_layers = nn.Sequential(normalization(C), nn.SiLU(), nn.Conv1d(C, C, 1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * C))
        self.out_layers = nn.Sequential(normalization(C), nn.SiLU(), nn.Dropout(dropout), nn.Conv1d(C, C, 3, padding=1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        # x: (B, C, L), emb: (B, E)
        h = self.in_layers(x)
        scale, shift = self.emb_layers(emb).type(h.dtype)[..., None].chunk(2, dim=1)  # each (B, C, 1)
        norm, act, drop, conv = self.out_layers
        h = norm(h) * (1 + scale) + shift
        return x + conv(drop(act(h)))


class DiffusionLayer(nn.Module):
    """ResBlock (scale-shift on the timestep embedding) followed by relative-position self-attention."""

    def __init__(self, channels: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.resblk = ResBlock(channels, channels, dropout)
        self.attn = AttentionBlock(channels, num_heads, relative_pos_embeddings=True)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.attn(self.resblk(x, emb))


def _attention_stack(channels: int, num_heads: int, n: int) -> list[nn.Module]:
    return [AttentionBlock(channels, num_heads, relative_pos_embeddings=True) for _ in range(n)]


class DiffusionTts(nn.Module):
    """The decoder network; module names follow the checkpoint so the released state dict maps 1:1.

    Precision: everything runs in the parameters' dtype (float32 by default). :meth:`set_layer_dtype`
    runs ``layers[1:]`` in bf16/fp16 the way the original's ``use_fp16`` does (§6.2): the first layer,
    the timestep integrator and the output head stay float32, GroupNorm and softmax compute in float32,
    and the residual stream stays float32.
    """

    def __init__(self, cfg: DiffusionConfig | None = None):
        super().__init__()
        cfg = cfg or DiffusionConfig()
        self.cfg = cfg
        C, H, n_in = cfg.model_channels, cfg.num_heads, cfg.in_channels
        self.layer_dtype: torch.dtype | None = None

        self.inp_block = nn.Conv1d(n_in, C, 3, 1, 1)
        self.time_embed = nn.Sequential(nn.Linear(C, C), nn.SiLU(), nn.Linear(C, C))
        self.code_embedding = nn.Embedding(cfg.in_tokens, C)  # training-only codes path
        self.code_converter = nn.Sequential(*_attention_stack(C, H, 3))  # training-only codes path
        self.code_norm = normalization(C)
        self.latent_conditioner = nn.Sequential(
            nn.Conv1d(cfg.in_latent_channels, C, 3, padding=1), *_attention_stack(C, H, 4)
        )
        self.contextual_embedder = nn.Sequential(
            nn.Conv1d(n_in, C, 3, padding=1, stride=2),
            nn.Conv1d(C, 2 * C, 3, padding=1, stride=2),
            *_attention_stack(2 * C, H, 5),
        )
        self.unconditioned_embedding = nn.Parameter(torch.randn(1, C, 1))
        self.conditioning_timestep_integrator = nn.ModuleList([DiffusionLayer(C, H) for _ in range(3)])
        self.integrating_conv = nn.Conv1d(2 * C, C, 1)
        self.mel_head = nn.Conv1d(C, n_in, 3, padding=1)  # training-only auxiliary head
        self.layers = nn.ModuleList(
            [DiffusionLayer(C, H) for _ in range(cfg.num_layers)] + [ResBlock(C, C) for _ in range(3)]
        )
        self.out = nn.Sequential(normalization(C), nn.SiLU(), nn.Conv1d(C, cfg.out_channels, 3, padding=1))

    def set_layer_dtype(self, dtype: torch.dtype | None) -> DiffusionTts:
        """Run ``layers[1:]`` in ``dtype`` (``torch.bfloat16`` / ``torch.float16``); ``None`` = full precision.

        Their weights are cast once (so no per-step weight casts) and they run under autocast, which keeps
        GroupNorm, softmax and the residual additions in float32, as the original's ``use_fp16`` did.
        """
        if dtype not in (None, torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"layer dtype must be None, float32, bfloat16 or float16, not {dtype}")
        self.layer_dtype = None if dtype == torch.float32 else dtype
        self.layers[1:].to(self.layer_dtype or self.inp_block.weight.dtype)
        return self

    @torch.inference_mode()
    def get_conditioning(self, mels: Tensor) -> Tensor:
        """Voice latent from conditioning mels.

        Parameters
        ----------
        mels : (B, n, in_channels, T) un-normalised log mels of n equal-length clips, or (B, in_channels, T).

        Returns
        -------
        (B, 2 * model_channels): each clip embedded, concatenated along time, averaged over time.
        """
        if mels.dim() == 3:
            mels = mels[:, None]
        B, n = mels.shape[:2]
        p = self.contextual_embedder[0].weight
        h = self.contextual_embedder(mels.flatten(0, 1).to(p.dtype))  # (B*n, 2C, T')
        h = h.unflatten(0, (B, n))  # (B, n, 2C, T')
        # clips have equal length, so the mean over the time-concatenation is the mean over (n, T')
        return h.transpose(1, 2).flatten(2).mean(dim=-1)  # (B, 2C)

    @torch.inference_mode()
    def timestep_independent(self, latents: Tensor, cond: Tensor, L: int) -> Tensor:
        """Aligned embeddings, computed once per candidate.

        Parameters
        ----------
        latents : (B, S, in_latent_channels) AR latents.
        cond : (B, 2 * model_channels) voice latent from :meth:`get_conditioning`.
        L : output length in mel frames.

        Returns
        -------
        (B, model_channels, L): ``code_norm(latent_conditioner(latents)) * (1 + scale) + shift``, nearest-resampled.
        """
        p = self.code_norm.weight
        scale, shift = cond.to(p.dtype)[..., None].chunk(2, dim=1)  # each (B, C, 1)
        h = self.latent_conditioner(latents.transpose(1, 2).to(p.dtype))  # (B, C, S)
        h = self.code_norm(h) * (1 + scale) + shift
        return F.interpolate(h, size=int(L), mode="nearest")

    def unconditioned_embeddings(self, B: int, L: int) -> Tensor:
        """The learned embedding used for conditioning-free guidance, (B, model_channels, L)."""
        return self.unconditioned_embedding.expand(B, -1, L)

    def forward(
        self, x: Tensor, t: Tensor, aligned_embeddings: Tensor | None = None, conditioning_free: bool = False
    ) -> Tensor:
        """Predict eps and variance values.

        Parameters
        ----------
        x : (B, in_channels, L) noisy normalised mel.
        t : (B,) or scalar integer trained timestep(s) in [0, 4000).
        aligned_embeddings : (B, model_channels, L) from :meth:`timestep_independent`.
        conditioning_free : use the learned unconditioned embedding instead (``aligned_embeddings`` ignored).

        Returns
        -------
        (B, out_channels, L) float32: eps (first in_channels) and learned-range variance values.
        """
        B, _, L = x.shape
        if conditioning_free:
            code_emb = self.unconditioned_embeddings(B, L)
        elif aligned_embeddings is None:
            raise ValueError("aligned_embeddings is required unless conditioning_free=True")
        else:
            code_emb = aligned_embeddings
        dt = self.inp_block.weight.dtype
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(B)
        temb = self.time_embed(timestep_embedding(t, self.cfg.model_channels).to(dt))  # (B, C)
        code_emb = code_emb.to(dt)
        for layer in self.conditioning_timestep_integrator:
            code_emb = layer(code_emb, temb)
        h = self.integrating_conv(torch.cat([self.inp_block(x.to(dt)), code_emb], dim=1))  # (B, C, L)
        h = self.layers[0](h, temb)  # the first layer always in full precision
        reduced = self.layer_dtype is not None
        # The package's one autocast. Device type from the tensor; the dtype was checked against the device when the
        # precision was chosen (devices.resolve_precision). No fall-back to float32 here: these weights are cast.
        ctx = torch.autocast(x.device.type, dtype=self.layer_dtype) if reduced else contextlib.nullcontext()
        with ctx:
            for layer in self.layers[1:]:
                h = layer(h, temb)
        head = self.out[2].weight.dtype
        return self.out(h.to(head)).float()


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``diffusion_decoder.pth`` keys already match this module 1:1; kept for ``loading.build`` symmetry."""
    return sd
