"""Reading and writing audio files: any common format in, mono float at the rate asked for out.

soundfile (libsndfile) reads wav (8/16/24/32-bit int, float), flac, ogg/vorbis/opus and mp3; PyAV (FFmpeg) reads
the rest (m4a/aac, webm, ...). Channels are averaged (the original kept only the left one), the rate is converted
with soxr, and every failure becomes a ``TortoiseError`` that says what to do. Writing is atomic.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import EmptyAudioError, InvalidInputError, SilentAudioError, UnreadableAudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".mp4", ".aiff", ".aif")
MAX_SECONDS = 3600.0  # refuse longer files instead of filling memory (a 1-hour clip is already ~300 MB as float32)
MAX_SAMPLES_PER_SECOND = 96_000  # the decoded size limit is max_seconds of 48 kHz stereo (~1.4 GB for an hour)
SILENCE_PEAK = 1e-4  # below this peak (-80 dBFS) a clip holds nothing usable


def _check_size(path: Path, frames: int, channels: int, sr: int, max_seconds: float) -> None:
    """Refuse, before decoding, a file whose samples (all channels) would not fit the memory budget."""
    if channels * frames > max_seconds * MAX_SAMPLES_PER_SECOND:
        raise InvalidInputError(
            f"{path.name} is too large to load ({frames / max(sr, 1) / 60:.0f} minutes, {channels} channels at "
            f"{sr} Hz: {channels * frames * 4 / 1e9:.1f} GB decoded). Convert it to mono or a lower sample rate, "
            "or cut it into shorter files first."
        )


def _read_soundfile(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    info = sf.info(str(path))
    if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
        raise InvalidInputError(
            f"{path.name} is {info.frames / info.samplerate / 60:.0f} minutes long; the limit is "
            f"{max_seconds / 60:.0f} minutes. Cut it into shorter files first."
        )
    _check_size(path, info.frames, info.channels, info.samplerate, max_seconds)
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    return data.T, sr


def _read_av(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise UnreadableAudioError(f"{path.name} contains no audio stream")
        stream = streams[0]
        if container.duration is not None and container.duration / 1e6 > max_seconds:
            raise InvalidInputError(
                f"{path.name} is {container.duration / 6e7:.0f} minutes long; the limit is "
                f"{max_seconds / 60:.0f} minutes. Cut it into shorter files first."
            )
        chunks, sr, total = [], stream.codec_context.sample_rate, 0
        for frame in container.decode(stream):
            a = frame.to_ndarray()  # planar (C, n) or packed (1, n*C)
            if not frame.format.is_planar:
                a = a.reshape(-1, len(frame.layout.channels)).T
            if a.dtype.kind in "iu":
                a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
            chunks.append(a.astype(np.float32, copy=False))
            total += a.shape[1]
            if sr and total / sr > max_seconds:
                raise InvalidInputError(f"{path.name} is longer than {max_seconds / 60:.0f} minutes; cut it first")
            _check_size(path, total, a.shape[0], sr, max_seconds)
    if not chunks:
        return np.zeros((1, 0), np.float32), sr or 1
    return np.concatenate(chunks, axis=1), sr


def _int_to_float(a: np.ndarray) -> np.ndarray:
    """Integer PCM to float32 in [-1, 1]: signed by full scale, unsigned (8-bit WAV) as offset binary."""
    if a.dtype.kind == "u":
        half = (float(np.iinfo(a.dtype).max) + 1) / 2
        return ((a.astype(np.float64) - half) / half).astype(np.float32)
    return (a.astype(np.float64) / -float(np.iinfo(a.dtype).min)).astype(np.float32)


def read_audio(path: str | os.PathLike, *, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode a file to float32 ``(channels, samples)`` at its own rate, without mixing or resampling."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableAudioError(f"audio file not found: {path}")
    errors = []
    for reader in (_read_soundfile, _read_av):
        try:
            return reader(path, max_seconds)
        except (InvalidInputError, UnreadableAudioError):
            raise
        except Exception as e:  # any decoder failure: try the next decoder, then report both
            errors.append(f"{reader.__name__[6:]}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise UnreadableAudioError(
        f"cannot read {path.name} as audio ({'; '.join(errors)}). Is it a complete, uncorrupted audio file "
        f"({', '.join(AUDIO_EXTENSIONS)})?"
    )


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels: (C, T) -> (T,). Warns when channels differ strongly (e.g. one silent or phase-inverted)."""
    if data.ndim == 1 or data.shape[0] == 1:
        return data.reshape(-1)
    mono = data.mean(axis=0)
    loudest = float(np.sqrt(np.mean(data.astype(np.float64) ** 2, axis=1)).max())
    if loudest > 0 and float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) < 0.5 * loudest:
        warnings.warn(
            "the channels of this recording differ strongly (one is silent or they cancel out); "
            "the mono mix is much quieter than the loudest channel",
            stacklevel=3,
        )
    return mono


def resample_hq(wav: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """High-quality resampling of a 1-D float array with soxr (VHQ)."""
    if orig_sr == new_sr or wav.size == 0:
        return wav
    import soxr

    return soxr.resample(wav, orig_sr, new_sr, quality="VHQ").astype(np.float32, copy=False)


def load_audio(
    source: str | os.PathLike | np.ndarray | Tensor,
    sample_rate: int,
    *,
    source_rate: int | None = None,
    allow_silent: bool = False,
    max_seconds: float = MAX_SECONDS,
) -> Tensor:
    """Load a file or array as mono float32 at ``sample_rate``: returns (1, T) in [-1, 1].

    Parameters
    ----------
    source : a path, or an array/tensor shaped (T,), (C, T) or (T, C) (the smaller axis is taken as channels);
        float arrays are taken as [-1, 1], integer arrays as PCM (int16 full scale = 1.0, uint8 offset binary).
    sample_rate : the rate wanted, Hz (22050 for voice clips, 24000 for the vocoder side).
    source_rate : the rate of an array ``source`` (required for arrays, ignored for files).
    allow_silent : return silent audio instead of raising ``SilentAudioError``.

    Raises
    ------
    UnreadableAudioError, EmptyAudioError, SilentAudioError, InvalidInputError (too long, bad arguments).
    """
    if isinstance(source, (np.ndarray, Tensor)):
        if source_rate is None or not source_rate > 0:
            raise InvalidInputError(f"source_rate must be a positive rate in Hz for an array, got {source_rate!r}")
        if isinstance(source, Tensor):
            t = source.detach().cpu()
            data = (t.float() if t.is_floating_point() else t).numpy()  # numpy has no bfloat16
        else:
            data = np.asarray(source)
        if data.ndim not in (1, 2) or data.dtype.kind not in "iuf":
            raise InvalidInputError(
                f"audio arrays must be 1-D or 2-D real numbers (samples, or channels x samples); "
                f"got {data.dtype} of shape {data.shape}"
            )
        data = _int_to_float(data) if data.dtype.kind in "iu" else data.astype(np.float32, copy=False)
        if data.ndim == 2 and data.shape[0] > data.shape[1]:
            data = data.T
        sr, name = int(source_rate), "the audio"
    else:
        data, sr = read_audio(source, max_seconds=max_seconds)
        name = Path(source).name
    if data.size == 0:
        raise EmptyAudioError(f"{name} contains no samples; record or choose another file")
    if not np.isfinite(data).all():
        warnings.warn(f"{name} contains NaN or infinite samples; they were replaced by silence", stacklevel=2)
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    wav = resample_hq(to_mono(np.atleast_2d(data)), sr, sample_rate)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if not allow_silent and peak < SILENCE_PEAK:
        raise SilentAudioError(f"{name} is silent (peak {peak:.1e}); check the microphone or choose another file")
    if peak > 1.0:
        warnings.warn(f"{name} exceeds full scale (peak {peak:.2f}); samples were clipped to [-1, 1]", stacklevel=2)
    return torch.from_numpy(np.clip(wav, -1.0, 1.0).astype(np.float32)).unsqueeze(0)


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a normal write would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_audio(path: str | os.PathLike, audio: Tensor | np.ndarray, sample_rate: int, *, metadata: dict | None = None):
    """Write mono float audio atomically (WAV float32 unless the suffix says flac/ogg).

    ``metadata`` (e.g. the generation settings) is stored as JSON in the file's comment tag.
    """
    import soundfile as sf

    data = audio.detach().float().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio, np.float32)
    data = data.reshape(-1)
    suffix = Path(path).suffix.lower()
    subtype = {".wav": "FLOAT", ".flac": "PCM_24", ".ogg": "VORBIS"}.get(suffix)
    if subtype is None:
        raise InvalidInputError(f"cannot write {suffix!r} files; use .wav, .flac or .ogg")

    def write(tmp: Path) -> None:
        with sf.SoundFile(
            tmp, "w", samplerate=sample_rate, channels=1, subtype=subtype, format=suffix[1:].upper()
        ) as f:
            if metadata:
                f.comment = json.dumps(metadata, sort_keys=True, default=str)
                f.software = "tortoise-tts-oneapi"
            f.write(data)

    return atomic_write(path, write)


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata ``save_audio`` embedded, or {} when there is none."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        comment = f.comment
    try:
        value = json.loads(comment) if comment else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
