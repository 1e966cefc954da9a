"""The compact pre-norm transformer encoder of CLVP and CVVP (the original's vendored 2022 x-transformers).

Only the configuration the released rerankers use is implemented: alternating attention / GLU feed-forward
layers, pre-norm residuals with RMSNorm, rotary position embeddings and a final LayerNorm. Submodule names
follow the checkpoints, so a state dict maps 1:1::

    attn_layers.layers.{i}.0.0.g                  RMSNorm gain of layer i (every layer)
    attn_layers.layers.{2j}.1[.wrap].to_q|to_k|to_v|to_out   attention
    attn_layers.layers.{2j+1}.1[.wrap].net.0.proj|net.3      GLU feed-forward
    attn_layers.rotary_pos_emb.inv_freq           persistent rotary frequencies (16 values)
    norm.weight|bias                              final LayerNorm

CLVP's checkpoint wraps every block in a ``CheckpointedLayer`` (keys carry ``.wrap.``); CVVP's does not
(``XTransformerConfig.wrapped``).

Quirk kept for checkpoint compatibility: rotary embeddings (dim 32) rotate the first 32 channels of each
head of q, k AND v.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import attention

DIM_HEAD = 64  # fixed inside the vendored x-transformers


@dataclass(frozen=True)
class XTransformerConfig:
    """One encoder stack. ``depth`` counts (attention, feed-forward) pairs, so there are ``2 * depth`` layers."""

    dim: int = 768
    depth: int = 20
    n_head: int = 12
    ff_mult: int = 2
    wrapped: bool = True  # CheckpointedLayer ``.wrap.`` in the keys (CLVP yes, CVVP no)

    @property
    def dim_head(self) -> int:
        return DIM_HEAD

    @property
    def rotary_dim(self) -> int:
        return max(DIM_HEAD // 2, 32)


class RMSNorm(nn.Module):
    """``x / clamp(||x|| * dim^-0.5, 1e-8) * g``, computed in float32 and cast back."""

    def __init__(self, dim: int, eps: float = 1e-8):
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        norm = torch.linalg.vector_norm(xf, dim=-1, keepdim=True) * self.scale
        return (xf / norm.clamp(min=self.eps) * self.g.float()).type(x.dtype)


class RotaryEmbedding(nn.Module):
    """Rotary frequencies; ``inv_freq`` is a persistent buffer (it is stored in the checkpoints)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, T: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos and sin tables, each (T, rotary_dim), float32."""
        t = torch.arange(T, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.float())  # (T, rotary_dim / 2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (T, rotary_dim)
        return emb.cos(), emb.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the first ``cos.shape[-1]`` channels of x (B, H, T, d); the rest pass through unchanged."""
    r = cos.shape[-1]
    xr, xp = x[..., :r].float(), x[..., r:]
    x1, x2 = xr.chunk(2, dim=-1)
    rotated = xr * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat((rotated.type(x.dtype), xp), dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention, ``dim_head`` 64, rotary on q/k/v, optional key padding mask."""

    def __init__(self, dim: int, n_head: int, dim_head: int = DIM_HEAD):
        super().__init__()
        self.n_head = n_head
        inner = n_head * dim_head
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: Tensor, rotary: tuple[Tensor, Tensor], bias: Tensor | None = None) -> Tensor:
        B, T, _ = x.shape
        q, k, v = (p(x).view(B, T, self.n_head, -1).transpose(1, 2) for p in (self.to_q, self.to_k, self.to_v))
        q, k, v = (apply_rotary(t, *rotary) for t in (q, k, v))  # each (B, H, T, d)
        h = attention(q, k, v, bias)  # (B, H, T, d)
        return self.to_out(h.transpose(1, 2).reshape(B, T, -1))


class GLU(nn.Module):
    """``a * gelu(b)`` where ``[a | b] = proj(x)``."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: Tensor) -> Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    """``net = [GLU, Identity, Identity (the dropout slot), Linear]``: keys ``net.0.proj`` and ``net.3``."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        inner = int(dim * mult)
        self.net = nn.Sequential(GLU(dim, inner), nn.Identity(), nn.Identity(), nn.Linear(inner, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Wrap(nn.Module):
    """The original's ``CheckpointedLayer``: only adds ``.wrap.`` to the keys (no checkpointing at inference)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.wrap = block

    def forward(self, *args: object, **kwargs: object) -> Tensor:
        return self.wrap(*args, **kwargs)


class AttentionLayers(nn.Module):
    """``layers.{i} = [[RMSNorm], block]``; pre-norm residual ``x + block(norm(x))``."""

    def __init__(self, cfg: XTransformerConfig):
        super().__init__()
        self.rotary_pos_emb = RotaryEmbedding(cfg.rotary_dim)
        self.layers = nn.ModuleList()
        for _ in range(cfg.depth):
            for block in (Attention(cfg.dim, cfg.n_head, cfg.dim_head), FeedForward(cfg.dim, cfg.ff_mult)):
                # index 2 (the parameter-free Residual of the original) is implicit
                norms = nn.ModuleList([RMSNorm(cfg.dim)])
                self.layers.append(nn.ModuleList([norms, Wrap(block) if cfg.wrapped else block]))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        B, T, _ = x.shape
        rotary = self.rotary_pos_emb(T, x.device)
        bias = None
        if mask is not None:  # key padding mask (B, T), True = keep -> additive (B, 1, 1, T)
            bias = torch.zeros((B, 1, 1, T), dtype=torch.float32, device=x.device)
            bias = bias.masked_fill(~mask.bool()[:, None, None, :], float("-inf"))
        for i, (norms, block) in enumerate(self.layers):
            h = norms[0](x)
            x = x + (block(h, rotary, bias) if i % 2 == 0 else block(h))
        return x


class XTransformerEncoder(nn.Module):
    """(B, T, C) -> (B, T, C): ``attn_layers`` then the final LayerNorm ``norm`` (no absolute positions)."""

    def __init__(self, cfg: XTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.attn_layers = AttentionLayers(cfg)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x: (B, T, C); mask: (B, T) bool, True for real positions (padded keys are ignored)."""
        h = self.attn_layers(x, mask)
        return F.layer_norm(
            h.float(), h.shape[-1:], self.norm.weight.float(), self.norm.bias.float(), self.norm.eps
        ).type(h.dtype)
