"""Exporting a project: the whole book or one chapter as audio (m4b, mp3, opus, flac, wav) or subtitles (srt, vtt).

The timeline is each segment's accepted take followed by the project's pause (sentence, paragraph or chapter).
Audio is normalised to one loudness for the whole book (EBU R128: ``target`` LUFS integrated, true peak at most
``peak_ceiling`` dBTP; where the peak would pass it the gain is lowered instead, and the report says so), so a
chapter exported alone sounds as loud as in the book. It is written by the one encoder, :mod:`tortoise.encode`
(chapters, tags and the cover where the format has room), at bit rates for speech (``BOOK_FORMATS``: 64 kb/s AAC
and mp3, 32 kb/s Opus, which runs at the takes' 24 kHz). Subtitles (:mod:`tortoise.project.subtitles`) have one
cue per segment, or word-timed cues where every take has word timings; both read the same timeline, so they match
the audio. Takes are read one at a time and encoded as they come: memory does not grow with the book.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import OUTPUT_SAMPLE_RATE
from ..audio_io import read_audio, resample_hq
from ..encode import ChapterMark, write_chunks
from ..errors import InvalidInputError
from ..redaction import spoken_text
from .loudness import LoudnessMeter, normalising_gain
from .store import ProjectFolder
from .subtitles import Cue, place, write_subtitles

BOOK_FORMATS = {"m4b": 64_000, "mp3": 64_000, "opus": 32_000, "flac": None, "wav": None}  # speech bit rates
SUBTITLES = ("srt", "vtt")
EXPORT_FORMATS = (*BOOK_FORMATS, *SUBTITLES)
SAMPLE_RATE = OUTPUT_SAMPLE_RATE  # what the pipeline makes and the takes hold


@dataclass
class ExportReport:
    path: Path
    seconds: float
    cues: list[Cue] = field(default_factory=list)
    chapters: list[ChapterMark] = field(default_factory=list)
    loudness: float | None = None  # integrated LUFS of the book before the gain
    gain_db: float = 0.0
    peak_limited: bool = False  # the gain was lowered to keep the true peak under the ceiling


def _chapters(folder: ProjectFolder, chapter: int | None) -> list[int]:
    n = len(folder.project.chapters)
    if chapter is not None and not 0 <= chapter < n:
        raise InvalidInputError(f"chapter index {chapter}: this project has chapters 0 to {n - 1}")
    return list(range(n)) if chapter is None else [chapter]


def _missing(folder: ProjectFolder, chapters: list[int]) -> None:
    missing = [s for c in chapters for s in folder.project.chapters[c].segments if s.accepted is None]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} segment(s) have no audio yet (first: {missing[0].id}, {missing[0].text[:40]!r}); "
            "render the project first (`tortoise-tts project render DIR`)"
        )


@dataclass(frozen=True)
class Placed:
    """A segment's place in the export: its take, cue, chapter index, and the samples of audio and pause after it;
    the take's text and word timings (None where its check has none)."""

    file: Path
    cue: Cue
    chapter: int
    samples: int
    pause: int
    text: str
    words: list | None


def layout(folder: ProjectFolder, chapters: list[int], *, rendered_only: bool = False) -> list[Placed]:
    """Where every segment goes, from the takes' lengths (file headers, nothing decoded) and the pauses."""
    import soundfile as sf

    pauses, placed, t = folder.project.defaults.pauses, [], 0
    for c in chapters:
        segments = folder.project.chapters[c].segments
        for i, segment in enumerate(segments):
            if segment.accepted is None and rendered_only:
                continue
            file = folder.resolve(segment.accepted.file)
            info = sf.info(str(file))
            samples = round(info.frames * SAMPLE_RATE / info.samplerate)
            last = i == len(segments) - 1
            pause = pauses.chapter if last else pauses.paragraph if segment.paragraph_end else pauses.sentence
            pause = 0 if last and c == chapters[-1] else round(pause * SAMPLE_RATE)  # nothing after the end
            cue = Cue(spoken_text(segment.accepted.text), t / SAMPLE_RATE, (t + samples) / SAMPLE_RATE)  # what it says
            words = segment.accepted.checks.get("words")
            placed.append(Placed(file, cue, c, samples, pause, segment.accepted.text, words))
            t += samples + pause
    return placed


def timeline(placed: list[Placed]) -> Iterator[np.ndarray]:
    """The audio of each placed segment (24 kHz, exactly its planned length), then its pause."""
    for p in placed:
        data, rate = read_audio(p.file)
        audio = resample_hq(data.mean(axis=0), rate, SAMPLE_RATE)[: p.samples]
        yield np.pad(audio, (0, p.samples - audio.size))
        yield np.zeros(p.pause, np.float32)


def chapter_marks(folder: ProjectFolder, placed: list[Placed]) -> list[ChapterMark]:
    """One mark per chapter, from its first segment to the next chapter's (the last one to the end)."""
    starts: dict[int, float] = {}
    for p in placed:
        starts.setdefault(p.chapter, p.cue.start)
    total = placed[-1].cue.end if placed else 0.0
    ordered = [(folder.project.chapters[c].name(c), t) for c, t in starts.items()]
    return [ChapterMark(n, t, ordered[k + 1][1] if k + 1 < len(ordered) else total) for k, (n, t) in enumerate(ordered)]


def measure_book(folder: ProjectFolder) -> LoudnessMeter:
    """The whole book's loudness (so one chapter alone gets the book's gain), over the segments that have audio."""
    meter = LoudnessMeter(SAMPLE_RATE)
    for audio in timeline(layout(folder, _chapters(folder, None), rendered_only=True)):
        meter.add(audio)
    return meter


def export(
    folder: ProjectFolder,
    path: str | os.PathLike,
    fmt: str,
    *,
    chapter: int | None = None,
    target: float = -18.0,
    peak_ceiling: float = -1.0,
    words: bool = False,
) -> ExportReport:
    """Write the book (or chapter index ``chapter``) to ``path`` as ``fmt`` (one of ``EXPORT_FORMATS``).

    ``words``: subtitles with one cue per word (every take needs word timings).

    Raises ``InvalidInputError`` for an unknown format or chapter, when a segment has no accepted take, or when
    ``words`` is asked of takes without word timings.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"cannot export {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    if words and fmt not in SUBTITLES:
        raise InvalidInputError(f"one cue per word is for subtitles ({', '.join(SUBTITLES)}), not {fmt}")
    chapters = _chapters(folder, chapter)
    _missing(folder, chapters)
    path, placed = Path(path), layout(folder, chapters)
    cues, marks = [p.cue for p in placed], chapter_marks(folder, placed)
    total = sum(p.samples + p.pause for p in placed) / SAMPLE_RATE
    report = ExportReport(path, total, cues, marks)
    if fmt in SUBTITLES:
        untimed = [p for p in placed if p.words is None]
        if words and untimed:
            raise InvalidInputError(
                f"{len(untimed)} of {len(placed)} segments have no word timings (first: {untimed[0].cue.text[:40]!r}): "
                "they are measured when takes are checked with the wav2vec2 recogniser: run `tortoise-tts project "
                "check DIR` to check the takes made (nothing is rendered again), or export without one cue per word"
            )
        timed = [place(p.cue, p.text, None if untimed else p.words) for p in placed]
        write_subtitles(timed, path, fmt, per_word=words)
        return report
    meter = measure_book(folder)
    report.loudness = meter.integrated
    report.gain_db = normalising_gain(meter.integrated, meter.true_peak, target=target, peak_ceiling=peak_ceiling)
    report.peak_limited = report.gain_db < target - meter.integrated - 1e-9
    scale = np.float32(10 ** (report.gain_db / 20))
    p = folder.project
    tags = {"title": p.title, "artist": p.author, "album_artist": p.author, "album": p.title, "genre": "Audiobook"}
    if chapter is not None:
        tags |= {"title": p.chapters[chapter].name(chapter), "track": str(chapter + 1)}
    cover = folder.resolve(p.cover) if p.cover and folder.resolve(p.cover).is_file() else None
    chunks = (audio * scale for audio in timeline(placed))
    tags = {k: v for k, v in tags.items() if v}
    write_chunks(path, chunks, fmt, sample_rate=SAMPLE_RATE, tags=tags, bit_rate=BOOK_FORMATS[fmt], chapters=marks,
                 cover=cover)  # fmt: skip
    return report
