"""Loudness of a whole book, measured as it streams by: ITU-R BS.1770-4 integrated loudness and true peak.

Integrated loudness: K-weighting (the two filters of pyloudnorm's ``Meter``, run with their state carried from chunk
to chunk), mean squares of 400 ms blocks every 100 ms, gated at -70 LUFS and then 10 LU below the ungated mean
(pyloudnorm's ``integrated_loudness`` on the whole signal, without holding the whole book in memory). True peak: the
largest sample after 4x oversampling (soxr), in dBTP.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK, STEP = 0.4, 0.1  # seconds: gating blocks of 400 ms every 100 ms (75% overlap)
ABSOLUTE_GATE = -70.0


class LoudnessMeter:
    """Feed mono chunks with :meth:`add`; read :attr:`integrated` (LUFS) and :attr:`true_peak` (dBTP)."""

    def __init__(self, sample_rate: int):
        import pyloudnorm

        self.rate = sample_rate
        self._filters = [(f.b, f.a) for f in pyloudnorm.Meter(sample_rate)._filters.values()]
        self._state = [np.zeros(max(len(a), len(b)) - 1) for b, a in self._filters]
        self._step = round(STEP * sample_rate)
        self._carry = np.zeros(0)
        self._sums: list[float] = []  # sum of squares of each 100 ms step
        self.peak = 0.0

    def add(self, chunk: np.ndarray) -> None:
        from scipy.signal import lfilter

        x = np.asarray(chunk, np.float64).reshape(-1)
        if x.size == 0:
            return
        self.peak = max(self.peak, float(np.abs(x).max()), _oversampled_peak(x, self.rate))  # (chunk edges: both)
        for k, (b, a) in enumerate(self._filters):
            x, self._state[k] = lfilter(b, a, x, zi=self._state[k])
        x = np.concatenate((self._carry, x))
        n = x.size // self._step * self._step
        self._sums.extend((x[:n].reshape(-1, self._step) ** 2).sum(axis=1).tolist())
        self._carry = x[n:]

    @property
    def integrated(self) -> float:
        """Gated loudness in LUFS (-inf for silence or less than one block)."""
        per_block = round(BLOCK / STEP)
        sums = np.asarray(self._sums)
        if sums.size < per_block:
            return -math.inf
        z = np.convolve(sums, np.ones(per_block), "valid") / (BLOCK * self.rate)  # mean square of each block
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(z)
        gated = z[loudness >= ABSOLUTE_GATE]
        if gated.size == 0:
            return -math.inf
        relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
        kept = z[(loudness > relative) & (loudness >= ABSOLUTE_GATE)]
        return float(-0.691 + 10 * np.log10(kept.mean()))

    @property
    def true_peak(self) -> float:
        return 20 * math.log10(self.peak) if self.peak > 0 else -math.inf


def _oversampled_peak(x: np.ndarray, rate: int) -> float:
    import soxr

    return float(np.abs(soxr.resample(x, rate, 4 * rate, quality="HQ")).max(initial=0.0))


def normalising_gain(integrated: float, true_peak: float, *, target: float, peak_ceiling: float) -> float:
    """Gain in dB to reach ``target`` LUFS, lowered where the true peak would pass ``peak_ceiling`` dBTP."""
    if not math.isfinite(integrated):
        return 0.0
    gain = target - integrated
    return min(gain, peak_ceiling - true_peak) if math.isfinite(true_peak) else gain
