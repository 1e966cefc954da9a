"""Long-form projects, exports: checked with independent readers (PyAV for durations, tags, chapters and covers;
pyloudnorm for loudness; the srt and webvtt-py libraries for subtitles)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from tortoise.audio_io import save_audio
from tortoise.errors import InvalidInputError
from tortoise.project import Take, new_project
from tortoise.project.export import export
from tortoise.project.loudness import LoudnessMeter

SR = 24000
TEXT = "Chapter 1\n\nOne. Two.\n\nThree.\n\nChapter 2\n\nFour. Five."


def speech_like(seconds: float, seed: int, level: float = 0.1) -> np.ndarray:
    """Noise shaped like syllables (4 per second) with a few loud clicks, so the true peak matters."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    wav = level * rng.standard_normal(t.size) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    return wav.astype(np.float32)


@pytest.fixture
def book(tmp_path):
    """A project whose every segment has a take (synthetic audio: exports need no model)."""
    from PIL import Image

    folder = new_project(tmp_path / "book", text=TEXT, desired_length=2, max_length=20)
    folder.project.title, folder.project.author, folder.project.cover = "Tiny Tales", "Ann Author", "cover.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buf, "JPEG")
    (folder.path / "cover.jpg").write_bytes(buf.getvalue())
    for k, (_, _, s) in enumerate(folder.project.segments()):
        path = folder.take_path(s.id, 1)
        save_audio(path, speech_like(0.6 + 0.1 * k, k), SR)
        take = Take(path.relative_to(folder.path).as_posix(), k, s.text, 0.6 + 0.1 * k)
        s.takes, s.take, s.status = [take], 0, "done"
    folder.save()
    return folder


def expected_seconds(folder, chapters=(0, 1)) -> float:
    """Speech plus pauses: after each segment inside a chapter, and between chapters (none after the end)."""
    p = folder.project.defaults.pauses
    total = p.chapter * (len(chapters) - 1)
    for c in chapters:
        segments = folder.project.chapters[c].segments
        total += sum(s.accepted.seconds for s in segments)
        total += sum(p.paragraph if s.paragraph_end else p.sentence for s in segments[:-1])
    return total


def test_streaming_meter_matches_pyloudnorm():
    pyloudnorm = pytest.importorskip("pyloudnorm")
    wav = np.concatenate([speech_like(3.0, 1), np.zeros(SR, np.float32), speech_like(4.0, 2, level=0.3)])
    meter = LoudnessMeter(SR)
    for chunk in np.array_split(wav, [5000, 5001, 33333, 100000]):  # odd chunk sizes, one of one sample
        meter.add(chunk)
    assert meter.integrated == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(wav.astype(np.float64)), abs=0.05)
    assert meter.true_peak >= 20 * np.log10(np.abs(wav).max()) - 1e-5


@pytest.mark.parametrize("fmt", ["m4b", "mp3", "opus", "flac", "wav"])
def test_audio_exports_read_back_with_pyav(book, tmp_path, fmt):
    av = pytest.importorskip("av")
    out = tmp_path / f"book.{fmt}"
    report = export(book, out, fmt)
    assert report.seconds == pytest.approx(expected_seconds(book), abs=1e-3)
    with av.open(str(out)) as f:
        tags = {**f.metadata, **f.streams.audio[0].metadata}
        assert f.duration / 1e6 == pytest.approx(report.seconds, abs=0.08)  # codec padding, at most a few frames
        assert {k.lower(): v for k, v in tags.items()}.get("title") == "Tiny Tales"
        chapters = f.chapters()
        covers = [s for s in f.streams if s.type == "video" and s.disposition & av.stream.Disposition.attached_pic]
        brand = f.metadata.get("major_brand")
        bit_rate = f.streams.audio[0].bit_rate
    if fmt in ("m4b", "mp3", "opus", "flac"):
        assert [c["metadata"]["title"] for c in chapters] == ["Chapter 1", "Chapter 2"]
        starts = [float(c["start"] * c["time_base"]) for c in chapters]
        assert starts == pytest.approx([m.start for m in report.chapters], abs=0.01)
        first = len(book.project.chapters[0].segments)
        assert starts[1] == pytest.approx(report.cues[first].start, abs=0.01)  # chapter 2: at its first segment
    assert bool(covers) == (fmt in ("m4b", "mp3", "flac"))
    if fmt == "m4b":
        assert brand == "M4B "
    if fmt == "mp3":
        assert bit_rate == 64_000  # an audiobook's bit rate, not the speech API's 128k


def test_loudness_is_normalised_for_the_whole_book(book, tmp_path):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    report = export(book, tmp_path / "book.flac", "flac")
    audio, rate = sf.read(str(tmp_path / "book.flac"), dtype="float64")
    true_peak = 20 * np.log10(np.abs(__import__("soxr").resample(audio, rate, 4 * rate)).max())
    assert true_peak <= -1.0 + 0.1
    loudness = pyloudnorm.Meter(rate).integrated_loudness(audio)
    if report.peak_limited:  # lowered to keep the peak: quieter than the target, never louder
        assert loudness < -18.0
    else:
        assert loudness == pytest.approx(-18.0, abs=0.3)
    chapter = export(book, tmp_path / "ch2.wav", "wav", chapter=1)
    assert chapter.gain_db == pytest.approx(report.gain_db)  # the book's gain, not the chapter's own
    assert chapter.seconds == pytest.approx(expected_seconds(book, (1,)))


def test_quiet_book_reaches_the_target(tmp_path, book):
    for _, _, s in book.project.segments():  # a quiet book without clicks: no peak limit applies
        path = book.resolve(s.accepted.file)
        t = np.arange(int(s.accepted.seconds * SR)) / SR
        save_audio(path, (0.02 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))), SR)
    report = export(book, tmp_path / "quiet.wav", "wav")
    audio, rate = sf.read(str(tmp_path / "quiet.wav"), dtype="float64")
    assert not report.peak_limited and report.gain_db > 10
    assert __import__("pyloudnorm").Meter(rate).integrated_loudness(audio) == pytest.approx(-18.0, abs=0.3)


def test_subtitles_parse_back_with_their_libraries(book, tmp_path):
    srt = pytest.importorskip("srt")
    webvtt = pytest.importorskip("webvtt")
    report = export(book, tmp_path / "book.srt", "srt")
    subs = list(srt.parse((tmp_path / "book.srt").read_text()))
    texts = [s.text for _, _, s in book.project.segments()]
    assert [s.content for s in subs] == texts
    assert [s.start.total_seconds() for s in subs] == pytest.approx([c.start for c in report.cues], abs=1e-3)
    assert [s.end.total_seconds() for s in subs] == pytest.approx([c.end for c in report.cues], abs=1e-3)
    export(book, tmp_path / "book.vtt", "vtt")
    captions = webvtt.read(str(tmp_path / "book.vtt")).captions
    assert [c.text for c in captions] == texts
    seconds = lambda stamp: sum(float(x) * 60**i for i, x in enumerate(reversed(stamp.split(":"))))  # noqa: E731
    assert [seconds(c.start) for c in captions] == pytest.approx([c.start for c in report.cues], abs=1e-3)
    audio = export(book, tmp_path / "book.wav", "wav")
    assert [c.start for c in audio.cues] == [c.start for c in report.cues]  # subtitles match the audio's timeline


def test_export_refuses_unrendered_segments_and_unknown_formats(book, tmp_path):
    segment = book.project.chapters[1].segments[0]
    segment.takes, segment.take = [], None
    with pytest.raises(InvalidInputError, match=r"1 segment.*no audio yet.*project render"):
        export(book, tmp_path / "x.wav", "wav")
    export(book, tmp_path / "ch1.wav", "wav", chapter=0)  # a complete chapter exports (gain of what has audio)
    with pytest.raises(InvalidInputError, match="choose one of"):
        export(book, tmp_path / "x.aiff", "aiff")
