"""Long-form projects, word timings and subtitles: takes checked with a tiny random wav2vec2 get word timings, and
the srt/vtt exports (parsed back with the ``srt`` and ``webvtt-py`` libraries) place them on the export's timeline."""

from __future__ import annotations

import html
import itertools
import json
import re

import numpy as np
import pytest
import torch

from tests.tiny_wav2vec import tiny_aligner
from tortoise.audio_io import save_audio
from tortoise.errors import InvalidInputError
from tortoise.project import ProjectFolder, Take, new_project, render
from tortoise.project.checks import CTCTranscriber, Word, check_take, normalise
from tortoise.project.export import export
from tortoise.project.model import CheckSettings
from tortoise.project.subtitles import LINE_CHARS, Cue, TimedSegment, vtt_text, written_words
from tortoise.redaction import split_redacted

SR = 24000
TEXT = (
    "Chapter 1\n\nHe paid $3 — [quietly] for two apples, and then he left the little shop by the river.\n\n"
    "Chapter 2\n\nIt rained. The end."
)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.1 * rng.standard_normal(t.size) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2).astype(np.float32)


def spoken(text: str) -> str:
    return " ".join(" ".join(p for p, redacted in split_redacted(text) if not redacted).split())


def test_normalise_keeps_the_spoken_pieces_of_split_redacted():
    assert normalise("He paid [quietly] $3.") == "he paid three dollars"
    assert normalise("Tone[sad]less [] end") == "tone less end"  # a piece boundary is a word boundary
    text = "One [two] three [four five] six."
    assert normalise(text) == normalise(spoken(text)) == "one three six"
    with pytest.raises(InvalidInputError, match="unmatched"):
        normalise("a ] b")
    with pytest.raises(InvalidInputError, match="unclosed"):
        normalise("a [b")


def check_words(words: list[Word], text: str, seconds: float) -> None:
    """Monotonic, inside the take, one per word of the normalised text."""
    assert [w.text for w in words] == normalise(text).split()
    for w in words:
        assert 0.0 <= w.start <= w.end <= seconds
    for a, b in itertools.pairwise(words):
        assert a.end <= b.start


def test_a_check_with_the_aligner_times_every_word():
    aligner = tiny_aligner()
    audio, text = speech_like(2.5, 0), "He paid $3 [quietly] for two apples."
    check = check_take(audio, SR, text, CheckSettings(), CTCTranscriber(aligner))
    check_words(check.words, text, 2.5)
    assert check.transcript == normalise(CTCTranscriber(aligner).transcribe(torch.as_tensor(audio), SR))
    saved = json.loads(json.dumps(check.to_dict()))  # as project.json keeps it
    assert [Word(*w) for w in saved["words"]] == check.words
    assert check_take(audio, SR, text, CheckSettings()).words is None  # no transcriber, no timings


def test_render_with_the_aligner_stores_the_word_timings(tts_factory, tmp_path):
    folder = new_project(tmp_path / "p", text="Hello there. How are you?", voice="train_grace", preset="ultra_fast",
                         options={"num_autoregressive_samples": 2, "diffusion_steps": 2, "max_mel_tokens": 24}, seed=1,
                         desired_length=10, max_length=40)  # fmt: skip
    folder.project.defaults.checks = CheckSettings(enabled=True, max_cer=1e9, min_rate=0, max_rate=1e9,
                                                   max_silence=1e9, cut_off=False, max_takes=1)  # fmt: skip
    render(folder, tts_factory(), transcriber=CTCTranscriber(tiny_aligner()))
    for _, _, s in ProjectFolder.open(folder.path).project.segments():
        check_words([Word(*w) for w in s.accepted.checks["words"]], s.text, s.accepted.seconds)


@pytest.fixture
def book(tmp_path):
    """Every segment has a take of noise shaped like speech, checked with the tiny aligner (word timings saved)."""
    folder = new_project(tmp_path / "book", text=TEXT, desired_length=2, max_length=200)
    transcriber = CTCTranscriber(tiny_aligner())
    for k, (_, _, s) in enumerate(folder.project.segments()):
        seconds = 0.8 + 0.15 * len(s.text.split())
        path = folder.take_path(s.id, 1)
        audio = speech_like(seconds, k)
        save_audio(path, audio, SR)
        check = check_take(audio, SR, s.text, folder.project.defaults.checks, transcriber)
        s.takes = [Take(path.relative_to(folder.path).as_posix(), k, s.text, seconds, check.to_dict())]
        s.take, s.status = 0, "done"
    folder.save()
    return ProjectFolder.open(folder.path)  # the timings as read back from project.json


def words_on_timeline(folder, report) -> list[list[tuple[str, float, float]]]:
    """Each segment's written words with their timings moved to the export's timeline."""
    out = []
    for (_, _, s), cue in zip(folder.project.segments(), report.cues):
        timed = written_words(s.accepted.text, [Word(*w) for w in s.accepted.checks["words"]])
        out.append([(w.text, cue.start + w.start, min(cue.start + w.end, cue.end)) for w in timed])
    return out


def seconds(stamp: str) -> float:
    return sum(float(x) * 60**i for i, x in enumerate(reversed(stamp.split(":"))))


def test_written_words_keep_the_text_as_written():
    words = [Word(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(["he", "paid", "three", "dollars", "for", "it"])]
    timed = written_words("He paid $3 — [quietly] for it.", words)
    assert [w.text for w in timed] == ["He", "paid", "$3 —", "for", "it."]
    assert timed[2] == Word("$3 —", 1.0, 1.9)  # "three dollars": from the first's start to the second's end
    spread = written_words("Completely different", [Word("xyz", 1.0, 3.0)])  # no match: spread by length
    assert [w.text for w in spread] == ["Completely", "different"] and spread[0].start == 1.0 and spread[1].end == 3.0
    cue = TimedSegment(Cue("Tom & <Jerry>", 10.0, 12.0), [Word("Tom", 10.1, 10.4), Word("&", 10.5, 10.6)])
    assert vtt_text(cue) == "Tom <00:00:10.500>&amp;"  # WebVTT escapes & and <
    assert vtt_text(TimedSegment(cue.cue, None)) == "Tom &amp; &lt;Jerry&gt;"


def test_vtt_has_one_cue_per_segment_with_inline_word_times(book, tmp_path):
    webvtt = pytest.importorskip("webvtt")
    report = export(book, tmp_path / "book.vtt", "vtt")
    captions = webvtt.read(str(tmp_path / "book.vtt")).captions
    assert [html.unescape(c.text) for c in captions] == [spoken(s.text) for _, _, s in book.project.segments()]
    assert [seconds(c.start) for c in captions] == pytest.approx([c.start for c in report.cues], abs=1e-3)
    for caption, words in zip(captions, words_on_timeline(book, report)):
        start, end = seconds(caption.start), seconds(caption.end)
        expected, last = [], start  # WebVTT: a timestamp is inside its cue and later than the one before
        for _, t, _ in words[1:]:
            if round(last, 3) < round(t, 3) < round(end, 3):
                expected.append(t)
                last = t
        stamps = [seconds(s) for s in re.findall(r"<([\d:.]+)>", caption.raw_text)]
        assert stamps == pytest.approx(expected, abs=1e-3)
    assert any(re.search(r"<[\d:.]+>", c.raw_text) for c in captions)


def test_srt_has_short_phrases_on_the_words_timings(book, tmp_path):
    srt = pytest.importorskip("srt")
    report = export(book, tmp_path / "book.srt", "srt")
    subs = list(srt.parse((tmp_path / "book.srt").read_text()))
    assert all(len(s.content) <= LINE_CHARS for s in subs) and len(subs) > len(report.cues)
    assert " ".join(s.content for s in subs) == " ".join(spoken(s.text) for _, _, s in book.project.segments())
    words = [w for ws in words_on_timeline(book, report) for w in ws]
    k = 0
    for sub in subs:  # each cue: its words, from the first's start to the last's end
        group = []
        while " ".join(w[0] for w in group) != sub.content:
            group.append(words[k + len(group)])
        assert sub.start.total_seconds() == pytest.approx(group[0][1], abs=1e-3)
        assert sub.end.total_seconds() == pytest.approx(group[-1][2], abs=1e-3)
        k += len(group)
    assert k == len(words)
    starts = [s.start.total_seconds() for s in subs]
    assert starts == sorted(starts)
    contents = [s.content for s in subs]
    assert "He paid $3 — for two apples," in contents  # a clause ends at a comma past half a line
    assert "shop by the river." in contents  # a clause longer than a line: two cues of about equal length


def test_one_cue_per_word_and_takes_without_timings(book, tmp_path):
    srt = pytest.importorskip("srt")
    webvtt = pytest.importorskip("webvtt")
    report = export(book, tmp_path / "words.srt", "srt", words=True)
    words = [w for ws in words_on_timeline(book, report) for w in ws]
    subs = list(srt.parse((tmp_path / "words.srt").read_text()))
    assert [(s.content, s.start.total_seconds(), s.end.total_seconds()) for s in subs] == [
        (w, pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3)) for w, a, b in words
    ]
    export(book, tmp_path / "words.vtt", "vtt", words=True)
    assert [c.text for c in webvtt.read(str(tmp_path / "words.vtt")).captions] == [w[0] for w in words]

    old = book.project.chapters[1].segments[0].accepted  # a take from before word timings (or checks off)
    del old.checks["words"]
    report = export(book, tmp_path / "mixed.srt", "srt")
    subs = list(srt.parse((tmp_path / "mixed.srt").read_text()))
    # one cue per segment, what its take says: [redacted] words left out
    assert [s.content for s in subs] == [spoken(s.text) for _, _, s in book.project.segments()]
    quiet = next(k for k, (_, _, s) in enumerate(book.project.segments()) if "[quietly]" in s.text)
    assert "quietly" not in subs[quiet].content and subs[quiet].content.startswith("He paid $3")
    edited = book.project.chapters[1].segments[-1]
    edited.text, edited.status = "Something else entirely.", "edited"  # not rendered again yet: its take says the old
    export(book, tmp_path / "edited.srt", "srt")
    assert list(srt.parse((tmp_path / "edited.srt").read_text()))[-1].content == spoken(edited.accepted.text)
    assert [s.start.total_seconds() for s in subs] == pytest.approx([c.start for c in report.cues], abs=1e-3)
    with pytest.raises(InvalidInputError, match="1 of 5 segments have no word timings"):
        export(book, tmp_path / "words.srt", "srt", words=True)
    with pytest.raises(InvalidInputError, match="for subtitles"):
        export(book, tmp_path / "book.mp3", "mp3", words=True)


def test_cli_exports_one_cue_per_word(book, tmp_path, capsys):
    srt = pytest.importorskip("srt")
    from tortoise.cli import main

    out = tmp_path / "words.srt"
    assert main(["project", "export", str(book.path), "--format", "srt", "--words", "-o", str(out)]) == 0
    written = sum(len(spoken(s.text).split()) for _, _, s in book.project.segments()) - 1  # "$3 —" is one
    assert len(list(srt.parse(out.read_text()))) == written
    assert main(["project", "export", str(book.path), "--format", "wav", "--words", "-o", str(tmp_path / "x.wav")]) == 1
    assert "for subtitles" in capsys.readouterr().err
