"""Speech to bytes in the common delivery formats: mp3, opus, aac, m4a, flac, wav and raw pcm, whole or streamed.

The formats and their ``Content-Type`` are those of OpenAI's speech API (``response_format``): mp3, opus (in Ogg),
aac (ADTS, so it streams), flac, wav (16-bit) and pcm (raw 24 kHz signed 16-bit little-endian mono); ``m4a`` (AAC in
MP4) is for files only, since its index is written at the end. Everything is encoded with PyAV (FFmpeg's libmp3lame,
libopus, native aac and flac encoders). Tags (title, artist, a JSON comment with the settings) go where the container
has them: ID3 in mp3, Vorbis comments in opus and flac, MP4 tags in m4a, a LIST/INFO chunk in wav; ADTS and pcm have
none.

``encode`` makes a whole file (seekable output: exact lengths in the mp3 Xing header, the flac STREAMINFO and the wav
sizes). ``StreamEncoder`` turns chunks into bytes as they come, for a response body sent while audio is made: the
container is written to a non-seekable sink, so the mp3 has no Xing header (its decoded length includes the
encoder's padding, ~50 ms), the flac STREAMINFO has no total, and the wav header says "unknown length" (0xFFFFFFFF
sizes, as OpenAI's streamed wav does).
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from .audio import OUTPUT_SAMPLE_RATE
from .errors import InvalidInputError


@dataclass(frozen=True)
class AudioFormat:
    """One output format: how PyAV writes it and what HTTP calls it."""

    name: str
    container: str | None  # FFmpeg muxer; None for raw pcm
    codec: str | None
    content_type: str
    extension: str
    bit_rate: int | None = None  # bits per second for lossy codecs
    tags: bool = False  # whether the container stores title/artist/comment
    streams: bool = True  # whether it can be written to a non-seekable stream


FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "mp3", "libmp3lame", "audio/mpeg", ".mp3", 128_000, tags=True),
    "opus": AudioFormat("opus", "ogg", "libopus", "audio/opus", ".opus", 64_000, tags=True),
    "aac": AudioFormat("aac", "adts", "aac", "audio/aac", ".aac", 128_000),
    "flac": AudioFormat("flac", "flac", "flac", "audio/flac", ".flac", tags=True),
    "wav": AudioFormat("wav", "wav", "pcm_s16le", "audio/wav", ".wav", tags=True),
    "pcm": AudioFormat("pcm", None, None, "audio/pcm", ".pcm"),
    "m4a": AudioFormat("m4a", "ipod", "aac", "audio/mp4", ".m4a", 128_000, tags=True, streams=False),
}
API_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")  # OpenAI's response_format values
STREAM_BUFFER = 4096  # bytes PyAV gathers before handing them on: small, so the first bytes leave early


def get_format(name: str) -> AudioFormat:
    """The format called ``name`` (case-insensitive), or ``InvalidInputError`` listing the valid ones."""
    fmt = FORMATS.get(str(name).lower().lstrip("."))
    if fmt is None:
        raise InvalidInputError(f"unknown audio format {name!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def format_for_path(path: str | os.PathLike) -> AudioFormat | None:
    """The format a file name's extension names (``.ogg`` counts as opus), or None."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ogg":
        return FORMATS["opus"]
    return next((f for f in FORMATS.values() if f.extension == suffix), None)


def to_pcm16(audio: Tensor | np.ndarray) -> bytes:
    """Mono float audio in [-1, 1] as signed 16-bit little-endian bytes (values outside are clipped)."""
    x = _as_float(audio)
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav_header(sample_rate: int, *, data_bytes: int | None = None) -> bytes:
    """A 44-byte header of 16-bit mono PCM wav; ``data_bytes=None`` writes 0xFFFFFFFF sizes (length unknown)."""
    size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    # RIFF size, "WAVE", fmt chunk (PCM, mono, rate, byte rate, block align, bits), data chunk size
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        size,
    )


def encode(
    audio: Tensor | np.ndarray,
    fmt: str | AudioFormat,
    *,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    tags: dict | None = None,
) -> bytes:
    """The whole of ``audio`` ((T,) float in [-1, 1]) as a file in ``fmt``.

    Parameters
    ----------
    audio : mono samples, float, (T,) or (1, T).
    fmt : a name from ``FORMATS`` or an ``AudioFormat``.
    sample_rate : Hz of ``audio`` (opus input must be 8, 12, 16, 24 or 48 kHz).
    tags : text tags, e.g. ``{"title": ..., "artist": ..., "comment": ...}``; a dict value is stored as JSON.
        Ignored where the format has no tags.

    Raises
    ------
    InvalidInputError for an unknown format.
    """
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    if fmt.container is None:
        return to_pcm16(audio)
    sink = io.BytesIO()
    writer = _Writer(fmt, sample_rate, tags, sink)
    writer.write(_as_float(audio))
    writer.close()
    return sink.getvalue()


def write_file(
    path: str | os.PathLike,
    audio: Tensor | np.ndarray,
    fmt: str | AudioFormat | None = None,
    *,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    tags: dict | None = None,
) -> Path:
    """Write ``audio`` to ``path`` atomically in ``fmt`` (default: the format the extension names)."""
    from .audio_io import atomic_write

    if fmt is None:
        fmt = format_for_path(path)
        if fmt is None:
            raise InvalidInputError(f"cannot tell the format of {Path(path).name!r}; use one of {', '.join(FORMATS)}")
    data = encode(audio, fmt, sample_rate=sample_rate, tags=tags)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


class StreamEncoder:
    """Chunks of speech in, bytes of one growing file out: ``push(chunk)`` as audio comes, ``finish()`` at the end.

    Each call returns the bytes ready so far (possibly none: lossy encoders and the Ogg muxer hold back a little).
    """

    def __init__(self, fmt: str | AudioFormat, *, sample_rate: int = OUTPUT_SAMPLE_RATE, tags: dict | None = None):
        self.format = get_format(fmt) if isinstance(fmt, str) else fmt
        if not self.format.streams:
            raise InvalidInputError(f"{self.format.name} cannot be streamed (its index is written at the end)")
        self.sample_rate = sample_rate
        self._sink = _Sink()
        self._writer = None
        self._started = False
        if self.format.container not in (None, "wav"):  # wav and pcm are written here, header first
            self._writer = _Writer(self.format, sample_rate, tags, self._sink, streaming=True)

    def push(self, chunk: Tensor | np.ndarray) -> bytes:
        x = _as_float(chunk)
        if self._writer is not None:
            self._writer.write(x)
            return self._sink.take()
        head = b""
        if not self._started and self.format.name == "wav":
            head = wav_header(self.sample_rate)
        self._started = True
        return head + to_pcm16(x)

    def finish(self) -> bytes:
        if self._writer is not None:
            self._writer.close()
            return self._sink.take()
        if not self._started and self.format.name == "wav":
            self._started = True
            return wav_header(self.sample_rate, data_bytes=0)
        return b""


def _as_float(audio: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(audio, Tensor):
        audio = audio.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1))


class _Sink:
    """A write-only, non-seekable file for PyAV: what it writes is collected until taken."""

    def __init__(self):
        self._buf = bytearray()

    def write(self, data) -> int:
        self._buf += bytes(data)
        return len(data)

    def take(self) -> bytes:
        out, self._buf = bytes(self._buf), bytearray()
        return out


class _Writer:
    """One PyAV output container with one mono audio stream, fed float chunks."""

    def __init__(self, fmt: AudioFormat, sample_rate: int, tags: dict | None, sink, *, streaming: bool = False):
        import av

        options = {"flush_packets": "1"} if streaming else {}
        if streaming and fmt.container == "ogg":
            options["page_duration"] = "200000"  # µs per Ogg page (default 1 s): audio leaves sooner
        kwargs = {"buffer_size": STREAM_BUFFER} if streaming else {}
        self.container = av.open(sink, "w", format=fmt.container, options=options, **kwargs)
        self.sample_rate = sample_rate
        self.stream = self.container.add_stream(fmt.codec, rate=sample_rate, layout="mono")
        if fmt.bit_rate:
            self.stream.bit_rate = fmt.bit_rate
        if fmt.tags and tags:
            target = self.stream if fmt.container == "ogg" else self.container  # Ogg keeps comments per stream
            for key, value in tags.items():
                if value is not None:
                    target.metadata[key] = value if isinstance(value, str) else json.dumps(value, default=str)

    def write(self, x: np.ndarray) -> None:
        import av

        if x.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1.0, 1.0)[None, :], format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
