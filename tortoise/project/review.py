"""Checking takes already made: the accepted takes' checks and word timings, without rendering anything again.

For takes rendered with the checks off, before the recogniser was downloaded, or before word timings were stored:
each accepted take is measured and transcribed as a render would (:func:`tortoise.project.checks.check_take`, the
project's thresholds), and the result replaces the take's stored checks, so subtitles get word timings. A segment
whose take fails becomes ``bad`` (``render(which="bad")`` makes it again); a check never marks a segment good, so a
segment marked bad by the user stays bad. Segments edited since their take (status ``edited``) are skipped: their
take is of another text. The project is saved every ``SAVE_EVERY`` seconds and at the end (a crash loses at most
those seconds of checking, which a second run redoes; no audio is touched).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..audio_io import read_audio
from .checks import Transcriber, check_take
from .model import Segment
from .render import ProgressClock, RenderProgress
from .store import ProjectFolder

SAVE_EVERY = 10.0  # seconds between saves while checking


@dataclass
class ReviewSummary:
    checked: list[str] = field(default_factory=list)  # segment ids whose accepted take was checked
    bad: list[str] = field(default_factory=list)  # of those, the ones whose take failed (now marked bad)
    cancelled: bool = False
    seconds: float = 0.0


def reviewable(folder: ProjectFolder, chapter: int | None = None) -> list[Segment]:
    """The segments with an accepted take of their current text (status ``done`` or ``bad``)."""
    return [
        s
        for _, _, s in folder.project.segments(chapter)
        if s.accepted is not None and s.status in ("done", "bad") and s.accepted.text == s.text
    ]


def check_accepted(
    folder: ProjectFolder,
    transcriber: Transcriber,
    *,
    chapter: int | None = None,
    progress: Callable[[RenderProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ReviewSummary:
    """Check the accepted take of every reviewable segment (of chapter index ``chapter``, or the book); see above."""
    settings = replace(folder.project.defaults.checks)  # the thresholds it started with, to the end
    todo = reviewable(folder, chapter)
    summary, clock, saved = ReviewSummary(), ProgressClock([s.text for s in todo], progress), time.monotonic()
    try:
        for done, segment in enumerate(todo, 1):
            if cancel is not None and cancel.is_set():
                summary.cancelled = True
                break
            data, rate = read_audio(folder.resolve(segment.accepted.file))
            check = check_take(data.mean(axis=0), rate, segment.text, settings, transcriber)
            segment.accepted.checks = check.to_dict()
            summary.checked.append(segment.id)
            if not check.passed:
                summary.bad.append(segment.id)
                segment.status = "bad"
            clock.finished(done, segment)
            if time.monotonic() - saved > SAVE_EVERY:
                folder.save()
                saved = time.monotonic()
    finally:
        if summary.checked:
            folder.save()
    summary.seconds = clock.elapsed()
    return summary
