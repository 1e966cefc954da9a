"""An export's subtitles: SRT and WebVTT on the export's timeline, per segment, or per word where takes were aligned.

A checked take (the wav2vec2 checks, :mod:`tortoise.project.checks`) records when each word of its normalised text
is spoken; subtitles show the words as written instead (``$3`` rather than "three dollars", punctuation kept,
[redacted] parts left out), each timed by the normalised words it became. When every exported take has word timings
(decided here, for what subtitle and audiobook players do with them):

* WebVTT keeps one cue per segment, with an inline timestamp before each word after the first
  (``Hello <00:00:01.250>there.``): players that highlight words (karaoke style, ``::cue(:past)``) use them, the
  others show the plain cue.
* SRT has no inline timing, so its cues are short phrases of one line (``LINE_CHARS``): the words are cut into
  clauses (at ``. ! ? ; :``, and at a comma once half a line long), and a clause longer than a line into cues of
  about equal length; a cue runs from its first word's start to its last word's end and never spans two segments.
* ``per_word`` (``tortoise-tts project export --words``) gives one cue per word in either format, for tools that
  work on words.

Without word timings for every take (checks off, or a project older than them) both formats have one cue per
segment, from the start to the end of its take, as before.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..audio_io import atomic_write
from ..encode import clock
from ..errors import InvalidInputError
from ..redaction import spoken_text
from .checks import Word, normalise

LINE_CHARS = 42  # characters of one subtitle line (the usual broadcast and streaming limit)
CLAUSE_ENDS = (".", "!", "?", ";", ":", "…")


@dataclass(frozen=True)
class Cue:
    text: str
    start: float  # seconds from the start of the export
    end: float


@dataclass(frozen=True)
class TimedSegment:
    """A segment on the export's timeline: its cue, and its words as written on that timeline (None: not aligned)."""

    cue: Cue
    words: list[Word] | None


def written_words(text: str, words: Sequence[Word]) -> list[Word]:
    """The words of ``text`` as written (spoken pieces only), each timed by the normalised ``words`` it became.

    A written word that says nothing (a dash alone) joins its neighbour. Where the words of the whole text do not
    match those of its written words normalised one by one (a cleaner rule that spans words), the written words are
    spread over the spoken time by their length instead.
    """
    written = spoken_text(text).split()
    became = [normalise(w).split() for w in written]
    if not words:
        return []
    if [n for b in became for n in b] != [w.text for w in words]:
        return _spread(written, words[0].start, words[-1].end)
    out, k, pending = [], 0, ""
    for w, b in zip(written, became):
        if not b:
            if out:
                out[-1] = out[-1]._replace(text=f"{out[-1].text} {w}")
            else:
                pending += f"{w} "
            continue
        out.append(Word(pending + w, words[k].start, words[k + len(b) - 1].end))
        pending, k = "", k + len(b)
    return out


def _spread(written: list[str], start: float, end: float) -> list[Word]:
    weights = [len(w) + 1 for w in written]
    total, out, at = sum(weights), [], 0
    for w, n in zip(written, weights):
        a, at = at, at + n
        out.append(Word(w, start + (end - start) * a / total, start + (end - start) * at / total))
    return out


def place(cue: Cue, text: str, words: Sequence | None) -> TimedSegment:
    """A segment whose take says ``text`` at ``cue``, with the take's ``words`` (from its check) on the timeline."""
    if words is None:
        return TimedSegment(cue, None)
    timed = written_words(text, [Word(*w) for w in words])

    def at(t: float) -> float:
        return min(cue.start + t, cue.end)

    return TimedSegment(cue, [Word(w.text, at(w.start), at(w.end)) for w in timed])


def _text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def clauses(words: list[Word]) -> list[list[Word]]:
    """The words in runs that end at a sentence or clause end, or at a comma once the run holds half a line."""
    out, run = [], []
    for w in words:
        run.append(w)
        if w.text.endswith(CLAUSE_ENDS) or (w.text.endswith(",") and len(_text(run)) >= LINE_CHARS // 2):
            out.append(run)
            run = []
    return [*out, run] if run else out


def phrases(words: list[Word]) -> list[Cue]:
    """Short cues of consecutive words: each clause, cut into cues of about equal length where it is longer than a
    line (no one-word orphan at the end), each from its first word's start to its last word's end."""
    cues = []
    for clause in clauses(words):
        target = len(_text(clause)) / -(-len(_text(clause)) // LINE_CHARS)  # the length of n equal lines
        group = []
        for k, w in enumerate(clause):
            group.append(w)
            length, following = len(_text(group)), clause[k + 1].text if k + 1 < len(clause) else None
            if following is None or length >= target or length + 1 + len(following) > LINE_CHARS:
                cues.append(Cue(_text(group), group[0].start, group[-1].end))
                group = []
    return cues


def srt_cues(segments: list[TimedSegment], *, per_word: bool = False) -> list[Cue]:
    out = []
    for s in segments:
        if not s.words:
            out.append(s.cue)
        elif per_word:
            out += [Cue(w.text, w.start, w.end) for w in s.words]
        else:
            out += phrases(s.words)
    return out


def vtt_text(segment: TimedSegment) -> str:
    """The cue's text, with ``<HH:MM:SS.mmm>`` before each word after the first (strictly inside the cue, rising)."""
    if not segment.words:
        return html.escape(segment.cue.text, quote=False)
    ms = lambda t: round(t * 1000)  # noqa: E731  (the precision of a timestamp)
    parts, last = [], ms(segment.cue.start)
    for k, w in enumerate(segment.words):
        if k and last < ms(w.start) < ms(segment.cue.end):
            parts.append(f"<{clock(w.start)}>")
            last = ms(w.start)
        parts.append(html.escape(w.text, quote=False))
    return " ".join(parts).replace("> ", ">")


def write_subtitles(segments: list[TimedSegment], path: Path, fmt: str, *, per_word: bool = False) -> Path:
    """SRT (the ``srt`` library) or WebVTT (``webvtt-py``) of the segments, atomically."""
    try:
        import srt
        import webvtt
    except ImportError as e:
        raise InvalidInputError(f"subtitles need {e.name}: pip install 'tortoise-tts-oneapi[project]'") from e
    if fmt == "srt":
        seconds = lambda t: datetime.timedelta(seconds=t)  # noqa: E731
        cues = srt_cues(segments, per_word=per_word)
        text = srt.compose([srt.Subtitle(i + 1, seconds(c.start), seconds(c.end), c.text) for i, c in enumerate(cues)])
    elif per_word:
        cues = srt_cues(segments, per_word=True)
        captions = [webvtt.Caption(clock(c.start), clock(c.end), html.escape(c.text, quote=False)) for c in cues]
        text = webvtt.WebVTT(captions=captions).content
    else:
        captions = [webvtt.Caption(clock(s.cue.start), clock(s.cue.end), vtt_text(s)) for s in segments]
        text = webvtt.WebVTT(captions=captions).content
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
