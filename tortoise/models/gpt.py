"""UnifiedVoice: TorToiSe's autoregressive model (a GPT-2 over [voice, text, mel codes]) with a static KV cache.

Checkpoint-compatible with ``autoregressive.pth``: the module tree reproduces the original's 410 state-dict keys.
The GPT-2 blocks are our own (no ``transformers``): ``ln_1 -> attn (c_attn: q|k|v, c_proj) -> ln_2 -> mlp (c_fc,
gelu tanh, c_proj)``, a final ``gpt.ln_f``, and no absolute positions inside the transformer (the original replaces
``wpe`` with zeros); text and mel positions come from two learned tables added to the embeddings. The mel logits pass
through two LayerNorms (``gpt.ln_f`` then ``final_norm``), as in the original.

Inference uses a preallocated ``[B, H, S_max, D]`` cache per layer (pytorch-labs/gpt-fast ``model.py``); mel positions
are 0 for the start token and i for the i-th generated code, as in training (the original's cached step,
``tortoise/models/autoregressive.py::GPT2InferenceModel.forward`` of tortoise-tts 3.0.0, is one position ahead;
the ``shifted_positions`` option of ``tortoise.sampling`` reproduces it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidInputError
from .layers import AttentionBlock


@dataclass(frozen=True)
class GPTConfig:
    """Hyperparameters of UnifiedVoice; the defaults are those of the released ``autoregressive.pth``."""

    layers: int = 30
    model_dim: int = 1024
    heads: int = 16
    max_text_tokens: int = 402
    max_mel_tokens: int = 604
    max_conditioning_inputs: int = 2
    number_text_tokens: int = 255
    start_text_token: int = 255
    stop_text_token: int = 0
    number_mel_codes: int = 8194
    start_mel_token: int = 8192
    stop_mel_token: int = 8193
    mel_length_compression: int = 1024  # audio samples per mel code
    cond_attn_blocks: int = 6
    n_mels: int = 80
    layer_norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.heads

    @property
    def n_mel_positions(self) -> int:
        return self.max_mel_tokens + 2 + self.max_conditioning_inputs

    @property
    def n_text_positions(self) -> int:
        return self.max_text_tokens + 2

    @classmethod
    def from_reference(cls, kwargs: Mapping[str, object]) -> GPTConfig:
        """Config from the original ``UnifiedVoice(**kwargs)`` constructor arguments (its defaults fill the gaps).

        Raises ValueError for an unknown argument or a variant this implementation does not build
        (``types != 1``, ``train_solo_embeddings``, ``use_mel_codes_as_input=False``).
        """
        kw = {**_REFERENCE_DEFAULTS, **kwargs}
        unknown = sorted(set(kw) - set(_REFERENCE_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown UnifiedVoice arguments {unknown}; known: {sorted(_REFERENCE_DEFAULTS)}")
        if kw["types"] != 1 or kw["train_solo_embeddings"] or not kw["use_mel_codes_as_input"]:
            raise ValueError(
                "only the released UnifiedVoice variant is supported (types=1, train_solo_embeddings=False, "
                f"use_mel_codes_as_input=True); got types={kw['types']}, train_solo_embeddings="
                f"{kw['train_solo_embeddings']}, use_mel_codes_as_input={kw['use_mel_codes_as_input']}"
            )
        if kw["start_text_token"] is None:
            kw["start_text_token"] = kw["number_text_tokens"]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kw.items() if k in names})


# The original constructor's own defaults (not the released values): a reference config may omit any of these.
_REFERENCE_DEFAULTS: dict[str, object] = dict(
    layers=8, model_dim=512, heads=8, max_text_tokens=120, max_mel_tokens=250, max_conditioning_inputs=1,
    mel_length_compression=1024, number_text_tokens=256, start_text_token=None, number_mel_codes=8194,
    start_mel_token=8192, stop_mel_token=8193, train_solo_embeddings=False, use_mel_codes_as_input=True,
    checkpointing=True, types=1,
)  # fmt: skip


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back (fp16/bf16 safety)."""

    keep_fp32 = True  # loading.build keeps these parameters float32 in a reduced-precision model (no per-call cast)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.float()
        b = self.bias.float()
        if x.dtype == torch.bfloat16 and x.device.type == "cpu":  # the CPU kernel takes bf16 in, float32 weights
            return F.layer_norm(x, self.normalized_shape, w, b, self.eps)  # and computes in float32: no casts
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).type(x.dtype)


class CachePos(NamedTuple):
    """Where the S positions of one call go in the KV cache.

    ``index`` (S,) int64 on the device: the cache slots (a tensor, so a recorded or compiled step reads it as data;
    the decode loop advances it in place). ``end``: the filled cache length after the call, as a host int; with it
    attention reads only the filled part and the new positions are the last S (one new position, or a prefill from
    slot 0, whose masks are implicit). ``end=None``: static shapes (for a recorded or compiled step): the whole cache
    is read with the causal-mask rows of ``index``, which ``GPT2.forward`` puts in ``mask``.
    """

    index: Tensor
    end: int | None = None
    mask: Tensor | None = None  # (1, 1, S, S_max) bool, set by GPT2.forward when ``end`` is None


class KVCache(nn.Module):
    """Preallocated keys and values of one attention layer: ``[B_max, H, S_max, D]`` (not saved with the model)."""

    def __init__(self, max_batch: int, heads: int, max_seq: int, head_dim: int, dtype: torch.dtype):
        super().__init__()
        shape = (max_batch, heads, max_seq, head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype), persistent=False)

    def update(self, pos: CachePos, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write ``k, v`` at ``pos`` (at ``end - S .. end - 1`` when ``end`` is known on the host, else at
        ``index``); return the whole cache of the first B rows."""
        # pos.index: [S], k, v: [B, H, S, D]
        B, S = k.shape[0], k.shape[2]
        k_out, v_out = self.k_cache[:B], self.v_cache[:B]  # views: writes land in the buffers
        if pos.end is not None:  # a plain strided copy: 2-3x cheaper than index_copy_ per decode step on a CPU
            k_out[:, :, pos.end - S : pos.end].copy_(k)
            v_out[:, :, pos.end - S : pos.end].copy_(v)
        else:  # positions as a tensor (static shapes for torch.compile); ~8x faster than k_out[:, :, pos] = k on CPU
            k_out.index_copy_(2, pos.index, k.to(k_out.dtype))
            v_out.index_copy_(2, pos.index, v.to(v_out.dtype))
        return k_out, v_out


class Attention(nn.Module):
    """GPT-2 causal self-attention; ``c_attn`` emits [q | k | v] (each ``model_dim`` wide, heads inside)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.heads = cfg.heads
        self.c_attn = nn.Linear(cfg.model_dim, 3 * cfg.model_dim)
        self.c_proj = nn.Linear(cfg.model_dim, cfg.model_dim)
        self.kv_cache: KVCache | None = None

    def forward(self, x: Tensor, pos: CachePos | None = None) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if pos is None:  # full recompute, no cache involved
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            if self.kv_cache is None:
                raise RuntimeError("cache position given but no KV cache: call setup_caches(max_batch, max_seq) first")
            k, v = self.kv_cache.update(pos, k, v)  # (B, H, S_max, D)
            if pos.end is not None:  # attend over the filled part only: S_max - end fewer keys read per step
                k, v = k[:, :, : pos.end], v[:, :, : pos.end]  # (B, H, end, D)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=pos.mask, is_causal=pos.mask is None and T > 1)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.model_dim, 4 * cfg.model_dim)
        self.c_proj = nn.Linear(4 * cfg.model_dim, cfg.model_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # GPT-2 "gelu_new"


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm32(cfg.model_dim, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg)
        self.ln_2 = LayerNorm32(cfg.model_dim, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, pos: CachePos | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), pos)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """The transformer stack ``gpt.h.*`` + ``gpt.ln_f``; inputs are embeddings, no positions are added here."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = LayerNorm32(cfg.model_dim, eps=cfg.layer_norm_eps)
        self.register_buffer("causal_mask", None, persistent=False)
        self.max_batch = self.max_seq = 0
        self.cache_version = 0  # bumped whenever the caches are allocated anew (recorded graphs depend on them)
        self._cache_kind: tuple[torch.dtype, torch.device] | None = None

    def setup_caches(self, max_batch: int, max_seq: int, dtype: torch.dtype | None = None) -> None:
        """Allocate the KV caches and the causal mask once; a smaller later request reuses them."""
        dtype = dtype or self.h[0].attn.c_attn.weight.dtype  # the compute dtype (norms stay float32)
        device = self.ln_f.weight.device
        if self.max_batch >= max_batch and self.max_seq >= max_seq and self._cache_kind == (dtype, device):
            return
        max_seq = (max_seq + 7) // 8 * 8  # round up: fewer reallocations, friendlier shapes
        with torch.device(device):
            for block in self.h:
                block.attn.kv_cache = KVCache(max_batch, self.cfg.heads, max_seq, self.cfg.head_dim, dtype)
            self.causal_mask = torch.tril(torch.ones(max_seq, max_seq, dtype=torch.bool))
        self.max_batch, self.max_seq, self._cache_kind = max_batch, max_seq, (dtype, device)
        self.cache_version += 1

    def share_prefix(self, batch: int, length: int) -> None:
        """Copy cache row 0's first ``length`` positions to rows 1 .. batch-1 (a prompt prefilled once for all)."""
        for block in self.h:
            cache = block.attn.kv_cache
            cache.k_cache[1:batch, :, :length] = cache.k_cache[:1, :, :length]
            cache.v_cache[1:batch, :, :length] = cache.v_cache[:1, :, :length]

    def forward(self, x: Tensor, pos: CachePos | None = None) -> Tensor:
        """``x`` (B, S, C) -> hidden states (B, S, C); with ``pos`` through the KV cache (see ``CachePos``)."""
        if pos is not None and pos.end is None:  # static shapes: the whole cache, masked
            pos = CachePos(pos.index, mask=self.causal_mask[None, None, pos.index])  # mask: (1, 1, S, S_max)
        for block in self.h:
            x = block(x, pos)
        return self.ln_f(x)


class ConditioningEncoder(nn.Module):
    """Conv1d(80 -> C, k=1) + attention blocks; the voice latent is the output's first frame."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.init = nn.Conv1d(cfg.n_mels, cfg.model_dim, kernel_size=1)
        self.attn = nn.Sequential(*(AttentionBlock(cfg.model_dim, cfg.heads) for _ in range(cfg.cond_attn_blocks)))

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(self.init(x))[:, :, 0]  # (B, 80, T) -> (B, C)


class LearnedPositionEmbeddings(nn.Module):
    def __init__(self, n_positions: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(n_positions, dim)

    def forward(self, positions: Tensor) -> Tensor:
        return self.emb(positions)


class UnifiedVoice(nn.Module):
    """TorToiSe's AR model. Sequence layout: ``[voice latent, 255 + text + 0, 8192 + mel codes (+ 8193)]``."""

    def __init__(self, cfg: GPTConfig | None = None):
        super().__init__()
        cfg = cfg or GPTConfig()
        self.cfg = cfg
        self.conditioning_encoder = ConditioningEncoder(cfg)
        self.text_embedding = nn.Embedding(cfg.number_text_tokens + 1, cfg.model_dim)
        self.mel_embedding = nn.Embedding(cfg.number_mel_codes, cfg.model_dim)
        self.gpt = GPT2(cfg)
        self.mel_pos_embedding = LearnedPositionEmbeddings(cfg.n_mel_positions, cfg.model_dim)
        self.text_pos_embedding = LearnedPositionEmbeddings(cfg.n_text_positions, cfg.model_dim)
        self.final_norm = LayerNorm32(cfg.model_dim)
        self.text_head = nn.Linear(cfg.model_dim, cfg.number_text_tokens + 1)
        self.mel_head = nn.Linear(cfg.model_dim, cfg.number_mel_codes)

    # ---- conditioning -------------------------------------------------------------------------------------------
    def get_conditioning(self, mels: Tensor) -> Tensor:
        """Voice latent from AR conditioning mels.

        Parameters
        ----------
        mels : (B, n, 80, T) normalised log-mels of n clips (or (B, 80, T) for one clip).

        Returns
        -------
        (B, C): the encoder's first output frame, averaged over the n clips.
        """
        if mels.dim() == 3:
            mels = mels.unsqueeze(1)
        B, n = mels.shape[:2]
        return self.conditioning_encoder(mels.flatten(0, 1)).view(B, n, -1).mean(dim=1)

    # ---- embeddings ---------------------------------------------------------------------------------------------
    def embed_text(self, text_tokens: Tensor) -> Tensor:
        """(B, N) ids -> (B, N + 2, C): ``start_text + ids + stop_text``, each with its learned position."""
        cfg = self.cfg
        if text_tokens.shape[1] + 2 > cfg.n_text_positions:
            raise InvalidInputError(
                f"text is {text_tokens.shape[1]} tokens; the model takes at most {cfg.n_text_positions - 2}. "
                "Split the text into shorter pieces."
            )
        ids = F.pad(F.pad(text_tokens, (0, 1), value=cfg.stop_text_token), (1, 0), value=cfg.start_text_token)
        return self.text_embedding(ids) + self.text_pos_embedding(torch.arange(ids.shape[1], device=ids.device))

    def embed_mel(self, codes: Tensor, positions: Tensor) -> Tensor:
        """(B, S) mel codes at mel positions (S,) -> (B, S, C)."""
        return self.mel_embedding(codes) + self.mel_pos_embedding(positions)

    def prefix(self, cond_latent: Tensor, text_tokens: Tensor) -> Tensor:
        """Generation prefix ``[voice latent, start_text + text + stop_text]`` (B, E, C), E = N + 3."""
        text = self.embed_text(text_tokens)
        return torch.cat([cond_latent.unsqueeze(1).to(text.dtype), text], dim=1)

    # ---- inference (KV cache) -----------------------------------------------------------------------------------
    def setup_caches(self, max_batch: int, max_seq: int, dtype: torch.dtype | None = None) -> None:
        self.gpt.setup_caches(max_batch, max_seq, dtype)

    def share_prefix(self, batch: int, length: int) -> None:
        self.gpt.share_prefix(batch, length)

    def next_logits(self, x: Tensor, pos: CachePos) -> Tensor:
        """Run embeddings ``x`` (B, S, C) at cache position ``pos``; mel logits of the last one (B, V).

        The decode loop gives ``pos.end``; a recorded or compiled step does not (static shapes, see ``CachePos``).
        """
        h = self.gpt(x, pos)[:, -1]
        return self.mel_head(self.final_norm(h))

    # ---- full passes (no cache) ---------------------------------------------------------------------------------
    def teacher_forced_logits(self, cond_latent: Tensor, text_tokens: Tensor, codes: Tensor) -> Tensor:
        """Next-code logits (B, M + 1, V) after ``start_mel`` and each of the M given codes (full recompute).

        For checks only (golden and cache tests): generation decodes with the KV cache."""
        mel = F.pad(codes, (1, 0), value=self.cfg.start_mel_token)
        prefix = self.prefix(cond_latent, text_tokens)
        x = torch.cat([prefix, self.embed_mel(mel, torch.arange(mel.shape[1], device=mel.device))], dim=1)
        return self.mel_head(self.final_norm(self.gpt(x)[:, prefix.shape[1] :]))

    def _aligned(self, cond_latent: Tensor, text_tokens: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
        """Training layout [cond, 255+text+0, 8192+codes+8193] -> normalised states at text (N+2) and mel (M+2)."""
        text = self.embed_text(text_tokens)
        mel = F.pad(F.pad(codes, (0, 1), value=self.cfg.stop_mel_token), (1, 0), value=self.cfg.start_mel_token)
        mel = self.embed_mel(mel, torch.arange(mel.shape[1], device=mel.device))
        h = self.final_norm(self.gpt(torch.cat([cond_latent.unsqueeze(1).to(text.dtype), text, mel], dim=1)))
        return h[:, 1 : 1 + text.shape[1]], h[:, -mel.shape[1] :]

    def latents(self, cond_latent: Tensor, text_tokens: Tensor, codes: Tensor) -> Tensor:
        """Latents for the diffusion decoder (``UnifiedVoice.forward(..., return_latent=True)`` in the original's
        ``tortoise/models/autoregressive.py``, as ``tortoise/api.py::TextToSpeech.tts`` of tortoise-tts 3.0.0 calls it).

        Parameters
        ----------
        cond_latent : (B, C) voice latent.
        text_tokens : (B, N) text ids as fed to generation (the pipeline's ids + one stop token).
        codes : (B, M) fixed mel codes (see ``tortoise.candidates.fix_autoregressive_output``).

        Returns
        -------
        (B, M, C): normalised hidden states at the mel inputs ``[start, c1 .. c_{M-1}]``.
        """
        return self._aligned(cond_latent, text_tokens, codes)[1][:, :-2]

    def set_mel_padding(self, codes: Tensor, wav_lengths: Tensor) -> Tensor:
        """Copy of ``codes`` with stop codes from ``wav_lengths // 1024 + 1`` on (the original does this in place)."""
        end = torch.div(wav_lengths, self.cfg.mel_length_compression, rounding_mode="trunc") + 1  # (B,)
        pos = torch.arange(codes.shape[-1], device=codes.device)
        return codes.masked_fill(pos[None, :] >= end[:, None], self.cfg.stop_mel_token)

    def logits(
        self,
        cond_latent: Tensor,
        text_inputs: Tensor,
        text_lengths: Tensor,
        mel_codes: Tensor,
        wav_lengths: Tensor,
        *,
        clip_inputs: bool = True,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Training-layout text logits (B, 256, N'+2), mel logits (B, 8194, M'+2) and their targets."""
        text_inputs, mel_codes = self._clip(text_inputs, text_lengths, mel_codes, wav_lengths, clip_inputs)
        text_h, mel_h = self._aligned(cond_latent, text_inputs, mel_codes)
        text_targets = F.pad(text_inputs, (0, 2), value=self.cfg.stop_text_token)
        mel_targets = F.pad(mel_codes, (0, 2), value=self.cfg.stop_mel_token)
        return self.text_head(text_h).transpose(1, 2), self.mel_head(mel_h).transpose(1, 2), text_targets, mel_targets

    def _clip(self, text_inputs, text_lengths, mel_codes, wav_lengths, clip_inputs):
        if clip_inputs:  # cut away padding columns shared by the whole batch
            text_inputs = text_inputs[:, : int(text_lengths.max())]
            mel_codes = mel_codes[:, : int(wav_lengths.max()) // self.cfg.mel_length_compression]
        return text_inputs, self.set_mel_padding(mel_codes, wav_lengths)

    def forward(
        self,
        cond_latent: Tensor,
        text_inputs: Tensor,
        text_lengths: Tensor,
        mel_codes: Tensor,
        wav_lengths: Tensor,
        *,
        return_latent: bool = False,
        clip_inputs: bool = True,
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        """The original training forward: ``(loss_text, loss_mel, mel_logits)`` or, with ``return_latent``, latents.

        ``mel_codes`` is not modified (the original writes the stop-code padding into it in place).
        """
        if return_latent:
            text_inputs, mel_codes = self._clip(text_inputs, text_lengths, mel_codes, wav_lengths, clip_inputs)
            return self.latents(cond_latent, text_inputs, mel_codes)
        text_logits, mel_logits, text_targets, mel_targets = self.logits(
            cond_latent, text_inputs, text_lengths, mel_codes, wav_lengths, clip_inputs=clip_inputs
        )
        loss_text = F.cross_entropy(text_logits, text_targets)
        loss_mel = F.cross_entropy(mel_logits, mel_targets)
        return loss_text, loss_mel, mel_logits


_LEGACY_KEY = re.compile(r"gpt\.h\.\d+\.attn\.(bias|masked_bias)")
_CONV1D_KEY = re.compile(r"gpt\.h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight")


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Original ``autoregressive.pth`` state dict -> ours.

    Drops exactly the legacy GPT-2 buffers ``gpt.h.N.attn.bias`` / ``gpt.h.N.attn.masked_bias`` (saved by
    transformers <= 4.29) and transposes the GPT-2 ``Conv1D`` weights, stored (in, out), to ``nn.Linear``'s (out, in).
    Every other key passes through unchanged, so a strict load still rejects anything unexpected.
    """
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        if _LEGACY_KEY.fullmatch(k):
            continue
        if _CONV1D_KEY.fullmatch(k):
            if v.dim() != 2:
                raise ValueError(f"{k}: expected a 2-D GPT-2 Conv1D weight, got shape {tuple(v.shape)}")
            v = v.t().contiguous()  # a transposed view would make every GEMM read a strided weight (slow in bf16)
        out[k] = v
    return out
