"""CTC forced alignment: which frame each expected character is emitted at, from per-frame log-probabilities.

Pure numpy on the CPU; no model and no torchaudio. The original TorToiSe greedy-decoded the wav2vec2 output, matched
the expected text onto that transcript with a recursive search, and asserted when the two disagreed. Here the expected
text is forced through the CTC trellis instead (Viterbi over labels interleaved with blanks, Graves et al. 2006), so
every character gets a frame whatever the recogniser would have transcribed, and nothing can fail halfway.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

_STAY, _STEP, _SKIP = 0, 1, 2  # back-pointers: came from the same state, the previous one, or two back


def _as_numpy(log_probs: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(log_probs, Tensor):
        log_probs = log_probs.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(log_probs, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"log_probs must be (frames, vocab), got shape {x.shape}")
    return np.nan_to_num(x, nan=-np.inf)


def ctc_forced_align(log_probs: Tensor | np.ndarray, targets: Sequence[int], blank: int) -> np.ndarray | None:
    """Best CTC path for ``targets`` through per-frame log-probabilities (Viterbi).

    Parameters
    ----------
    log_probs : (T, V) log-probabilities (logits give the same path: a per-frame constant does not change it).
    targets : the label ids to force, in order; none may be ``blank``.
    blank : the CTC blank id.

    Returns
    -------
    (L, 2) int array: the first and last frame of each target's run on the best path, or None when no path exists
    (fewer frames than the targets need: each label takes a frame, and a repeated label needs a blank between).
    """
    lp = _as_numpy(log_probs)  # (T, V)
    T, L = lp.shape[0], len(targets)
    if L == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if T == 0:
        return None
    ext = np.full(2 * L + 1, blank, dtype=np.int64)  # [blank, y1, blank, y2, ..., yL, blank]
    ext[1::2] = np.asarray(targets, dtype=np.int64)
    S = ext.size
    emit = lp[:, ext]  # (T, S)
    can_skip = np.zeros(S, dtype=bool)  # a label may follow the previous label directly unless it repeats it
    can_skip[3::2] = ext[3::2] != ext[1:-2:2]

    alpha = np.full(S, -np.inf)
    alpha[:2] = emit[0, :2]
    back = np.zeros((T, S), dtype=np.int8)
    neg = np.full(2, -np.inf)
    for t in range(1, T):
        step = np.concatenate((neg[:1], alpha[:-1]))
        skip = np.where(can_skip, np.concatenate((neg, alpha[:-2])), -np.inf)
        cand = np.stack((alpha, step, skip))  # (3, S)
        back[t] = cand.argmax(0)
        alpha = cand[back[t], np.arange(S)] + emit[t]

    s = S - 1 if alpha[S - 1] >= alpha[S - 2] else S - 2
    if not np.isfinite(alpha[s]):
        return None
    path = np.empty(T, dtype=np.int64)  # the state occupied at each frame
    for t in range(T - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    on_label = path % 2 == 1  # label states are odd; each label's frames form one run on a valid path
    frames = np.flatnonzero(on_label)
    label = (path[frames] - 1) // 2
    new_run = np.flatnonzero(np.diff(label, prepend=-1))
    ends = np.append(new_run[1:], frames.size) - 1
    return np.stack((frames[new_run], frames[ends]), axis=1)


def align_characters(log_probs: Tensor | np.ndarray, token_ids: Sequence[int | None], blank: int) -> np.ndarray:
    """The frames each character occupies: ``[start, end)``, fractional where interpolated.

    An aligned character's interval is its run on the best CTC path (the blank frames around it belong to no
    character). Characters whose id is None (not in the recogniser's vocabulary: digits, symbols) are left out of
    the forced alignment; their start is interpolated linearly between their aligned neighbours' starts (the first
    character at frame 0 at the earliest, the end of the clip after the last) and they last until the next
    character's start. When the audio has too few frames for the text, the characters are spread evenly over it
    with a warning instead of failing.

    Parameters
    ----------
    log_probs : (T, V) per-frame CTC log-probabilities.
    token_ids : one entry per character: its label id, or None.
    blank : the CTC blank id.

    Returns
    -------
    (N, 2) float64 array of ``[start, end)`` frame positions in [0, T]; starts are non-decreasing.
    """
    T = int(log_probs.shape[0])
    N = len(token_ids)
    if N == 0:
        return np.zeros((0, 2))
    known = [i for i, tok in enumerate(token_ids) if tok is not None and tok != blank]
    spans = ctc_forced_align(log_probs, [token_ids[i] for i in known], blank)
    if spans is None:
        warnings.warn(
            f"the audio ({T} frames) is too short to align {len(known)} characters; "
            "spreading them evenly instead, so their timings (and any redaction) are approximate",
            RuntimeWarning,
            stacklevel=2,
        )
        known, spans = [], np.zeros((0, 2), dtype=np.int64)
    xp, fp = [float(i) for i in known], [float(f) for f in spans[:, 0]]
    if not xp or xp[0] > 0:  # anchor the start: character 0 at frame 0 at the earliest
        xp, fp = [0.0, *xp], [0.0, *fp]
    xp, fp = [*xp, float(N)], [*fp, float(T)]  # a virtual character after the last one, at the end
    starts = np.interp(np.arange(N, dtype=np.float64), xp, fp)  # (N,)
    ends = np.append(starts[1:], float(T))  # unaligned characters last until the next one starts
    ends[known] = spans[:, 1] + 1
    return np.stack((starts, ends), axis=1)
