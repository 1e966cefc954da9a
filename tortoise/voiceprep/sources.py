"""Recordings in: files of any supported format, or in-memory microphone takes ``(sample_rate, samples)``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio_io import SILENCE_PEAK, read_audio
from ..errors import EmptyAudioError, InvalidInputError, SilentAudioError
from ..weights import sha256_file

# A file path, or a microphone take as Gradio delivers it: (sample_rate, samples) with samples (T,) or (T, C)
# in any integer or float dtype; (samples, sample_rate) is accepted too.
Source = str | os.PathLike | tuple


@dataclass(frozen=True)
class SourceAudio:
    """One decoded recording: float32 ``data`` (C, T) in [-1, 1] at its own ``sample_rate``."""

    name: str
    data: np.ndarray
    sample_rate: int
    path: Path | None = None
    sha256: str | None = None
    subtype: str | None = None  # e.g. "PCM_U8", "PCM_16", "FLOAT", "MPEG_LAYER_III", "int16" for arrays

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sample_rate

    @property
    def channels(self) -> int:
        return self.data.shape[0]

    def describe(self) -> dict:
        """JSON-ready provenance for voice.json."""
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "format": self.subtype,
            "duration_s": round(self.duration_s, 3),
        }


def _int_to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "u":  # unsigned PCM is offset binary (8-bit WAV)
        half = float(np.iinfo(a.dtype).max + 1) / 2
        return ((a.astype(np.float64) - half) / half).astype(np.float32)
    return (a.astype(np.float64) / float(-np.iinfo(a.dtype).min)).astype(np.float32)


def _from_array(pair: tuple, index: int) -> SourceAudio:
    if len(pair) != 2:
        raise InvalidInputError(f"recording {index + 1} must be (sample_rate, samples), got {len(pair)} items")
    a, b = pair
    sr, samples = (a, b) if isinstance(a, (int, np.integer)) else (b, a)
    if not isinstance(sr, (int, np.integer)) or not 1000 <= int(sr) <= 384000:
        raise InvalidInputError(f"recording {index + 1} has no valid sample rate (got {sr!r})")
    data = np.asarray(samples)
    if data.ndim == 0 or data.ndim > 2 or data.dtype.kind not in "iuf":
        raise InvalidInputError(
            f"recording {index + 1} must be a 1-D or 2-D numeric array, got {data.dtype} of shape {data.shape}"
        )
    subtype = str(data.dtype)
    data = _int_to_float(data) if data.dtype.kind in "iu" else data.astype(np.float32)
    data = np.atleast_2d(data)
    if data.shape[0] > data.shape[1]:  # (T, C) -> (C, T): the smaller axis holds the channels
        data = data.T
    return SourceAudio(f"recording {index + 1}", np.ascontiguousarray(data), int(sr), subtype=subtype)


def load_source(source: Source, index: int = 0) -> SourceAudio:
    """Decode one recording without changing it (the original file is only read).

    Raises
    ------
    UnreadableAudioError, InvalidInputError (too long, malformed array), EmptyAudioError, SilentAudioError.
    """
    if isinstance(source, tuple):
        audio = _from_array(source, index)
    else:
        path = Path(source).expanduser()
        data, sr = read_audio(path)
        subtype = None
        try:
            import soundfile as sf

            subtype = sf.info(str(path)).subtype
        except Exception:  # decoded by PyAV: report the extension instead
            subtype = path.suffix.lstrip(".").lower() or None
        audio = SourceAudio(path.name, data, int(sr), path=path.resolve(), sha256=sha256_file(path), subtype=subtype)
    if audio.data.size == 0:
        raise EmptyAudioError(f"{audio.name} contains no samples; record or choose another file")
    if not np.isfinite(audio.data).all():
        data = np.nan_to_num(audio.data, nan=0.0, posinf=0.0, neginf=0.0)
        audio = SourceAudio(audio.name, data, audio.sample_rate, audio.path, audio.sha256, audio.subtype)
    peak = float(np.abs(audio.data).max())
    if peak < SILENCE_PEAK:
        raise SilentAudioError(f"{audio.name} is silent (peak {peak:.1e}); check the microphone or choose another file")
    return audio
