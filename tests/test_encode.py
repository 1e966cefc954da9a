"""Output formats (tortoise/encode.py) and speaking rate (tortoise/speed.py), checked by decoding with PyAV."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tortoise.encode import (
    FORMATS,
    ChapterMark,
    StreamEncoder,
    codec_rate,
    encode,
    format_for_path,
    get_format,
    wav_header,
    write_chunks,
    write_file,
)
from tortoise.errors import InvalidInputError
from tortoise.speed import change_speed, check_speed

RATE = 24000
TAGS = {"title": "Hello there.", "artist": "train_grace", "comment": {"seed": 7, "preset": "fast"}}
DECODED_RATE = {"opus": 48000}  # Opus always decodes at 48 kHz (OpenAI's opus does too)
PADDING = {
    "aac": 0.09,
    "m4a": 0.09,
    "m4b": 0.09,
    "mp3": 0.06,
}  # encoder priming + last-frame fill the decoder keeps (s)


def tone(seconds: float, f0: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def decode(data: bytes, fmt: str) -> tuple[int, int, float, dict]:
    """(rate, channels, seconds, tags) of encoded bytes; pcm is raw s16le at 24 kHz."""
    if fmt == "pcm":
        return RATE, 1, len(data) / 2 / RATE, {}
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        n = sum(frame.samples for frame in container.decode(stream))
        tags = {**container.metadata, **stream.metadata}
        codec = stream.codec_context
        return codec.sample_rate, codec.channels, n / codec.sample_rate, tags


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_decodes_to_the_same_length_with_its_tags(fmt):
    rate, channels, seconds, tags = decode(encode(tone(1.5), fmt, tags=TAGS), fmt)
    assert (rate, channels) == (DECODED_RATE.get(fmt, RATE), 1)
    assert 1.5 <= seconds <= 1.5 + PADDING.get(fmt, 0.0) + 1e-6
    if FORMATS[fmt].tags:
        assert tags["title"] == "Hello there." and tags["artist"] == "train_grace"
        assert tags["comment"] == '{"seed": 7, "preset": "fast"}'


def test_pcm_is_raw_little_endian_16_bit():
    data = encode(np.array([0.0, 0.5, -1.0, 2.0], np.float32), "pcm")
    assert np.frombuffer(data, "<i2").tolist() == [0, 16384, -32767, 32767]  # clipped, not wrapped


@pytest.mark.parametrize("fmt", [f for f, spec in FORMATS.items() if spec.streams])
def test_streamed_chunks_make_one_decodable_file_and_bytes_leave_early(fmt):
    x = tone(2.0)
    encoder = StreamEncoder(fmt, tags=TAGS)
    parts = [encoder.push(x[i : i + 12000]) for i in range(0, x.size, 12000)]
    assert sum(map(len, parts[:2])) > 0  # bytes before the end
    parts.append(encoder.finish())
    rate, channels, seconds, _ = decode(b"".join(parts), fmt)
    assert (rate, channels) == (DECODED_RATE.get(fmt, RATE), 1)
    assert 2.0 <= seconds <= 2.0 + PADDING.get(fmt, 0.0) + 0.01  # a streamed mp3 has no Xing header to trim with


def test_streamed_wav_says_unknown_length_and_an_empty_one_is_valid():
    header = wav_header(RATE)
    assert header[:4] == b"RIFF" and header[4:8] == b"\xff\xff\xff\xff" and header[40:44] == b"\xff\xff\xff\xff"
    assert StreamEncoder("wav").push(np.zeros(10, np.float32))[:44] == header
    empty = StreamEncoder("wav").finish()
    assert len(empty) == 44 and empty[40:44] == b"\0\0\0\0"


def test_m4a_does_not_stream_and_unknown_formats_are_refused():
    with pytest.raises(InvalidInputError, match="cannot be streamed"):
        StreamEncoder("m4a")
    with pytest.raises(InvalidInputError, match="mp3, opus, aac"):
        get_format("ogg-vorbis")


def test_write_file_picks_the_format_from_the_extension_atomically(tmp_path):
    assert format_for_path("a.OGG").name == "opus" and format_for_path("a.txt") is None
    path = write_file(tmp_path / "out.flac", tone(0.5), tags={"title": "t"})
    assert decode(path.read_bytes(), "flac")[2] == pytest.approx(0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["out.flac"]  # no temporary file left
    with pytest.raises(InvalidInputError, match="cannot tell the format"):
        write_file(tmp_path / "out.xyz", tone(0.1))


CHAPTERS = [ChapterMark("One", 0.0, 1.5), ChapterMark("Two", 1.5, 2.7), ChapterMark("Three", 2.7, 3.0)]


@pytest.fixture
def cover(tmp_path):
    from PIL import Image

    Image.new("RGB", (16, 12), (20, 120, 220)).save(tmp_path / "cover.png")
    return tmp_path / "cover.png"


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
def test_chunks_make_one_file_with_chapters_and_cover_where_the_format_has_room(tmp_path, cover, fmt):
    chunks = [tone(1.0), np.zeros(0, np.float32), tone(1.25), tone(0.75)]  # an empty chunk is skipped
    path = write_chunks(tmp_path / f"book.{fmt}", iter(chunks), tags={"title": "Book"}, chapters=CHAPTERS, cover=cover)
    _, _, seconds, tags = decode(path.read_bytes(), fmt)
    assert 3.0 <= seconds <= 3.0 + PADDING.get(fmt, 0.0) + 1e-6
    assert tags.get("title") == ("Book" if FORMATS[fmt].tags else None)
    with av.open(str(path)) as f:
        chapters = [(c["metadata"]["title"], float(c["start"] * c["time_base"])) for c in f.chapters()]
        pictures = [s for s in f.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        picture = next(f.decode(pictures[0])) if pictures else None
    if FORMATS[fmt].chapters:  # 1.5 and 2.7 s: where FFmpeg's own Vorbis comments would say 2.5 and 3.7
        assert chapters == [("One", 0.0), ("Two", pytest.approx(1.5)), ("Three", pytest.approx(2.7))]
    else:
        assert chapters == []
    assert bool(pictures) == FORMATS[fmt].cover
    if picture is not None:
        assert (picture.width, picture.height) == (16, 12)
    assert [p.name for p in tmp_path.iterdir()] == sorted(["cover.png", path.name]) or len(
        list(tmp_path.iterdir())
    ) == 2


def test_bit_rate_per_call_and_rates_the_codec_cannot_take():
    low, high = encode(tone(3.0), "mp3", bit_rate=32_000), encode(tone(3.0), "mp3")
    assert len(low) < len(high) / 3
    assert codec_rate("libopus", 24000) == 24000 and codec_rate("libopus", 22050) == 24000
    assert codec_rate("libopus", 96000) == 48000 and codec_rate("flac", 22050) == 22050
    x = tone(1.0)[:22050]  # 1 s at 22.05 kHz: resampled for libopus, still 1 s
    rate, _, seconds, _ = decode(encode(x, "opus", sample_rate=22050), "opus")
    assert rate == 48000 and seconds == pytest.approx(1.0, abs=0.01)


def test_a_failing_chunk_source_leaves_no_file(tmp_path):
    def chunks():
        yield tone(0.5)
        raise RuntimeError("the disk with the takes went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_chunks(tmp_path / "book.m4b", chunks())
    assert list(tmp_path.iterdir()) == []


def dominant_frequency(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n=1 << 18))
    i = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / (1 << 18)


@pytest.mark.parametrize("speed", [0.5, 2.0, 4.0])
def test_speed_scales_the_duration_and_keeps_the_pitch(speed):
    x = tone(2.0, f0=200.0)
    y = change_speed(x, speed)
    assert y.size / (x.size / speed) == pytest.approx(1.0, abs=0.02)
    middle = y[y.size // 10 : -y.size // 10]
    assert dominant_frequency(middle) == pytest.approx(200.0, rel=0.01)


def test_speed_one_is_the_identity_and_the_range_is_openais():
    x = tone(0.2)
    assert change_speed(x, 1.0) is not None and np.array_equal(change_speed(x, 1), x)
    for bad in (0.2, 4.5, True, "fast"):
        with pytest.raises(InvalidInputError, match=r"0\.25 \.\. 4\.0"):
            check_speed(bad)
