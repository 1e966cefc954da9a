"""CLVP: the contrastive text/speech-code model that reranks the AR candidates (``clvp2.pth``).

Text tokens and speech codes are embedded, encoded by two x-transformer encoders (rotary positions, no
absolute ones), mean-pooled over the real positions, projected, L2-normalised; the score is the cosine
similarity times ``exp(temperature)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .xtransformer import XTransformerConfig, XTransformerEncoder

# reference kwargs that do not change inference (positional lengths are unused on the x-transformers path)
_IGNORED = frozenset(
    {"text_seq_len", "speech_seq_len", "text_mask_percentage", "voice_mask_percentage", "wav_token_compression"}
)
_RENAMES = {
    "dim_text": "dim_text",
    "dim_speech": "dim_speech",
    "dim_latent": "dim_latent",
    "num_text_tokens": "n_text_tokens",
    "num_speech_tokens": "n_speech_tokens",
    "text_enc_depth": "n_text_layer",
    "speech_enc_depth": "n_speech_layer",
    "text_heads": "n_text_head",
    "speech_heads": "n_speech_head",
}


@dataclass(frozen=True)
class CLVPConfig:
    """Released hyperparameters (``clvp2.pth``). ``n_*_layer`` counts (attention, feed-forward) pairs."""

    dim_text: int = 768
    dim_speech: int = 768
    dim_latent: int = 768
    n_text_tokens: int = 256
    n_speech_tokens: int = 8192
    n_text_layer: int = 20
    n_speech_layer: int = 20
    n_text_head: int = 12
    n_speech_head: int = 12

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> CLVPConfig:
        """Map the original ``CLVP(**kwargs)`` constructor arguments onto this config."""
        if not kwargs.get("use_xformers", False):
            raise ValueError("only CLVP(use_xformers=True) is supported (the released clvp2.pth uses it)")
        unknown = set(kwargs) - set(_RENAMES) - _IGNORED - {"use_xformers"}
        if unknown:
            raise ValueError(f"unsupported CLVP arguments {sorted(unknown)}")
        return cls(**{_RENAMES[k]: int(v) for k, v in kwargs.items() if k in _RENAMES})

    def encoder(self, which: str) -> XTransformerConfig:
        if which == "text":
            return XTransformerConfig(self.dim_text, self.n_text_layer, self.n_text_head, ff_mult=2, wrapped=True)
        return XTransformerConfig(self.dim_speech, self.n_speech_layer, self.n_speech_head, ff_mult=2, wrapped=True)


class _Checkpointed(nn.Module):
    """The original's ``CheckpointedXTransformerEncoder``: holds the encoder under ``transformer``."""

    def __init__(self, cfg: XTransformerConfig):
        super().__init__()
        self.transformer = XTransformerEncoder(cfg)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.transformer(x, mask)


def masked_mean(h: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of h (B, T, C) over T, counting only positions where mask (B, T) is True."""
    h = h.float()  # accumulate in fp32 (sequences of ~500 codes under fp16/bf16)
    if mask is None:
        return h.mean(dim=1)
    m = mask.to(h.dtype)[..., None]  # (B, T, 1)
    return (h * m).sum(dim=1) / m.sum(dim=1)


def contrastive_loss(a: Tensor, b: Tensor, temperature: Tensor) -> Tensor:
    """Symmetric InfoNCE over the batch for unit-norm latents a, b (B, D) (the original's training loss)."""
    sim = a @ b.t() * temperature.exp()  # (B, B)
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels)) / 2


class CLVP(nn.Module):
    """Contrastive Language-Voice Pretrained model; see ``similarity``."""

    def __init__(self, cfg: CLVPConfig | None = None):
        super().__init__()
        cfg = cfg or CLVPConfig()
        self.cfg = cfg
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.text_emb = nn.Embedding(cfg.n_text_tokens, cfg.dim_text)
        self.to_text_latent = nn.Linear(cfg.dim_text, cfg.dim_latent, bias=False)
        self.speech_emb = nn.Embedding(cfg.n_speech_tokens, cfg.dim_speech)
        self.to_speech_latent = nn.Linear(cfg.dim_speech, cfg.dim_latent, bias=False)
        self.text_transformer = _Checkpointed(cfg.encoder("text"))
        self.speech_transformer = _Checkpointed(cfg.encoder("speech"))

    @torch.inference_mode()
    def embed_text(self, text_tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Unit-norm text latents (B, dim_latent) for text_tokens (B, T) (mask (B, T), True = real token)."""
        h = self.text_transformer(self.text_emb(text_tokens), mask)  # (B, T, C)
        h = masked_mean(h, mask).to(self.to_text_latent.weight.dtype)  # (B, C)
        return F.normalize(self.to_text_latent(h).float(), dim=-1)

    @torch.inference_mode()
    def embed_speech(self, speech_tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Unit-norm speech latents (B, dim_latent) for AR codes (B, S) (mask (B, S), True = real code)."""
        h = self.speech_transformer(self.speech_emb(speech_tokens), mask)  # (B, S, C)
        h = masked_mean(h, mask).to(self.to_speech_latent.weight.dtype)  # (B, C)
        return F.normalize(self.to_speech_latent(h).float(), dim=-1)

    @torch.inference_mode()
    def similarity(
        self,
        text_tokens: Tensor,
        speech_tokens: Tensor,
        *,
        text_mask: Tensor | None = None,
        speech_mask: Tensor | None = None,
    ) -> Tensor:
        """Score each candidate against its text.

        Parameters
        ----------
        text_tokens : (B, T) or (1, T) int64 BPE ids (a single row is encoded once and shared by every candidate).
        speech_tokens : (B, S) int64 AR codes (after ``fix_autoregressive_output``).
        text_mask, speech_mask : optional (·, T) / (B, S) bool, True for real positions; masked positions are
            ignored by attention and by the mean. The original passes all-true masks (no mask).

        Returns
        -------
        (B,) float32: cosine(text latent, speech latent) * exp(temperature).
        """
        t = self.embed_text(text_tokens, text_mask)  # (B or 1, D)
        s = self.embed_speech(speech_tokens, speech_mask)  # (B, D)
        return self.similarity_from_latents(t, s)

    def similarity_from_latents(self, text_latents: Tensor, speech_latents: Tensor) -> Tensor:
        """(B or 1, D) x (B, D) unit-norm latents from ``embed_*`` -> (B,) scores (reuse a text latent)."""
        return (text_latents * speech_latents).sum(dim=-1) * self.temperature.float().exp()

    def forward(self, text_tokens: Tensor, speech_tokens: Tensor) -> Tensor:
        return self.similarity(text_tokens, speech_tokens)

    def loss(self, text_tokens: Tensor, speech_tokens: Tensor) -> Tensor:
        """The original's ``return_loss=True`` output (symmetric InfoNCE), for checks only."""
        return contrastive_loss(self.embed_text(text_tokens), self.embed_speech(speech_tokens), self.temperature)


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``clvp2.pth`` keys already match this module 1:1; the function exists for ``loading.build`` symmetry."""
    return sd
