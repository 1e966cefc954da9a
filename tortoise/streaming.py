"""Audio that starts playing early: the fast (HiFi-GAN) path decoded while the autoregressive model still runs.

Every ``chunk_tokens`` new codes (the first time after ``first_chunk_tokens``) the GPT latents of all codes so far are
vocoded by the HiFi-GAN decoder. The latents are causal, so earlier audio barely changes; the last ``overlap``
samples of each decode are held back and cross-faded with the next decode, as the original's ``tts_stream`` does.
The chunks concatenated equal the non-streamed fast-mode audio except inside the cross-faded overlaps. As in the
original's ``api_fast``, the final decode takes the raw codes up to and including the stop code: no end-of-speech fix
and no calm-code trim (the standard pipeline's glue for the diffusion decoder). Unlike its ``tts_stream``, which drops
the last ``overlap`` samples, the stream ends with the whole signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from . import candidates, sampling


class CrossFader:
    """Turns successive full decodes of a growing signal into non-overlapping chunks with cross-faded seams."""

    def __init__(self, overlap: int = 1024):
        self.overlap = overlap
        self.emitted = 0  # samples handed out so far
        self.held: Tensor | None = None  # the previous decode's samples just after ``emitted``

    def push(self, wav: Tensor, *, final: bool = False) -> Tensor:
        """``wav`` (T,) is the whole signal decoded so far; returns the new chunk to play."""
        end = wav.shape[0] if final else max(wav.shape[0] - self.overlap, self.emitted)
        chunk = wav[self.emitted : end].clone()
        if self.held is not None and self.held.numel() and chunk.numel():
            n = min(self.held.shape[0], chunk.shape[0])
            fade = torch.linspace(0.0, 1.0, n + 2, device=wav.device, dtype=wav.dtype)[1:-1]
            chunk[:n] = self.held[:n] * (1 - fade) + chunk[:n] * fade
        self.held = None if final else wav[end : end + self.overlap].clone()
        self.emitted = end
        return chunk


def _vocode(hifi, latents: Tensor, cond: Tensor) -> Tensor:
    """HiFi-GAN decode in the decoder's own precision (the AR model may run in bf16/fp16)."""
    dtype = next(hifi.parameters()).dtype
    return hifi.inference(latents.to(dtype), cond.to(dtype))


@torch.inference_mode()
def stream_fast_segment(
    ar,
    hifi,
    cond: Tensor,
    text: Tensor,
    *,
    max_tokens: int,
    params: sampling.SamplingParams,
    streams: Tensor | None = None,
    step: sampling.Step | None = None,
    chunk_tokens: int = 40,
    first_chunk_tokens: int = 60,
    overlap: int = 1024,
    on_tokens: Callable[[int], None] | None = None,
) -> Iterator[Tensor]:
    """Yield 24 kHz audio chunks (T_i,) of one segment: one AR sample, HiFi-GAN decoded as it grows.

    ``cond`` (1, C) voice latent and ``text`` (1, N) token ids on the models' device; ``params``, ``streams`` and
    ``step`` are those of :func:`tortoise.sampling.generate`.
    """
    if chunk_tokens < 1 or first_chunk_tokens < 1:
        raise ValueError("chunk_tokens and first_chunk_tokens must be >= 1")
    stop = ar.cfg.stop_mel_token
    fader = CrossFader(overlap)
    parts: list[Tensor] = []
    next_decode = first_chunk_tokens
    steps = min(chunk_tokens, 16)
    chunks = sampling.generate_chunks(
        ar, cond, text, num_samples=1, max_tokens=max_tokens, sampling=params, streams=streams, step=step,
        stop_check_every=steps,
    )  # fmt: skip
    for chunk in chunks:
        parts.append(chunk)
        codes = torch.cat(parts, dim=1)  # (1, n)
        if on_tokens is not None:
            on_tokens(codes.shape[1])
        stopped = bool((chunk == stop).any())
        if not stopped and codes.shape[1] < next_decode and codes.shape[1] < max_tokens:
            continue
        if stopped or codes.shape[1] >= max_tokens:
            break
        next_decode = codes.shape[1] + chunk_tokens
        wav = _vocode(hifi, ar.latents(cond, text, codes), cond)  # partial: no stop yet
        yield fader.push(wav.reshape(-1).float())
    codes = torch.cat(parts, dim=1)
    keep = candidates.speech_length(codes[0], stop)  # as api_fast: the raw codes up to the stop code, no fix or trim
    wav = _vocode(hifi, ar.latents(cond, text, codes[:, :keep]), cond)
    yield fader.push(wav.reshape(-1).float(), final=True)
