"""Post-processing of sampled mel-code candidates (REFERENCE.md §1.6, §1.7).

The diffusion decoder was trained on codes of padded audio, which end in a run of the "calm" (silence) code 83 and
the tail 45, 45, 248; the AR model instead emits a stop code. ``fix_autoregressive_output`` rewrites the codes the
way the original does, and ``calm_cutoff`` / ``trim_latents`` drop the latents after the 9th consecutive calm code.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from .errors import InvalidInputError

STOP_TOKEN = 8193
CALM_TOKEN = 83
END_CODES = (45, 45, 248)
MAX_CALM_RUN = 8  # the original keeps 8 calm codes as "breathing room" for the decoder to end speech


def fix_autoregressive_output(codes: Tensor, stop_token: int = STOP_TOKEN) -> Tensor:
    """Replace everything from each row's first stop code on by 83 and end the row with 45, 45, 248.

    Parameters
    ----------
    codes : (B, T) or (T,) int mel codes (the original's rows are padded to T = 500 with the stop code).
    stop_token : the AR stop code.

    Returns
    -------
    A fixed copy, same shape. A row without a stop code is returned unchanged, with a warning (the speech was cut
    off at ``max_tokens``).
    """
    fixed = codes.reshape(-1, codes.shape[-1]).clone()
    T = fixed.shape[1]
    is_stop = fixed == stop_token
    has_stop = is_stop.any(dim=1)
    first = torch.where(has_stop, is_stop.int().argmax(dim=1), T)  # (B,) first stop index, T if none
    after = torch.arange(T, device=fixed.device)[None, :] >= first[:, None]
    fixed = fixed.masked_fill(after, CALM_TOKEN)
    n_end = min(len(END_CODES), T)
    end = torch.tensor(END_CODES[len(END_CODES) - n_end :], dtype=fixed.dtype, device=fixed.device)
    fixed[:, T - n_end :] = torch.where(has_stop[:, None], end, fixed[:, T - n_end :])
    if not bool(has_stop.all()):
        rows = (~has_stop).nonzero().flatten().tolist()
        warnings.warn(
            f"no stop code in candidate(s) {rows}: the speech was probably cut off; try shorter text",
            stacklevel=2,
        )
    return fixed.reshape(codes.shape)


def calm_cutoff(codes: Tensor) -> int:
    """Index of the 9th consecutive calm code in the fixed codes (T,), or T if there is none."""
    T = codes.shape[-1]
    idx = torch.arange(T, device=codes.device)
    last_other = torch.cummax(torch.where(codes != CALM_TOKEN, idx, -1), dim=0).values  # last non-calm index so far
    hits = ((idx - last_other) > MAX_CALM_RUN).nonzero()
    return int(hits[0]) if len(hits) else T


def trim_latents(latents: Tensor, codes: Tensor) -> Tensor:
    """Keep the latents (..., S, C) before ``calm_cutoff(codes)`` (the original trims each candidate this way)."""
    return latents[..., : calm_cutoff(codes), :]


def select_best(scores: Tensor, k: int) -> Tensor:
    """Indices (k,) of the k highest scores (N,), best first."""
    if not 1 <= k <= scores.shape[0]:
        raise InvalidInputError(
            f"cannot select {k} candidates out of {scores.shape[0]}; use 1 <= k <= {scores.shape[0]}"
        )
    return torch.topk(scores, k).indices
