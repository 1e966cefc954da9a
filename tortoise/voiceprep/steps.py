"""The signal steps: mix-down, DC/high-pass, resampling, edge trimming, loudness measurement and normalisation.

Each step is a small pure function on float arrays; ``prepare.py`` strings them together and reports them.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..audio_io import resample_hq, to_mono
from ..errors import InvalidInputError

FRAME_S, HOP_S = 0.02, 0.01  # 20 ms frames every 10 ms for level statistics
FLOOR_DB = -120.0
OVERSAMPLE = 4  # true-peak measurement by 4x oversampling (ITU-R BS.1770-4 Annex 2)


def frame_levels(wav: np.ndarray, sr: int) -> np.ndarray:
    """RMS level of each 20 ms frame (hop 10 ms) in dBFS: (T,) -> (n_frames,). Frame k starts at k * hop."""
    frame, hop = max(1, round(FRAME_S * sr)), max(1, round(HOP_S * sr))
    x = np.asarray(wav, np.float64)
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    csum = np.concatenate(([0.0], np.cumsum(x * x)))
    starts = np.arange(0, x.size - frame + 1, hop)
    power = (csum[starts + frame] - csum[starts]) / frame
    return 10 * np.log10(np.maximum(power, 10 ** (FLOOR_DB / 10)))


def speech_and_floor_db(levels: np.ndarray) -> tuple[float, float]:
    """(speech level, noise floor) in dB: the 95th and 10th percentile frame levels."""
    return float(np.percentile(levels, 95)), float(np.percentile(levels, 10))


def mixdown(data: np.ndarray, channel: int | None) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """(C, T) -> (T,): average the channels, or keep ``channel``. Returns (mono, detail, warnings)."""
    n = data.shape[0]
    if channel is not None:
        if channel >= n:
            raise InvalidInputError(f"channel {channel} asked for, but the recording has {n} channel(s) (0..{n - 1})")
        return np.ascontiguousarray(data[channel]), f"kept channel {channel} of {n}", ()
    if n == 1:
        return data[0], "already mono", ()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mono = to_mono(data)
    notes = ()
    if caught:
        rms = np.sqrt(np.mean(data.astype(np.float64) ** 2, axis=1))
        loudest = int(np.argmax(rms))
        notes = (
            "the channels differ strongly (one is silent or they cancel out); the mix is much quieter than "
            f"channel {loudest}. Consider keeping one channel (channel={loudest} / --channel {loudest}).",
        )
    return mono.astype(np.float32, copy=False), f"averaged {n} channels", notes


def highpass(wav: np.ndarray, sr: int, *, cutoff_hz: float | None, remove_dc: bool) -> tuple[np.ndarray, str]:
    """Remove the DC offset and/or apply a zero-phase 4th-order Butterworth high-pass. Returns (wav, detail)."""
    parts, out = [], wav.astype(np.float64)
    if remove_dc:
        dc = float(out.mean())
        out = out - dc
        parts.append(f"DC offset {dc:+.4f} removed")
    if cutoff_hz is not None:
        from scipy.signal import butter, sosfiltfilt

        cutoff = min(cutoff_hz, 0.45 * sr)
        sos = butter(4, cutoff, btype="highpass", fs=sr, output="sos")
        if out.size > 30:  # sosfiltfilt needs a few samples of padding
            out = sosfiltfilt(sos, out)
        parts.append(f"{cutoff:.0f} Hz high-pass")
    return out.astype(np.float32), ", ".join(parts)


def resample(wav: np.ndarray, sr: int, target_sr: int) -> tuple[np.ndarray, str]:
    """Resample with soxr (very high quality). Returns (wav, detail)."""
    if sr == target_sr:
        return wav, f"already {target_sr} Hz"
    return resample_hq(np.ascontiguousarray(wav, np.float32), sr, target_sr), f"{sr} -> {target_sr} Hz"


def trim_bounds(wav: np.ndarray, sr: int, *, trim_db: float, padding_s: float) -> tuple[int, int]:
    """Sample range [start, end) that drops the silent edges, keeping ``padding_s`` around the sound.

    Silence is a frame more than ``trim_db`` below the speech level (95th percentile frame), or less than 6 dB above
    the noise floor (10th percentile), whichever threshold is higher.
    """
    levels = frame_levels(wav, sr)
    speech, floor = speech_and_floor_db(levels)
    threshold = max(speech - trim_db, floor + 6.0)
    loud = np.flatnonzero(levels > threshold)
    if loud.size == 0:
        return 0, wav.size
    hop, frame, pad = round(HOP_S * sr), round(FRAME_S * sr), round(padding_s * sr)
    start = max(0, int(loud[0]) * hop - pad)
    end = min(wav.size, int(loud[-1]) * hop + frame + pad)
    return start, end


def loudness_lufs(wav: np.ndarray, sr: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4, gated), LUFS; -inf for silence or clips under 0.4 s."""
    import pyloudnorm

    if wav.size < int(0.4 * sr) + 1:
        return float("-inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on possible clipping; we measure that ourselves
        value = pyloudnorm.Meter(sr).integrated_loudness(np.asarray(wav, np.float64))
    return float(value)


def true_peak_db(wav: np.ndarray) -> float:
    """True peak in dBTP: the peak of the 4x oversampled signal."""
    from scipy.signal import resample_poly

    if wav.size == 0:
        return float("-inf")
    peak = float(np.abs(resample_poly(np.asarray(wav, np.float64), OVERSAMPLE, 1)).max())
    peak = max(peak, float(np.abs(wav).max()))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _limit(wav: np.ndarray, sr: int, ceiling: float) -> tuple[np.ndarray, float]:
    """Look-ahead peak limiter: a smooth gain that keeps every (oversampled) peak under ``ceiling`` (linear).

    The needed gain per sample is spread by a moving minimum (+-10 ms, so the gain falls before a peak and recovers
    after it) and then a moving average (5 ms); the average of minima over a window that the minimum covers can
    never exceed the needed gain, so the ceiling holds while the gain curve has no steps. Returns (out, deepest dB).
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    from scipy.signal import resample_poly

    x = np.asarray(wav, np.float64)
    up = np.abs(resample_poly(x, OVERSAMPLE, 1))[: x.size * OVERSAMPLE]
    up = np.pad(up, (0, x.size * OVERSAMPLE - up.size))
    peaks = np.maximum(up.reshape(-1, OVERSAMPLE).max(axis=1), np.abs(x))
    need = np.minimum(1.0, 0.97 * ceiling / np.maximum(peaks, 1e-12))  # 3% margin for the resampler's ripple
    hold = max(1, round(0.01 * sr))
    gain = uniform_filter1d(minimum_filter1d(need, size=2 * hold + 1, mode="nearest"), size=hold, mode="nearest")
    gain = np.minimum(gain, need)
    return (x * gain).astype(np.float32), float(20 * np.log10(gain.min()))


def normalize_loudness(
    wav: np.ndarray, sr: int, *, target_lufs: float, true_peak_db_max: float
) -> tuple[np.ndarray, dict]:
    """Gain to ``target_lufs``, limiting true peaks to ``true_peak_db_max``.

    The limiter lowers loudness slightly when it works hard, so the gain is corrected and the limiter re-run (up to
    three rounds) until loudness is within 0.1 LU of the target. Returns (wav, info) with the measured ``loudness_in``,
    ``loudness``, ``true_peak``, ``gain_db`` and ``limiter_db``.
    """
    loud_in = loudness_lufs(wav, sr)
    info = {"loudness_in": loud_in, "gain_db": 0.0, "limiter_db": 0.0}
    if not np.isfinite(loud_in):
        return wav, {**info, "loudness": loud_in, "true_peak": true_peak_db(wav)}
    ceiling = 10 ** (true_peak_db_max / 20)
    gain_db, out, limiter_db = target_lufs - loud_in, wav, 0.0
    for _ in range(3):
        out, limiter_db = (wav.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32), 0.0
        if true_peak_db(out) > true_peak_db_max:
            out, limiter_db = _limit(out, sr, ceiling)
        error = target_lufs - loudness_lufs(out, sr)
        if abs(error) < 0.1:
            break
        gain_db += error
    return out, {
        **info,
        "gain_db": gain_db,
        "limiter_db": limiter_db,
        "loudness": loudness_lufs(out, sr),
        "true_peak": true_peak_db(out),
    }
