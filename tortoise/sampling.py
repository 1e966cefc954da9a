"""Autoregressive mel-code sampling: pure logits processors and a static-KV-cache decode loop.

The processors reproduce what TorToiSe's HF ``generate`` call did per step (transformers 4.19-4.31; the call is in
``tortoise/models/autoregressive.py::UnifiedVoice.inference_speech`` of tortoise-tts 3.0.0): repetition penalty over
every id in the running row (including the prompt's fake ids 1 and the start code 8192) -> temperature -> top-k (HF's
default 50) -> top-p -> softmax -> a draw. The draw is ``argmax(probs / Exp(1))``, which is
what ``torch.multinomial(probs, 1)`` computes internally, without its host-side checks. The Exp(1) noise comes from
one of two sources:

* a generator (the original's way): one draw for the whole (B, V) batch per step. With the CPU generator it gives the
  same ids as the original, bit for bit, at the same batch size; at another batch size every row gets other noise.
* per-candidate streams (``streams``, keys from :func:`candidate_keys`): the noise of candidate c at code position t
  for code v is a hash of (seed, c, t, v), computed with integer tensor ops on the device. A candidate's draws do
  not depend on which batch it is decoded in, nor on the batch size, and there is no generator state to carry.

The loop follows pytorch-labs/gpt-fast ``generate.py``: ``prefill``, ``decode_one_token``, ``decode_n_tokens``,
``generate``. No host sync per token; the only one is the "have all rows stopped?" check every ``stop_check_every``
steps. The model is anything with the methods of ``ARModel`` (``tortoise.models.gpt.UnifiedVoice``); the settings of
the draws are one ``SamplingParams`` value, the cache position one ``CachePos``. The decode step (embeddings at a
cache position -> logits) is the model's ``next_logits`` unless the caller passes another ``step``, e.g. one recorded
as a device graph or compiled (``TextToSpeech`` with ``compile=True``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from .errors import InvalidInputError
from .models.gpt import CachePos

FAKE_PROMPT_ID = 1  # the original feeds the prefix to HF as ids of 1s; they take part in the repetition penalty


class ARModel(Protocol):
    """What the sampler needs from the model (``UnifiedVoice`` provides it)."""

    cfg: Any  # start_mel_token, stop_mel_token, number_mel_codes, max_mel_tokens

    def prefix(self, cond_latent: Tensor, text_tokens: Tensor) -> Tensor: ...
    def embed_mel(self, codes: Tensor, positions: Tensor) -> Tensor: ...
    def next_logits(self, x: Tensor, pos: CachePos) -> Tensor: ...
    def setup_caches(self, max_batch: int, max_seq: int) -> None: ...


Step = Callable[[Tensor, CachePos], Tensor]  # embeddings (B, S, C) at a cache position -> logits of the last (B, V)


@dataclass(frozen=True)
class SamplingParams:
    """The original's per-step settings, with HF's order and semantics (see :func:`process_logits`).

    ``greedy``: argmax after the repetition penalty instead of a draw (no randomness used), as the original's greedy
    path. Raises InvalidInputError for an out-of-range setting.
    """

    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 50  # 0 disables it
    repetition_penalty: float = 2.0
    greedy: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.temperature > 0, f"temperature={self.temperature} must be > 0"),
            (0 < self.top_p <= 1, f"top_p={self.top_p} must be in (0, 1]"),
            (self.top_k >= 0, f"top_k={self.top_k} must be >= 0 (0 disables it)"),
            (self.repetition_penalty > 0, f"repetition_penalty={self.repetition_penalty} must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(message)

    @classmethod
    def from_options(cls, options: Any) -> SamplingParams:
        """The settings of the same names of a ``GenerationOptions``."""
        o = options
        return cls(temperature=o.temperature, top_p=o.top_p, top_k=o.top_k, repetition_penalty=o.repetition_penalty)


# ---- logits processors: (B, V) float scores in, (B, V) out -------------------------------------------------------
def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """CTRL-style penalty (Keskar et al. 2019) on every id in ``seen`` (B, V bool): negative x*p, else x/p."""
    if penalty == 1.0:
        return logits
    return torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    return logits if temperature == 1.0 else logits / temperature


def apply_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep scores >= the k-th largest (ties at the boundary survive); k = 0 disables."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: Tensor, p: float, min_keep: int = 1) -> Tensor:
    """Nucleus filtering (Holtzman et al. 2019), HF's formulation: drop the low tail whose mass is <= 1 - p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=False)
    drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - p)
    drop_sorted[..., -min_keep:] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def process_logits(logits: Tensor, seen: Tensor, sampling: SamplingParams) -> Tensor:
    """The original's per-step chain: repetition penalty -> temperature -> top-k -> top-p (float32 scores)."""
    x = apply_repetition_penalty(logits.float(), seen, sampling.repetition_penalty)
    x = apply_temperature(x, sampling.temperature)
    x = apply_top_k(x, sampling.top_k)
    return apply_top_p(x, sampling.top_p)


def logits_to_probs(logits: Tensor, seen: Tensor, sampling: SamplingParams) -> Tensor:
    return process_logits(logits, seen, sampling).softmax(dim=-1)


def multinomial_sample_one(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One draw per row (B,), as ``torch.multinomial(probs, 1)`` draws it, without a host sync."""
    q = torch.empty_like(probs).exponential_(1, generator=generator)
    return torch.argmax(probs / q, dim=-1)


# ---- per-candidate random streams: counter-based noise, a pure function of (key, position, code) -------------------
_M31 = 0x7FFFFFFF  # the hash works on 31-bit values in int64: every product stays below 2**63 on any device
_M64 = 2**64 - 1


def _mix31(x: Tensor) -> Tensor:
    """A 31-bit integer finalizer (xor-shift-multiply, the shape of Wellons' lowbias32), elementwise on int64."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M31
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M31
    return x ^ (x >> 16)


def _splitmix64(z: int) -> int:
    """Steele et al.'s SplitMix64 output function, on Python ints (host side, once per candidate)."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def candidate_keys(seed: int, candidates: range | list[int], device: torch.device | str = "cpu") -> Tensor:
    """(n,) int64 keys of the random streams of ``candidates`` (indices among all of a job's samples) for ``seed``.

    Candidate c's stream depends only on (seed, c): decoding candidates 0-15 in one batch or in four batches of 4
    draws the same noise for each.
    """
    if not 0 <= seed < 2**64:
        raise InvalidInputError(f"seed={seed} must be in [0, 2**64)")
    keys = [_splitmix64(_splitmix64(seed) ^ c) & _M31 for c in candidates]
    return torch.tensor(keys, dtype=torch.int64, device=device)


def keyed_exponential(keys: Tensor, position: Tensor, n_codes: int) -> Tensor:
    """(B, V) Exp(1) noise of the streams ``keys`` (B,) at code position ``position`` (1,) int64 on the device.

    Element (b, v) is a hash of (keys[b], position, v) mapped to a uniform in (0, 1) with 24 bits, then -log(u).
    No generator, no host sync; about 12 elementwise int64 operations, cheaper than ``exponential_`` on the CPU.
    """
    r = _mix31(keys ^ _mix31(position & _M31))  # (B,): this step's state of each stream
    ids = torch.arange(n_codes, device=keys.device, dtype=torch.int64)
    x = r[:, None] ^ _mix31((ids * 0x9E3779B1) & _M31)  # (B, V)
    x ^= x >> 16  # _mix31 again, in place: this is the (B, V) part of the cost
    x.mul_(0x7FEB352D).bitwise_and_(_M31)
    x ^= x >> 15
    x.mul_(0x846CA68B).bitwise_and_(_M31)
    x ^= x >> 16
    u = (x >> 7).float().add_(0.5).mul_(2.0**-24)  # (0, 1): the top 24 bits, never 0 or 1
    return u.log_().neg_()


def multinomial_sample_keyed(probs: Tensor, keys: Tensor, position: Tensor) -> Tensor:
    """One draw per row (B,) from the rows' own streams (see :func:`keyed_exponential`); no host sync."""
    q = keyed_exponential(keys, position, probs.shape[-1])
    return torch.argmax(probs / q, dim=-1)


Pick = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits (B, V), seen (B, V), cache position (1,)) -> codes (B,)


def _next_token(
    logits: Tensor, seen: Tensor, position: Tensor, *, sampling: SamplingParams, generator, streams
) -> Tensor:
    """The next code (B,) from ``logits`` (B, V) for the code at cache ``position`` (1,)."""
    if sampling.greedy:  # the original's greedy path applies only the repetition penalty, then argmax
        return apply_repetition_penalty(logits.float(), seen, sampling.repetition_penalty).argmax(dim=-1)
    probs = logits_to_probs(logits, seen, sampling)
    if streams is not None:
        return multinomial_sample_keyed(probs, streams, position)
    return multinomial_sample_one(probs, generator)


def picker(sampling: SamplingParams, generator: torch.Generator | None = None, streams: Tensor | None = None) -> Pick:
    """The rule that turns a step's logits into codes: ``sampling``'s settings, drawing with ``generator`` (None: the
    global one) or, when given, from the per-candidate ``streams`` (B,) keys."""
    return functools.partial(_next_token, sampling=sampling, generator=generator, streams=streams)


# ---- the decode loop ---------------------------------------------------------------------------------------------
def prefill(model: ARModel, x: Tensor, seen: Tensor, pick: Pick) -> Tensor:
    """Run the prefix + start code ``x`` (B, E+1, C) into the cache; return the first code (B,).

    Every row holds the same prompt, so a model with ``share_prefix`` runs it once and copies the cache rows.
    """
    B, S = x.shape[:2]
    pos = CachePos(torch.arange(S, device=x.device), S)
    if B > 1 and hasattr(model, "share_prefix"):
        logits = model.next_logits(x[:1], pos).expand(B, -1)  # (B, V): one prompt, B identical rows
        model.share_prefix(B, S)
    else:
        logits = model.next_logits(x, pos)
    return pick(logits, seen, pos.index[-1:])


def decode_one_token(
    model: ARModel, token: Tensor, pos: CachePos, mel_pos: Tensor, seen: Tensor, *, pick: Pick, step: Step
) -> Tensor:
    """Feed ``token`` (B,) at cache position ``pos`` (one slot) and mel position ``mel_pos`` (1,); next code (B,)."""
    x = model.embed_mel(token[:, None], mel_pos)  # (B, 1, C)
    return pick(step(x, pos), seen, pos.index)


def _record(token: Tensor, seen: Tensor, finished: Tensor, stop_token: int) -> None:
    """Add the new codes (B,) to the running rows: repetition-penalty ids and stopped rows, in place."""
    seen.scatter_(1, token[:, None], True)
    finished |= token == stop_token


def decode_n_tokens(
    model: ARModel,
    token: Tensor,
    pos: CachePos,
    mel_pos: Tensor,
    seen: Tensor,
    finished: Tensor,
    n: int,
    *,
    pick: Pick,
    step: Step,
) -> list[Tensor]:
    """Decode ``n`` codes after ``token``; ``pos.index``, ``mel_pos``, ``seen``, ``finished`` advance in place.

    ``pos.end`` is the host-side count of filled cache slots after the first step (no sync to read it). Rows already
    stopped get the stop code, like HF's padding of finished rows (their draws still consume the RNG).
    """
    stop_token = model.cfg.stop_mel_token
    out = []
    for _ in range(n):
        token = decode_one_token(model, token, pos, mel_pos, seen, pick=pick, step=step)
        token = token.masked_fill(finished, stop_token)
        _record(token, seen, finished, stop_token)
        pos.index.add_(1)  # the device-side positions advance in place: no host-to-device copy per step
        mel_pos += 1
        pos = CachePos(pos.index, pos.end + 1)
        out.append(token)
    return out


@torch.no_grad()  # not inference_mode: the caches it allocates stay usable by later plain calls
def generate(
    model: ARModel,
    cond_latent: Tensor,
    text_tokens: Tensor,
    *,
    num_samples: int,
    max_tokens: int,
    sampling: SamplingParams = SamplingParams(),
    generator: torch.Generator | None = None,
    streams: Tensor | None = None,
    stop_check_every: int = 16,
    shifted_positions: bool = False,
    step: Step | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Sample ``num_samples`` mel-code sequences for one voice and one text.

    Parameters
    ----------
    model : a ``UnifiedVoice`` (or anything with the ``ARModel`` methods); its ``cfg`` gives the mel token ids.
    cond_latent : (1, C) or (C,) voice latent.
    text_tokens : (1, N) or (N,) text ids as the original feeds them (tokenizer ids + one stop token 0).
    num_samples : candidates decoded together as one batch (one cache row each).
    max_tokens : codes per candidate (the original's ``max_mel_tokens``, 500).
    sampling : the original's sampling settings (HF order and semantics), or greedy decoding (no RNG use).
    generator : RNG for the draws, on the model's device; None uses the global one. With a CPU generator seeded as
        the original's ``torch.manual_seed`` and the same batch size, the codes equal the original's. One draw
        covers the whole batch, so the codes depend on the batch size.
    streams : (num_samples,) int64 keys from :func:`candidate_keys`: each row draws from its own stream instead, so a
        candidate's codes do not depend on the batch it is decoded in (``generator`` must then be None).
    stop_check_every : steps between the host-side checks for "all rows stopped" (the only syncs in the loop).
    shifted_positions : mel position i+1 instead of i for the i-th fed code (i >= 1): bug-compatible with the
        original's ``kv_cache=True``, whose cached step counts the new token in ``attention_mask`` already
        (``tortoise/models/autoregressive.py::GPT2InferenceModel.forward`` of tortoise-tts 3.0.0). Off by default:
        positions as in training.
    step : the decode step ``step(x (B, 1, C), pos) -> logits (B, V)`` after the prefill; None: ``model.next_logits``.
        A step recorded as a device graph or compiled keeps static shapes and ignores ``pos.end``.
    progress : called as ``progress(done, max_tokens)`` after the first code and after each stop check.

    Returns
    -------
    (num_samples, max_tokens) int64 codes; after a row's stop code (8193) the row holds stop codes.

    Raises
    ------
    InvalidInputError for out-of-range settings.
    """
    chunks, done = [], 0
    for chunk in generate_chunks(
        model, cond_latent, text_tokens, num_samples=num_samples, max_tokens=max_tokens, sampling=sampling,
        generator=generator, streams=streams, stop_check_every=stop_check_every, shifted_positions=shifted_positions,
        step=step,
    ):  # fmt: skip
        chunks.append(chunk)
        done += chunk.shape[1]
        if progress is not None:
            progress(done, max_tokens)
    codes = torch.cat(chunks, dim=1)
    return torch.nn.functional.pad(codes, (0, max_tokens - codes.shape[1]), value=model.cfg.stop_mel_token)


@torch.no_grad()
def generate_chunks(
    model: ARModel,
    cond_latent: Tensor,
    text_tokens: Tensor,
    *,
    num_samples: int,
    max_tokens: int,
    sampling: SamplingParams = SamplingParams(),
    generator: torch.Generator | None = None,
    streams: Tensor | None = None,
    stop_check_every: int = 16,
    shifted_positions: bool = False,
    step: Step | None = None,
) -> Iterator[Tensor]:
    """The codes of :func:`generate` as they are decoded: (B, 1) first, then (B, <= ``stop_check_every``) chunks.

    Ends when every row has stopped (checked once per chunk) or at ``max_tokens``. Used for streaming; the draws and
    the codes are exactly those of :func:`generate`.
    """
    cfg = model.cfg
    _verify(num_samples, max_tokens, stop_check_every, cfg, generator, streams)
    cond_latent = cond_latent.reshape(1, -1)
    text_tokens = text_tokens.reshape(1, -1)
    device = cond_latent.device
    pick = picker(sampling, generator, None if streams is None else streams.to(device))
    step = step or model.next_logits
    B = num_samples

    prefix = model.prefix(cond_latent, text_tokens).expand(B, -1, -1)  # (B, E, C), one prompt for every row
    E = prefix.shape[1]
    start = torch.full((B, 1), cfg.start_mel_token, dtype=torch.long, device=device)
    x = torch.cat([prefix, model.embed_mel(start, torch.zeros(1, dtype=torch.long, device=device))], dim=1)
    model.setup_caches(B, E + max_tokens)

    seen = torch.zeros(B, cfg.number_mel_codes, dtype=torch.bool, device=device)  # ids in each running row
    seen[:, [FAKE_PROMPT_ID, cfg.start_mel_token]] = True
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    token = prefill(model, x, seen, pick)
    _record(token, seen, finished, cfg.stop_mel_token)
    yield token[:, None]
    done, last = 1, token

    index = torch.tensor([E + 1], device=device)  # cache slot of the first generated code, advanced in place
    mel_pos = torch.tensor([2 if shifted_positions else 1], device=device)
    while done < max_tokens:
        n = min(stop_check_every, max_tokens - done)
        pos = CachePos(index, E + done + 1)  # the filled length after this chunk's first step, as a host int
        new = decode_n_tokens(model, last, pos, mel_pos, seen, finished, n, pick=pick, step=step)
        done, last = done + n, new[-1]
        yield torch.stack(new, dim=1)
        if bool(finished.all()):  # host sync, once per stop_check_every steps
            break


def _verify(num_samples, max_tokens, stop_check_every, cfg, generator, streams) -> None:
    checks = [
        (num_samples >= 1, f"num_samples={num_samples} must be >= 1"),
        (1 <= max_tokens <= cfg.max_mel_tokens, f"max_tokens={max_tokens} must be in [1, {cfg.max_mel_tokens}]"),
        (stop_check_every >= 1, f"stop_check_every={stop_check_every} must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidInputError(message)
    if streams is not None and (generator is not None or tuple(streams.shape) != (num_samples,)):
        raise InvalidInputError(
            f"streams must be ({num_samples},) keys (one per sample, from candidate_keys) and generator None; "
            f"got shape {tuple(streams.shape)}" + (" and a generator" if generator is not None else "")
        )
