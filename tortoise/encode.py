"""Speech to bytes in the common delivery formats: mp3, opus, aac, m4a, m4b, flac, wav and raw pcm, whole or streamed.

The formats and their ``Content-Type`` are those of OpenAI's speech API (``response_format``): mp3, opus (in Ogg),
aac (ADTS, so it streams), flac, wav (16-bit) and pcm (raw 24 kHz signed 16-bit little-endian mono); ``m4a`` (AAC in
MP4) and ``m4b`` (the same with the audiobook brand ``M4B``) are for files only, since their index is written at the
end. Everything is encoded with PyAV (FFmpeg's libmp3lame, libopus, native aac and flac encoders); audio at a rate
the codec cannot take is resampled to one it can (libopus takes 8, 12, 16, 24 and 48 kHz; Opus decoders always give
48 kHz). Tags (title, artist, a JSON comment with the settings) go where the container has them: ID3 in mp3, Vorbis
comments in opus and flac, MP4 tags in m4a/m4b, a LIST/INFO chunk in wav; ADTS and pcm have none.

Files can also hold chapter marks and a cover picture (an audiobook's, see :mod:`tortoise.project.export`): chapters
in m4a/m4b (QuickTime and Nero chapters) and mp3 (ID3 CHAP frames) are FFmpeg's; in opus and flac they are
``CHAPTERnnn``/``CHAPTERnnnNAME`` Vorbis comments written here (FFmpeg 8's own writer puts a chapter that starts at
x.5 s or later one second late). The cover is an attached picture (ID3 APIC in mp3, ``covr`` in m4b, a PICTURE block
in flac); the other formats have no room for it.

``encode`` makes a whole file (seekable output: exact lengths in the mp3 Xing header, the flac STREAMINFO and the wav
sizes); ``write_chunks`` writes one from an iterable of chunks straight to disk, so memory does not grow with the
length. ``StreamEncoder`` turns chunks into bytes as they come, for a response body sent while audio is made: the
container is written to a non-seekable sink, so the mp3 has no Xing header (its decoded length includes the
encoder's padding, ~50 ms), the flac STREAMINFO has no total, and the wav header says "unknown length" (0xFFFFFFFF
sizes, as OpenAI's streamed wav does).
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
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
    chapters: str | None = None  # "muxer": FFmpeg writes them; "comments": CHAPTERnnn comments written here
    cover: bool = False  # whether the container holds a cover picture
    options: tuple[tuple[str, str], ...] = ()  # muxer options


FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "mp3", "libmp3lame", "audio/mpeg", ".mp3", 128_000, tags=True, chapters="muxer",
                       cover=True),
    "opus": AudioFormat("opus", "ogg", "libopus", "audio/opus", ".opus", 64_000, tags=True, chapters="comments"),
    "aac": AudioFormat("aac", "adts", "aac", "audio/aac", ".aac", 128_000),
    "flac": AudioFormat("flac", "flac", "flac", "audio/flac", ".flac", tags=True, chapters="comments", cover=True),
    "wav": AudioFormat("wav", "wav", "pcm_s16le", "audio/wav", ".wav", tags=True),
    "pcm": AudioFormat("pcm", None, None, "audio/pcm", ".pcm"),
    "m4a": AudioFormat("m4a", "ipod", "aac", "audio/mp4", ".m4a", 128_000, tags=True, streams=False, chapters="muxer"),
    "m4b": AudioFormat("m4b", "mp4", "aac", "audio/mp4", ".m4b", 128_000, tags=True, streams=False, chapters="muxer",
                       cover=True, options=(("brand", "M4B "),)),  # m4a with the audiobook brand, and a cover
}  # fmt: skip
API_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")  # OpenAI's response_format values
STREAM_BUFFER = 4096  # bytes PyAV gathers before handing them on: small, so the first bytes leave early


@dataclass(frozen=True)
class ChapterMark:
    """A chapter of a file: its title and where it starts and ends, in seconds."""

    title: str
    start: float
    end: float


def clock(seconds: float) -> str:
    """``HH:MM:SS.mmm``: the time format of Vorbis chapter comments (and of WebVTT)."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


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
    bit_rate: int | None = None,
    chapters: Sequence[ChapterMark] = (),
    cover: Path | None = None,
) -> bytes:
    """The whole of ``audio`` ((T,) float in [-1, 1]) as a file in ``fmt``.

    Parameters
    ----------
    audio : mono samples, float, (T,) or (1, T).
    fmt : a name from ``FORMATS`` or an ``AudioFormat``.
    sample_rate : Hz of ``audio`` (resampled where the codec cannot take it).
    tags : text tags, e.g. ``{"title": ..., "artist": ..., "comment": ...}``; a dict value is stored as JSON.
        Ignored where the format has no tags.
    bit_rate : bits per second of a lossy codec (default: the format's).
    chapters, cover : chapter marks and a cover picture (a JPEG or PNG file), where the format has room for them.

    Raises
    ------
    InvalidInputError for an unknown format.
    """
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    if fmt.container is None:
        return to_pcm16(audio)
    sink = io.BytesIO()
    writer = _Writer(fmt, sample_rate, tags, sink, bit_rate=bit_rate, chapters=chapters, cover=cover)
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
    return write_chunks(path, (audio,), fmt, sample_rate=sample_rate, tags=tags)


def write_chunks(
    path: str | os.PathLike,
    chunks: Iterable[Tensor | np.ndarray],
    fmt: str | AudioFormat | None = None,
    *,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    tags: dict | None = None,
    bit_rate: int | None = None,
    chapters: Sequence[ChapterMark] = (),
    cover: Path | None = None,
) -> Path:
    """Write the chunks of mono audio (each (S,) float at ``sample_rate``) to ``path`` as one file, atomically.

    Each chunk is encoded as it comes and written to disk, so memory does not grow with the file. ``fmt`` defaults
    to the format the extension names; the other options are those of :func:`encode`.
    """
    from .audio_io import atomic_write

    if fmt is None:
        fmt = format_for_path(path)
        if fmt is None:
            raise InvalidInputError(f"cannot tell the format of {Path(path).name!r}; use one of {', '.join(FORMATS)}")
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt

    def write(tmp: Path) -> None:
        if fmt.container is None:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(to_pcm16(chunk))
            return
        writer = _Writer(fmt, sample_rate, tags, str(tmp), bit_rate=bit_rate, chapters=chapters, cover=cover)
        try:
            for chunk in chunks:
                writer.write(_as_float(chunk))
        except BaseException:
            writer.container.close()  # the temporary file is removed by atomic_write
            raise
        writer.close()

    return atomic_write(path, write)


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


def codec_rate(codec: str, sample_rate: int) -> int:
    """The rate a codec encodes ``sample_rate`` audio at: the same where it can, else the next higher it takes."""
    import av

    rates = av.codec.Codec(codec, "w").audio_rates
    if not rates or sample_rate in rates:
        return sample_rate
    return min((r for r in rates if r > sample_rate), default=max(rates))


def chapter_comments(chapters: Sequence[ChapterMark]) -> dict[str, str]:
    """Chapters as Vorbis comments (``CHAPTER000=00:00:00.000``, ``CHAPTER000NAME=...``), as players read them."""
    tags = {}
    for i, c in enumerate(chapters):
        tags[f"CHAPTER{i:03d}"], tags[f"CHAPTER{i:03d}NAME"] = clock(c.start), c.title
    return tags


def _cover_packet(container, cover: Path):
    """A stream for the cover (attached picture: players show it as the artwork) and the packet to mux into it."""
    import av

    data = Path(cover).read_bytes()
    with av.open(str(cover)) as image:  # its size and pixel format, which the stream must declare
        picture = next(image.decode(video=0))
    codec = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "mjpeg"
    stream = container.add_stream(codec)
    stream.width, stream.height, stream.pix_fmt = picture.width, picture.height, picture.format.name
    stream.disposition = av.stream.Disposition.attached_pic
    packet = av.Packet(data)
    packet.stream, packet.pts, packet.dts = stream, 0, 0
    return packet


class _Writer:
    """One PyAV output container with one mono audio stream (and a cover, chapters), fed float chunks.

    ``sink`` is a file name or a file-like object. Chunks at ``sample_rate`` are resampled by PyAV to the stream's
    rate (:func:`codec_rate`) and sample format.
    """

    def __init__(
        self,
        fmt: AudioFormat,
        sample_rate: int,
        tags: dict | None,
        sink,
        *,
        streaming: bool = False,
        bit_rate: int | None = None,
        chapters: Sequence[ChapterMark] = (),
        cover: Path | None = None,
    ):
        import av

        options = dict(fmt.options) | ({"flush_packets": "1"} if streaming else {})
        if streaming and fmt.container == "ogg":
            options["page_duration"] = "200000"  # µs per Ogg page (default 1 s): audio leaves sooner
        kwargs = {"buffer_size": STREAM_BUFFER} if streaming else {}
        self.container = av.open(sink, "w", format=fmt.container, options=options, **kwargs)
        self.sample_rate = sample_rate
        rate = codec_rate(fmt.codec, sample_rate)
        self.stream = self.container.add_stream(fmt.codec, rate=rate, layout="mono")
        if bit_rate or fmt.bit_rate:
            self.stream.bit_rate = bit_rate or fmt.bit_rate
        self._describe(fmt, dict(tags or {}), chapters)
        if cover is not None and fmt.cover:
            self.container.mux(_cover_packet(self.container, cover))  # before any audio: the muxer waits for it

    def _describe(self, fmt: AudioFormat, tags: dict, chapters: Sequence[ChapterMark]) -> None:
        """Tags and chapters, where the format has room for them (before the header is written)."""
        if fmt.chapters == "comments":
            tags |= chapter_comments(chapters)
        if fmt.tags and tags:
            target = self.stream if fmt.container == "ogg" else self.container  # Ogg keeps comments per stream
            for key, value in tags.items():
                if value is not None:
                    target.metadata[key] = value if isinstance(value, str) else json.dumps(value, default=str)
        if chapters and fmt.chapters == "muxer":
            ms = Fraction(1, 1000)
            self.container.set_chapters([
                {"id": i + 1, "start": round(c.start * 1000), "end": round(c.end * 1000), "time_base": ms,
                 "metadata": {"title": c.title}}
                for i, c in enumerate(chapters)
            ])  # fmt: skip

    def write(self, x: np.ndarray) -> None:
        import av

        if x.size == 0:  # FFmpeg refuses empty frames
            return
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1.0, 1.0)[None, :], format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
