"""CVVP: the optional contrastive voice/speech-code reranker (``cvvp.pth``).

The 80-band AR conditioning mel of a voice clip and a candidate's AR codes are each encoded by a
``CollapsingTransformer`` (x-transformer encoder, then ``pre_combiner`` convs + attention, then a mean over
time), projected and L2-normalised; the score is cosine similarity times ``exp(temperature)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .clvp import contrastive_loss
from .layers import AttentionBlock
from .xtransformer import XTransformerConfig, XTransformerEncoder

# reference kwargs that only matter in training
_TRAINING_ONLY = frozenset({"dropout", "cond_mask_percentage", "speech_mask_percentage"})
_RENAMES = {
    "model_dim": "dim",
    "transformer_heads": "n_head",
    "conditioning_enc_depth": "n_cond_layer",
    "speech_enc_depth": "n_speech_layer",
    "mel_codes": "n_speech_tokens",
    "mel_channels": "n_mels",
}


@dataclass(frozen=True)
class CVVPConfig:
    """Released hyperparameters (``cvvp.pth``). ``n_*_layer`` counts (attention, feed-forward) pairs."""

    dim: int = 512
    n_head: int = 8
    n_cond_layer: int = 8
    n_speech_layer: int = 8
    n_speech_tokens: int = 8192
    n_mels: int = 80

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> CVVPConfig:
        """Map the original ``CVVP(**kwargs)`` constructor arguments onto this config."""
        unknown = set(kwargs) - set(_RENAMES) - _TRAINING_ONLY - {"latent_multiplier"}
        if unknown:
            raise ValueError(f"unsupported CVVP arguments {sorted(unknown)}")
        if kwargs.get("latent_multiplier", 1) != 1:
            # the original itself cannot run with another value (to_conditioning_latent expects latent_dim inputs)
            raise ValueError(f"latent_multiplier={kwargs['latent_multiplier']} is not supported; only 1")
        if "mel_codes" in kwargs and kwargs["mel_codes"] is None:
            raise ValueError("CVVP(mel_codes=None) (continuous mel input) is not supported; the release uses codes")
        return cls(**{_RENAMES[k]: int(v) for k, v in kwargs.items() if k in _RENAMES})

    def encoder(self, depth: int) -> XTransformerConfig:
        return XTransformerConfig(self.dim, depth, self.n_head, ff_mult=1, wrapped=False)


class CollapsingTransformer(nn.Module):
    """(B, T, C) -> (B, C): encoder, ``pre_combiner`` [Conv1d 1x1, AttentionBlock, Conv1d 1x1], mean over T."""

    def __init__(self, cfg: XTransformerConfig):
        super().__init__()
        C = cfg.dim
        self.transformer = XTransformerEncoder(cfg)
        self.pre_combiner = nn.Sequential(nn.Conv1d(C, C, 1), AttentionBlock(C, cfg.n_head), nn.Conv1d(C, C, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.transformer(x).transpose(1, 2)  # (B, C, T)
        return self.pre_combiner(h).float().mean(dim=-1).type(h.dtype)  # (B, C), accumulated in fp32


class ConvFormatEmbedding(nn.Module):
    """Code embedding under ``emb`` (key ``speech_emb.emb.weight``)."""

    def __init__(self, n_tokens: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(n_tokens, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.emb(x)  # (B, S, C)


class CVVP(nn.Module):
    """Contrastive Voice-Voice Pretrained model; see ``score``."""

    def __init__(self, cfg: CVVPConfig | None = None):
        super().__init__()
        cfg = cfg or CVVPConfig()
        self.cfg = cfg
        C = cfg.dim
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.cond_emb = nn.Sequential(  # no activation between the two convs (as the original)
            nn.Conv1d(cfg.n_mels, C // 2, kernel_size=5, stride=2, padding=2),
            nn.Conv1d(C // 2, C, kernel_size=3, stride=2, padding=1),
        )
        self.conditioning_transformer = CollapsingTransformer(cfg.encoder(cfg.n_cond_layer))
        self.to_conditioning_latent = nn.Linear(C, C, bias=False)
        self.speech_emb = ConvFormatEmbedding(cfg.n_speech_tokens, C)
        self.speech_transformer = CollapsingTransformer(cfg.encoder(cfg.n_speech_layer))
        self.to_speech_latent = nn.Linear(C, C, bias=False)

    @torch.inference_mode()
    def embed_conditioning(self, mel_cond: Tensor) -> Tensor:
        """Unit-norm voice latents (B, dim) for normalised AR conditioning mels (B, 80, T)."""
        h = self.cond_emb(mel_cond.to(self.cond_emb[0].weight.dtype)).transpose(1, 2)  # (B, T/4, C)
        return F.normalize(self.to_conditioning_latent(self.conditioning_transformer(h)).float(), dim=-1)

    @torch.inference_mode()
    def embed_speech(self, codes: Tensor) -> Tensor:
        """Unit-norm speech latents (B, dim) for AR codes (B, S)."""
        h = self.speech_transformer(self.speech_emb(codes))  # (B, C)
        return F.normalize(self.to_speech_latent(h).float(), dim=-1)

    @torch.inference_mode()
    def score(self, mel_cond: Tensor, codes: Tensor) -> Tensor:
        """Score each candidate's codes against a voice clip.

        Parameters
        ----------
        mel_cond : (B, 80, T) or (1, 80, T) float normalised AR conditioning mel (``format_conditioning``
            output); a single clip is encoded once and shared by every candidate.
        codes : (B, S) int64 AR codes (after ``fix_autoregressive_output``).

        Returns
        -------
        (B,) float32: cosine(voice latent, speech latent) * exp(temperature).
        """
        c = self.embed_conditioning(mel_cond)  # (B or 1, D)
        s = self.embed_speech(codes)  # (B, D)
        return self.score_from_latents(c, s)

    def score_from_latents(self, cond_latents: Tensor, speech_latents: Tensor) -> Tensor:
        """(B or 1, D) x (B, D) unit-norm latents from ``embed_*`` -> (B,) scores (reuse a clip's latent)."""
        return (cond_latents * speech_latents).sum(dim=-1) * self.temperature.float().exp()

    def forward(self, mel_cond: Tensor, codes: Tensor) -> Tensor:
        return self.score(mel_cond, codes)

    def loss(self, mel_cond: Tensor, codes: Tensor) -> Tensor:
        """The original's ``return_loss=True`` output (symmetric InfoNCE), for checks only."""
        return contrastive_loss(self.embed_conditioning(mel_cond), self.embed_speech(codes), self.temperature)


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``cvvp.pth`` keys already match this module 1:1; the function exists for ``loading.build`` symmetry."""
    return sd
