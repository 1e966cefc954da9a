"""Writing a book's audio with PyAV (FFmpeg): m4b, mp3, opus, flac or wav, with tags, chapter marks and a cover.

One function, :func:`encode_audio`, so the project's exports can move to a shared encoder later. What each format
carries (FFmpeg's muxers): m4b (AAC in MP4, brand ``M4B``): tags, chapters (QuickTime and Nero) and the cover; mp3:
ID3v2 tags, CHAP frames and the cover (APIC); opus (Ogg): tags and chapters (``CHAPTERnnn`` comments, written here:
FFmpeg 8's own writer puts a chapter starting at x.5 s or later one second late); flac: tags and the cover; wav
(16-bit): RIFF INFO tags.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..audio_io import atomic_write
from ..errors import InvalidInputError


@dataclass(frozen=True)
class Format:
    container: str
    codec: str
    rate: int | None = None  # forced sample rate (opus runs at 48 kHz), else the audio's
    bit_rate: int | None = None
    chapters: str | None = None  # "muxer": FFmpeg writes them; "comments": we write CHAPTERnnn comments
    cover: bool = False
    options: tuple[tuple[str, str], ...] = ()


FORMATS = {
    "m4b": Format("mp4", "aac", bit_rate=64_000, chapters="muxer", cover=True, options=(("brand", "M4B "),)),
    "mp3": Format("mp3", "libmp3lame", bit_rate=64_000, chapters="muxer", cover=True),
    "opus": Format("ogg", "libopus", rate=48_000, bit_rate=32_000, chapters="comments"),
    "flac": Format("flac", "flac", cover=True),
    "wav": Format("wav", "pcm_s16le"),
}


@dataclass(frozen=True)
class ChapterMark:
    title: str
    start: float  # seconds
    end: float


def clock(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (chapter comments, WebVTT)."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _add_cover(container, cover: Path):
    """A stream for the cover (attached picture: players show it as the artwork) and the packet to mux into it."""
    import av

    data = cover.read_bytes()
    with av.open(str(cover)) as image:  # its size and pixel format, which the stream must declare
        picture = next(image.decode(video=0))
    codec = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "mjpeg"
    stream = container.add_stream(codec)
    stream.width, stream.height, stream.pix_fmt = picture.width, picture.height, picture.format.name
    stream.disposition = av.stream.Disposition.attached_pic
    packet = av.Packet(data)
    packet.stream, packet.pts, packet.dts = stream, 0, 0
    return packet


def encode_audio(
    chunks: Iterable[np.ndarray],
    path: str | os.PathLike,
    fmt: str,
    sample_rate: int,
    *,
    tags: dict[str, str] | None = None,
    chapters: list[ChapterMark] = (),
    cover: Path | None = None,
) -> Path:
    """Encode mono float chunks (each (S,) in [-1, 1] at ``sample_rate``) into ``path``, atomically.

    ``tags`` (title, artist, album, ...), ``chapters`` and ``cover`` are written where the format has room for them.
    """
    import av

    if fmt not in FORMATS:
        raise InvalidInputError(f"cannot export {fmt!r}; choose one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]

    def write(tmp: Path) -> None:
        with av.open(str(tmp), "w", format=spec.container, options=dict(spec.options)) as out:
            tags_ = dict(tags or {})
            if spec.chapters == "comments":
                for i, c in enumerate(chapters):
                    tags_[f"CHAPTER{i:03d}"], tags_[f"CHAPTER{i:03d}NAME"] = clock(c.start), c.title
            for k, v in tags_.items():
                out.metadata[k] = v
            stream = out.add_stream(spec.codec, rate=spec.rate or sample_rate)
            stream.layout = "mono"
            if spec.bit_rate:
                stream.bit_rate = spec.bit_rate
            cover_packet = _add_cover(out, cover) if cover is not None and spec.cover else None
            if chapters and spec.chapters == "muxer":
                ms = Fraction(1, 1000)
                out.set_chapters([
                    {"id": i + 1, "start": round(c.start * 1000), "end": round(c.end * 1000), "time_base": ms,
                     "metadata": {"title": c.title}}
                    for i, c in enumerate(chapters)
                ])  # fmt: skip
            fmt_name = stream.codec_context.format.name if stream.codec_context.format else "fltp"
            resampler = av.AudioResampler(format=fmt_name, layout="mono", rate=stream.rate)
            if cover_packet is not None:
                out.mux(cover_packet)
            for chunk in chunks:
                if chunk.size == 0:  # FFmpeg refuses empty frames
                    continue
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk, np.float32)[None], format="flt", layout="mono"
                )
                frame.sample_rate = sample_rate
                for f in resampler.resample(frame):
                    out.mux(stream.encode(f))
            for f in resampler.resample(None):
                out.mux(stream.encode(f))
            out.mux(stream.encode(None))

    return atomic_write(path, write)
