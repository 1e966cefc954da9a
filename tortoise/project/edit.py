"""Changing a project's segments; every change is saved at once.

Editing a segment's text (or its voice or options) marks only that segment for rendering again; its accepted take
stays in place, and in exports, until a new take is accepted. Merging and splitting keep the first part's id and
takes; the second part of a split is a new segment.
"""

from __future__ import annotations

from ..errors import InvalidInputError
from .model import STATUSES, Segment
from .store import ProjectFolder


def _changed(segment: Segment) -> None:
    """Its audio no longer matches: render it again (with a new seed unless one is set)."""
    segment.status = "edited" if segment.takes else "new"
    segment.next_seed = None
    segment.error = None


def _segment(folder: ProjectFolder, segment_id: str) -> Segment:
    c, i = folder.project.find(segment_id)
    return folder.project.chapters[c].segments[i]


def edit_text(folder: ProjectFolder, segment_id: str, text: str) -> Segment:
    """Replace a segment's text; no change (same text) marks nothing."""
    text = " ".join(text.split())
    if not text:
        raise InvalidInputError("a segment needs some text; to remove one, merge it into its neighbour")
    segment = _segment(folder, segment_id)
    if text != segment.text:
        segment.text = text
        _changed(segment)
        folder.save()
    return segment


def set_segment(
    folder: ProjectFolder,
    segment_id: str,
    *,
    voice: str | None = ...,
    options: dict | None = ...,
    seed: int | None = ...,
) -> Segment:
    """Give a segment its own voice, option overrides or explicit seed (None: back to the project's)."""
    segment = _segment(folder, segment_id)
    changes = {k: v for k, v in (("voice", voice), ("options", options), ("seed", seed)) if v is not ...}
    if "options" in changes:
        changes["options"] = dict(changes["options"] or {})
    if any(getattr(segment, k) != v for k, v in changes.items()):
        for k, v in changes.items():
            setattr(segment, k, v)
        _changed(segment)
        folder.save()
    return segment


def set_status(folder: ProjectFolder, segment_id: str, status: str) -> Segment:
    """Mark a segment, e.g. ``bad`` to have ``render(which="bad")`` make it again."""
    if status not in STATUSES:
        raise InvalidInputError(f"status {status!r} is unknown; choose one of {', '.join(STATUSES)}")
    segment = _segment(folder, segment_id)
    segment.status = status
    folder.save()
    return segment


def choose_take(folder: ProjectFolder, segment_id: str, number: int) -> Segment:
    """Accept take ``number`` (from 1) of a segment, e.g. after comparing them."""
    segment = _segment(folder, segment_id)
    if not 1 <= number <= len(segment.takes):
        raise InvalidInputError(f"segment {segment_id} has takes 1 to {len(segment.takes)}, not {number}")
    segment.take = number - 1
    segment.status = "done" if segment.takes[number - 1].text == segment.text else "edited"
    folder.save()
    return segment


def merge_with_next(folder: ProjectFolder, segment_id: str) -> Segment:
    """Join a segment and the one after it (in the same chapter) into one."""
    c, i = folder.project.find(segment_id)
    segments = folder.project.chapters[c].segments
    if i + 1 >= len(segments):
        raise InvalidInputError(f"segment {segment_id} is the last of its chapter: nothing after it to merge")
    first, second = segments[i], segments.pop(i + 1)
    first.text = f"{first.text} {second.text}"
    first.paragraph_end = second.paragraph_end
    _changed(first)
    folder.save()
    return first


def split_segment(folder: ProjectFolder, segment_id: str, at: int) -> tuple[Segment, Segment]:
    """Cut a segment's text at character ``at`` into two segments (the pause between them is a sentence's)."""
    c, i = folder.project.find(segment_id)
    segment = folder.project.chapters[c].segments[i]
    head, tail = segment.text[:at].strip(), segment.text[at:].strip()
    if not head or not tail:
        raise InvalidInputError(f"cutting at {at} leaves an empty part; choose a position inside the text")
    second = folder.project.new_segment(tail, paragraph_end=segment.paragraph_end)
    second.voice, second.options = segment.voice, dict(segment.options)
    segment.text, segment.paragraph_end = head, False
    _changed(segment)
    folder.project.chapters[c].segments.insert(i + 1, second)
    folder.save()
    return segment, second
