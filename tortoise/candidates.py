"""Post-processing of sampled mel-code candidates: fixing, ranking, choosing, trimming.

The diffusion decoder was trained on codes of padded audio, which end in a run of the "calm" (silence) code 83 and
the tail 45, 45, 248; the AR model instead emits a stop code. ``fix_autoregressive_output`` rewrites the codes the
way the original does, and the latents after ``calm_cutoff`` (the 9th consecutive calm code) are dropped.
The original's fast mode (``api_fast``) does neither: it decodes the raw codes up to the stop code
(``speech_length``). ``score_candidates`` is the original's CLVP (+ CVVP) ranking and ``select_best`` its ``topk``.
The original here is tortoise-tts 3.0.0's ``tortoise/api.py``: ``fix_autoregressive_output``, and
``TextToSpeech.tts`` for the ranking, choice and trimming.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def speech_length(codes: Tensor, stop_token: int = STOP_TOKEN) -> int:
    """Codes of one raw row (T,) up to and including its first stop code; T when it has none.

    What the original's fast mode (``api_fast``) vocodes: the raw codes, the stop code included, with no
    end-of-speech fix and no calm trim.
    """
    stops = (codes == stop_token).nonzero()
    return int(stops[0]) + 1 if len(stops) else codes.shape[-1]


def select_best(scores: Tensor, k: int) -> Tensor:
    """Indices (k,) of the k highest scores (N,), best first."""
    if not 1 <= k <= scores.shape[0]:
        raise InvalidInputError(
            f"cannot select {k} candidates out of {scores.shape[0]}; use 1 <= k <= {scores.shape[0]}"
        )
    return torch.topk(scores, k).indices


@dataclass(frozen=True)
class Scores:
    """Ranking of N candidates: ``total`` (N,) is what ``select_best`` sorts; its parts are None when not used."""

    total: Tensor
    clvp: Tensor | None = None
    cvvp: Tensor | None = None


def _batched(score: Callable[[Tensor], Tensor], codes: Tensor, batch: int) -> Tensor:
    return torch.cat([score(codes[i : i + batch]).float().cpu() for i in range(0, codes.shape[0], batch)])


@torch.inference_mode()
def score_candidates(
    text: Tensor,
    codes: Tensor,
    *,
    clvp=None,
    cvvp=None,
    cond_mels: Sequence[Tensor] = (),
    cvvp_amount: float = 0.0,
    batch: int = 32,
) -> Scores:
    """The original's ranking of fixed candidates: CLVP, mixed with CVVP against the voice's clips.

    Parameters
    ----------
    text : (1, N) text ids as the AR model got them (the tokenizer's ids + one 0).
    codes : (B, T) fixed codes (``fix_autoregressive_output``), on the models' device.
    clvp : the CLVP model; may be None only when ``cvvp_amount`` is 1 (the original then skips it).
    cvvp, cond_mels : the CVVP model and the AR conditioning mels (1, 80, 517) of the voice's clips, the very
        windows the AR latent was computed from (``tortoise.audio.format_conditioning``); used when
        ``cvvp_amount`` > 0 and there are clips (a random or latents-only voice has none).
    cvvp_amount : weight of CVVP: ``total = cvvp * a + clvp * (1 - a)``; CVVP is averaged over the clips.

    Returns
    -------
    :class:`Scores` on the CPU, float32.
    """
    use_cvvp = cvvp_amount > 0 and len(cond_mels) > 0
    if use_cvvp and cvvp is None:
        raise InvalidInputError("cvvp_amount > 0 with voice clips needs the CVVP model")
    clvp_scores = cvvp_scores = None
    if not use_cvvp or cvvp_amount < 1:
        if clvp is None:
            raise InvalidInputError("ranking needs the CLVP model unless cvvp_amount is 1")
        clvp_scores = _batched(lambda c: clvp.similarity(text, c), codes, batch)
    if use_cvvp:
        per_clip = [_batched(lambda c, m=m: cvvp.score(m, c), codes, batch) for m in cond_mels]
        cvvp_scores = sum(per_clip) / len(per_clip)  # the original's accumulate-then-divide
    if clvp_scores is None:
        total = cvvp_scores
    elif cvvp_scores is None:
        total = clvp_scores
    else:
        total = cvvp_scores * cvvp_amount + clvp_scores * (1 - cvvp_amount)
    return Scores(total, clvp_scores, cvvp_scores)
