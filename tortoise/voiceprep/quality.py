"""Validation of each clip (with reasons), a summary score for the voice, and advice on what to record next.

Thresholds (decisions; TorToiSe's own advice is "a few clips of ~10 s, clean, one speaker"):

====================  ==========================================  ===========================================
check                 warning                                     rejected (not saved unless keep_rejected)
====================  ==========================================  ===========================================
duration              < min_clip_s or > max_clip_s                < 1.0 s
clipping (input)      >= 3 flat-topped runs                       > 0.5 % of samples clipped
too quiet (input)     < -40 LUFS before gain                      -
too noisy (input)     estimated SNR < 20 dB                       estimated SNR < 10 dB
mostly silence        < 50 % of frames active                     < 25 % of frames active
====================  ==========================================  ===========================================
"""

from __future__ import annotations

import numpy as np

from .report import GOOD, REJECTED, WARN, ClipReport, ClipStats
from .steps import frame_levels, speech_and_floor_db

HARD_MIN_S = 1.0
CLIP_RUN = 3  # consecutive samples pinned at the extreme count as one clipped run
CLIP_WARN_RUNS, CLIP_REJECT_FRACTION = 3, 0.005
QUIET_LUFS = -40.0
NOISY_DB, TOO_NOISY_DB = 20.0, 10.0  # blind estimates; ~ the active-speech SNR
ACTIVE_WARN, ACTIVE_REJECT = 0.5, 0.25
RECOMMENDED_CLIPS, RECOMMENDED_SECONDS = 5, 40.0


def estimate_snr(wav: np.ndarray, sr: int) -> float:
    """Blind SNR estimate in dB: speech power (frames more than 10 dB above the floor) over the noise floor.

    The floor is the mean power of the quietest 10 % of 20 ms frames (the pauses). Returns 100 dB for digital
    silence between words and 0 dB when no frame stands out of the noise.
    """
    levels = frame_levels(wav, sr)
    power = 10 ** (levels / 10)
    quiet = np.sort(power)[: max(1, levels.size // 10)]
    noise = float(quiet.mean())
    loud = power[levels > 10 * np.log10(noise) + 10.0]
    if loud.size == 0:
        return 0.0
    return float(min(100.0, 10 * np.log10(max(loud.mean() - noise, 1e-20) / max(noise, 1e-20))))


def active_fraction(wav: np.ndarray, sr: int) -> float:
    """Fraction of 20 ms frames within 30 dB of the speech level and 10 dB above the noise floor."""
    levels = frame_levels(wav, sr)
    speech, floor = speech_and_floor_db(levels)
    return float(np.mean(levels > max(speech - 30.0, floor + 10.0)))


def clipped_mask(data: np.ndarray) -> np.ndarray:
    """(C, T) -> (T,) bool: samples inside runs of >= 3 samples pinned at a channel's positive or negative extreme.

    Flat tops are what clipping leaves; the extreme is each channel's own maximum and minimum (so 8-bit +127/128,
    int16 and analog clipping at a lower level are all found). A quiet channel (peak < 0.1) is not examined.
    """
    mask = np.zeros(data.shape[1], bool)
    for ch in data:
        for pinned in (
            ch >= 0.999 * ch.max() if ch.max() > 0.1 else None,
            ch <= 0.999 * ch.min() if ch.min() < -0.1 else None,
        ):
            if pinned is None:
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([0], pinned.astype(np.int8), [0]))))
            for start, end in zip(edges[::2], edges[1::2]):
                if end - start >= CLIP_RUN:
                    mask[start:end] = True
    return mask


def clipped_runs(mask: np.ndarray) -> int:
    """Number of separate clipped runs in a mask from ``clipped_mask``."""
    return int(np.count_nonzero(np.diff(np.concatenate(([0], mask.astype(np.int8)))) == 1))


def judge(stats: ClipStats, *, min_s: float, max_s: float) -> tuple[str, tuple[str, ...]]:
    """The verdict (good / warn / rejected) and the reasons for it."""
    rejected, warned = [], []
    if stats.duration_s < HARD_MIN_S:
        rejected.append(f"too short ({stats.duration_s:.1f} s < {HARD_MIN_S:.0f} s)")
    elif stats.duration_s < min_s:
        warned.append(f"short ({stats.duration_s:.1f} s < {min_s:g} s)")
    if stats.duration_s > max_s:
        warned.append(f"long ({stats.duration_s:.1f} s > {max_s:g} s); only ~6 s of it conditions the voice")
    if stats.clipped_fraction > CLIP_REJECT_FRACTION:
        rejected.append(f"clipped ({100 * stats.clipped_fraction:.1f} % of samples); reduce the input gain")
    elif stats.clipped_runs >= CLIP_WARN_RUNS:
        warned.append(f"clipped in {stats.clipped_runs} places; reduce the input gain")
    if stats.loudness_in_lufs < QUIET_LUFS:
        warned.append(f"too quiet ({stats.loudness_in_lufs:.0f} LUFS as recorded); raise the gain or move closer")
    if stats.snr_in_db < TOO_NOISY_DB:
        rejected.append(f"too noisy (SNR ~{stats.snr_in_db:.0f} dB as recorded)")
    elif stats.snr_in_db < NOISY_DB:
        warned.append(f"noisy (SNR ~{stats.snr_in_db:.0f} dB as recorded)")
    if stats.active_fraction < ACTIVE_REJECT:
        rejected.append(f"mostly silence ({100 * stats.active_fraction:.0f} % speech)")
    elif stats.active_fraction < ACTIVE_WARN:
        warned.append(f"much silence ({100 * stats.active_fraction:.0f} % speech)")
    if rejected:
        return REJECTED, tuple(rejected + warned)
    return (WARN if warned else GOOD), tuple(warned)


def score_voice(clips: list[ClipReport] | tuple[ClipReport, ...]) -> tuple[int, str]:
    """0-100 and a grade: ``100 * sqrt(coverage) * quality`` over the accepted clips.

    Coverage is the mean of min(1, clips / 5) and min(1, seconds / 40); quality is the duration-weighted mean of
    1.0 per good clip and 0.75 per warning (at least 0.3). So 5 good 8 s clips score 100, 3 score 77, 1 scores 45.
    Grades: >= 80 good, >= 50 usable, else poor; "unusable" when no clip passed.
    """
    usable = [c for c in clips if c.verdict != REJECTED]
    if not usable:
        return 0, "unusable"
    seconds = sum(c.stats.duration_s for c in usable)
    coverage = 0.5 * min(1.0, len(usable) / RECOMMENDED_CLIPS) + 0.5 * min(1.0, seconds / RECOMMENDED_SECONDS)
    quality = sum(c.stats.duration_s * max(0.3, 0.75 ** len(c.reasons)) for c in usable) / seconds
    score = round(100 * np.sqrt(coverage) * quality)
    grade = "good" if score >= 80 else "usable" if score >= 50 else "poor"
    return int(score), grade


def advise(clips: list[ClipReport] | tuple[ClipReport, ...], source_warnings: list[str]) -> tuple[str, ...]:
    """Short, concrete advice, most important first."""
    usable = [c for c in clips if c.verdict != REJECTED]
    reasons = " ".join(r for c in clips for r in c.reasons)
    advice = []
    if not usable:
        advice.append("no clip is usable; record at least 3 clips of 6-10 s of clear speech in a quiet room")
    elif len(usable) < RECOMMENDED_CLIPS:
        n = RECOMMENDED_CLIPS - len(usable)
        advice.append(f"record {n} more clip{'s' if n > 1 else ''} of 6-10 s each (5 or more clips clone best)")
    if "clipped" in reasons:
        advice.append("reduce gain: the input clipped (keep peaks below about -6 dBFS when recording)")
    if "too quiet" in reasons:
        advice.append("raise the microphone gain or speak closer to the microphone")
    if "noisy" in reasons:
        advice.append("record in a quieter room, closer to the microphone, or raise the denoise strength")
    if "silence" in reasons:
        advice.append("leave shorter pauses, or enable trimming and slicing")
    if "short" in reasons:
        advice.append("speak whole sentences: clips under 3 s carry too little of the voice")
    advice += [w for w in source_warnings if "channel" in w][:1]
    return tuple(advice)
