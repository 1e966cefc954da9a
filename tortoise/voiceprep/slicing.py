"""Cut long recordings into clips of whole phrases, at pauses.

Every local minimum of the smoothed frame level, and the middle of every quiet stretch, is a candidate cut. Cutting
there costs how loud the audio is at that point (dB above the noise floor) plus a penalty that falls to zero as the
quiet margin on both sides of the point reaches 0.2 s (the middle of a 0.4 s phrase or sentence pause). Dynamic
programming then picks the cuts that keep every clip within [min_s, max_s] at the least total cost, with a mild
preference for clips near the middle of that range. So cuts land in the middle of the quietest pauses available;
only when a stretch longer than ``max_s`` has no pause at all is a clip cut at its quietest point inside speech, and
that cut is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .steps import HOP_S, frame_levels, speech_and_floor_db

FULL_PAUSE_S = 0.4  # a quiet stretch this long counts as a full phrase pause
PAUSE_WEIGHT = 10.0  # dB-equivalent cost of cutting in a quiet stretch of zero length
LENGTH_WEIGHT = 2.0  # cost of a clip at min_s or max_s relative to one in the middle
WEAK_CUT_DB = 6.0  # a cut costing more than this is reported as not being in a pause


@dataclass(frozen=True)
class Cut:
    """A cut at ``sample``: the pause length around it (s) and its level above the noise floor (dB)."""

    sample: int
    pause_s: float
    level_db: float

    @property
    def in_pause(self) -> bool:
        return self.pause_s >= 0.1 and self.level_db <= WEAK_CUT_DB


def _quiet_runs(quiet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the length of the run of quiet frames it lies in, and its distance to the nearer end of that run
    (both in frames, 0 for loud frames)."""
    length, margin = np.zeros(quiet.size, np.int64), np.zeros(quiet.size, np.int64)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    for start, end in zip(edges[::2], edges[1::2]):
        length[start:end] = end - start
        k = np.arange(start, end)
        margin[start:end] = np.minimum(k - start + 1, end - k)
    return length, margin


def _candidates(wav: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate cut frames with their cost, pause length (s) and level above the floor (dB)."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import argrelmin

    levels = frame_levels(wav, sr)
    speech, floor = speech_and_floor_db(levels)
    smooth = uniform_filter1d(levels, size=5, mode="nearest")  # 50 ms
    quiet = smooth < max(floor + 6.0, speech - 35.0)
    length, margin = _quiet_runs(quiet)
    runs = length * HOP_S
    # one candidate per quiet run (its quietest frame) plus every local minimum of the level
    minima = set(argrelmin(smooth, order=5, mode="clip")[0].tolist())
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    for start, end in zip(edges[::2], edges[1::2]):
        minima.add(int(start + np.argmin(smooth[start:end])) if end - start < 10 else (start + end) // 2)
    frames = np.array(sorted(minima), np.int64)
    above = np.maximum(smooth[frames] - floor, 0.0)
    cost = above + PAUSE_WEIGHT * (1.0 - np.minimum(2 * margin[frames] * HOP_S / FULL_PAUSE_S, 1.0))
    return frames, cost, runs[frames], above


def find_cuts(wav: np.ndarray, sr: int, *, min_s: float, max_s: float) -> list[Cut]:
    """Where to cut ``wav`` (T,) so that every piece lasts between ``min_s`` and ``max_s`` seconds.

    Recordings no longer than ``max_s`` are not cut. Returns the inner cuts, in order (empty for no cut).
    If no cut set satisfies ``min_s`` (possible only in pathological audio), pieces down to 1 s are allowed.
    """
    total = wav.size / sr
    if total <= max_s:
        return []
    frames, cost, pause, above = _candidates(wav, sr)
    pos = np.concatenate(([0.0], frames * HOP_S + HOP_S, [total]))  # seconds; a cut sits mid-frame
    cost = np.concatenate(([0.0], cost, [0.0]))
    keep = np.concatenate(([True], (pos[1:-1] > 0) & (pos[1:-1] < total), [True]))
    pos, cost, index = pos[keep], cost[keep], np.flatnonzero(keep)
    target = (min_s + max_s) / 2
    for lo in (min_s, 1.0):
        best = np.full(pos.size, np.inf)
        back = np.full(pos.size, -1, np.int64)
        best[0] = 0.0
        for j in range(1, pos.size):
            i0, i1 = np.searchsorted(pos, pos[j] - max_s, "left"), np.searchsorted(pos, pos[j] - lo, "right")
            if i1 <= i0:
                continue
            length = pos[j] - pos[i0:i1]
            total_cost = best[i0:i1] + LENGTH_WEIGHT * ((length - target) / (max_s - target)) ** 2
            k = int(np.argmin(total_cost))
            best[j], back[j] = total_cost[k] + cost[j], i0 + k
        if np.isfinite(best[-1]):
            break
    chosen, j = [], back[-1]
    while j > 0:
        chosen.append(int(j))
        j = back[j]
    cuts = []
    for j in reversed(chosen):
        c = index[j] - 1  # index into the candidate arrays
        cuts.append(Cut(round(pos[j] * sr), float(pause[c]), float(above[c])))
    return cuts
