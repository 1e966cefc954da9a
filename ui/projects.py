"""The Projects tab's work (the tab is ``ui.projects_tab``): where projects live, the open projects every handler and
render share, the segment table's pages, making, editing and exporting projects (rendering: ``ui.project_render``).
Plain values in and out.

Decisions:
* Projects live in ``<output folder>/projects/<name>/`` (the output folder of Settings): the app already serves that
  folder, so takes play and exports download, and moving the output folder moves the projects with it. A project made
  with the CLI shows up when it is made (or moved) there: ``tortoise-tts project new <output folder>/projects/NAME``.
* One in-memory project per folder (``OpenProjects``), shared by every handler and the render: reading a 5,000-segment
  ``project.json`` takes ~0.3 s, so it is read again only when another program changed it (its size or time differ
  from what this app last wrote or read) and no render of it is running. Every change and every save take the
  project's lock, so an edit made during a render never interleaves with the render's saves.
* Exports are written to ``<project>/exports/`` from a copy of the project taken under its lock, so a render can go on
  while a book is encoded. An export while a segment has no audio names it as the table does (a failed one first,
  with why it failed) and says what to press, rather than the library's CLI advice. Subtitles with one cue per word
  while a take has no word timings name it the same way and say to press Check takes.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tortoise.errors import InvalidInputError
from tortoise.project import (
    ProjectFolder,
    choose_take,
    edit_text,
    export,
    merge_with_next,
    new_project,
    set_segment,
    set_status,
    split_segment,
)
from tortoise.project.model import PENDING, Project, Segment
from tortoise.project.store import PROJECT_FILE

from . import strings as S
from .engine import Engine

PROJECTS_DIR = "projects"
EXPORTS_DIR = "exports"
PAGE = 50  # table rows per page: a page of a 5,000-segment book updates as fast as a page of a short story
SHOW = {"all": None, "attention": (*PENDING, "bad"), "bad": ("bad",)}  # the table's filters -> statuses shown


def projects_root(engine: Engine) -> Path:
    return engine.settings.resolved_output_dir() / PROJECTS_DIR


def project_names(engine: Engine) -> list[str]:
    """The projects in the projects folder (folders holding a ``project.json``), by name."""
    root = projects_root(engine)
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / PROJECT_FILE).is_file()), key=str.lower)


def folder_name(name: str) -> str:
    """A project's name -> its folder's name (letters, digits, ``-``, ``_``, ``.``); refuses what names nothing."""
    cleaned = re.sub(r"[^\w.-]+", "_", (name or "").strip()).strip("._")
    if not cleaned:
        raise InvalidInputError(S.NO_PROJECT_NAME)
    return cleaned


class SharedFolder(ProjectFolder):
    """A project open in the app: saves take its lock and note the file's stamp (to see other programs' changes)."""

    def __init__(self, path, project: Project):
        super().__init__(path, project)
        self.lock = threading.RLock()
        self.rendering = False
        self.stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.file)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def save(self) -> None:
        with self.lock:
            super().save()
            self.stamp = self._stat()

    def snapshot(self) -> ProjectFolder:
        """A copy of the project as it is now (for an export that must not hold the lock for minutes)."""
        with self.lock:
            return ProjectFolder(self.path, Project.from_dict(self.project.to_dict()))


class OpenProjects:
    """The open projects of one app, by folder."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._lock = threading.Lock()
        self._open: dict[Path, SharedFolder] = {}

    def path(self, name: str) -> Path:
        if not name:
            raise InvalidInputError(S.PICK_PROJECT)
        return projects_root(self.engine) / folder_name(name)

    def get(self, name: str) -> SharedFolder:
        """The project ``name``, read again only when another program changed its file (and no render runs)."""
        path = self.path(name)
        with self._lock:
            folder = self._open.get(path)
            if folder is not None and (folder.rendering or folder.stamp == folder._stat()):
                return folder
            opened = ProjectFolder.open(path)
            folder = self._open[path] = SharedFolder(path, opened.project)
            return folder

    def create(self, name: str, *, source: str | None, text: str | None, voice: str, preset: str, checks: bool):
        """Make project ``name`` from a book file or pasted text; returns its folder."""
        text = (text or "").strip() or None
        if source and text:
            raise InvalidInputError(S.FILE_OR_TEXT)
        if not source and not text:
            raise InvalidInputError(S.NO_BOOK)
        name = name or (Path(source).stem if source else "")
        path = projects_root(self.engine) / folder_name(name)
        if (path / PROJECT_FILE).exists():
            raise InvalidInputError(S.PROJECT_EXISTS.format(name=path.name))
        made = new_project(path, source, text=text, voice=voice or "random", preset=preset,
                           splitter=self.engine.settings.splitter)  # fmt: skip
        with self._lock:
            folder = self._open[path] = SharedFolder(path, made.project)
        with folder.lock:
            folder.project.title = folder.project.title or name
            folder.project.defaults.checks.enabled = bool(checks)
            folder.save()
        return folder


# ---- what the tab shows -------------------------------------------------------------------------------------------
def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def summary_markdown(folder: ProjectFolder) -> str:
    """Title, defaults, segments by status and rendered time of a project."""
    p = folder.project
    counts = Counter(s.status for _, _, s in p.segments())
    seconds = sum(s.accepted.seconds for _, _, s in p.segments() if s.accepted)
    by_status = ", ".join(f"{counts[k]} {k}" for k in ("done", "bad", "edited", "new", "failed") if counts[k])
    checks = S.CHECKS_ON if p.defaults.checks.enabled else S.CHECKS_OFF
    return S.PROJECT_SUMMARY.format(
        title=p.title or folder.path.name, by=f" by {p.author}" if p.author else "", voice=p.defaults.voice,
        preset=p.defaults.preset, checks=checks, chapters=len(p.chapters), segments=sum(counts.values()),
        by_status=by_status, time=clock(seconds), folder=folder.path,
    )  # fmt: skip


def chapter_choices(project: Project) -> list[tuple[str, int]]:
    """(label, index) of every chapter, after "all chapters" (-1)."""
    out = [(S.ALL_CHAPTERS, -1)]
    out += [(f"{c + 1}. {ch.name(c)} ({len(ch.segments)})", c) for c, ch in enumerate(project.chapters)]
    return out


def check_cell(segment: Segment) -> str:
    """The accepted take's check: its CER (the score; lower is better) and a mark, or what was wrong."""
    take = segment.accepted
    if take is None:
        return segment.error or ""
    c = take.checks
    if not c:
        return S.NOT_CHECKED
    score = f"{c['cer']:.2f} " if c.get("cer") is not None else ""
    return f"{score}✓" if c.get("passed") else f"{score}✗ " + "; ".join(c.get("problems", ()))


@dataclass
class Page:
    rows: list[list]
    ids: list[str]  # the segment id of each row
    page: int  # from 1
    pages: int
    matching: int  # segments shown by the filter over all pages


def table_page(project: Project, chapter: int, show: str, page: int) -> Page:
    """One page of the segment table: ``chapter`` index (-1: all), ``show`` a ``SHOW`` key, ``page`` from 1."""
    wanted = SHOW.get(show)
    chosen = None if chapter is None or chapter < 0 else chapter
    found = [(pos, s) for _, pos, s in project.segments(chosen) if wanted is None or s.status in wanted]
    pages = max(1, -(-len(found) // PAGE))
    page = min(max(1, int(page or 1)), pages)
    rows, ids = [], []
    for pos, s in found[(page - 1) * PAGE : page * PAGE]:
        seconds = f"{s.accepted.seconds:.1f}" if s.accepted else ""
        voice = s.voice or project.defaults.voice
        rows.append([pos + 1, s.text, voice, s.status, check_cell(s), seconds, S.PLAY if s.accepted else ""])
        ids.append(s.id)
    return Page(rows, ids, page, pages, len(found))


def segment_of(project: Project, segment_id: str) -> tuple[int, int, Segment]:
    """(chapter index, position in the book, segment) of a segment id."""
    for c, pos, s in project.segments():
        if s.id == segment_id:
            return c, pos, s
    raise InvalidInputError(S.SEGMENT_GONE)


def take_choices(segment: Segment) -> list[tuple[str, int]]:
    """(label, number from 1) of a segment's takes, the accepted one marked."""
    out = []
    for k, t in enumerate(segment.takes, 1):
        check = f", CER {t.checks['cer']:.2f}" if t.checks.get("cer") is not None else ""
        verdict = "" if not t.checks else (", passed" if t.checks.get("passed") else ", failed")
        mark = " (accepted)" if segment.take == k - 1 else ""
        old = " (older text)" if t.text != segment.text else ""
        out.append((f"Take {k}: {t.seconds:.1f} s, seed {t.seed}{check}{verdict}{mark}{old}", k))
    return out


def segment_markdown(chapter: int, position: int, segment: Segment) -> str:
    head = S.SEGMENT_HEAD.format(n=position + 1, id=segment.id, chapter=chapter + 1, status=segment.status)
    take = segment.accepted
    if take and take.checks.get("transcript") is not None:
        head += "\n\n" + S.HEARD.format(text=html.escape(take.checks["transcript"]))
    if segment.error:
        head += "\n\n" + S.SEGMENT_ERROR.format(error=html.escape(segment.error))
    return head


# ---- edits of one segment: (folder, id, text=, voice=, take=) -> (what was done, the segment to show) --------------
def save_text(folder: ProjectFolder, segment_id: str, *, text: str, **_) -> tuple[str, str]:
    before = segment_of(folder.project, segment_id)[2].text
    segment = edit_text(folder, segment_id, (text or "").replace("|", " "))
    return (S.UNCHANGED if segment.text == before else S.SAVED_TEXT), segment_id


def merge(folder: ProjectFolder, segment_id: str, **_) -> tuple[str, str]:
    return S.MERGED, merge_with_next(folder, segment_id).id


def split(folder: ProjectFolder, segment_id: str, *, text: str, **_) -> tuple[str, str]:
    """Split where the user typed ``|`` (the text around it is saved too)."""
    if "|" not in (text or ""):
        raise InvalidInputError(S.NO_SPLIT_MARK)
    head, _, tail = text.partition("|")
    edit_text(folder, segment_id, f"{head.strip()} {tail.replace('|', ' ').strip()}")
    first, _ = split_segment(folder, segment_id, len(" ".join(head.split())))
    return S.SPLIT_DONE, first.id


def set_voice(folder: ProjectFolder, segment_id: str, *, voice: str | None, **_) -> tuple[str, str]:
    set_segment(folder, segment_id, voice=None if voice in (None, "", S.PROJECT_DEFAULT_VOICE) else voice)
    return S.VOICE_SET, segment_id


def use_take(folder: ProjectFolder, segment_id: str, *, take, **_) -> tuple[str, str]:
    if not take:
        raise InvalidInputError(S.PICK_TAKE)
    choose_take(folder, segment_id, int(take))
    return S.TAKE_CHOSEN.format(n=int(take)), segment_id


def mark_bad(folder: ProjectFolder, segment_id: str, **_) -> tuple[str, str]:
    set_status(folder, segment_id, "bad")
    return S.MARKED_BAD, segment_id


# ---- export -------------------------------------------------------------------------------------------------------
def export_project(
    projects: OpenProjects, name: str, fmt: str, chapter: int | None, *, words: bool = False
) -> tuple[Path, str]:
    """Write the book (or chapter index ``chapter``) as ``fmt`` into the project's exports folder (subtitles with one
    cue per word when ``words``); returns the file and a sentence saying what was written."""
    folder = projects.get(name)
    copy = folder.snapshot()
    _check_audio(copy.project, chapter)
    if words:
        _check_words(copy.project, chapter)
    base = folder_name(copy.project.title or folder.path.name)
    if chapter is not None:
        base += f"-chapter{chapter + 1:02d}"
    out = folder.path / EXPORTS_DIR / f"{base}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = export(copy, out, fmt, chapter=chapter, words=words)
    note = S.EXPORTED.format(file=out.name, time=clock(report.seconds), chapters=len(report.chapters))
    if report.loudness is not None:
        note += " " + S.EXPORT_LOUDNESS.format(lufs=report.loudness, gain=report.gain_db)
    return out, note


def _check_audio(project: Project, chapter: int | None) -> None:
    """Refuse an export with a segment that has no audio, naming it as the table does (and what to do)."""
    if chapter is not None and not 0 <= chapter < len(project.chapters):
        return  # the export says which chapters there are
    missing = [(c, pos, s) for c, pos, s in project.segments(chapter) if s.accepted is None]
    if not missing:
        return
    failed = [m for m in missing if m[2].status == "failed"]
    c, pos, s = (failed or missing)[0]  # a failed one first: rendering again does not fix it
    more = S.EXPORT_MISSING_MORE.format(k=len(missing) - 1) if len(missing) > 1 else ""
    words = {"n": pos + 1, "chapter": c + 1, "text": _short(s.text), "more": more}
    if failed:
        raise InvalidInputError(S.EXPORT_MISSING_FAILED.format(error=s.error, **words))
    raise InvalidInputError(S.EXPORT_MISSING.format(**words))


def _check_words(project: Project, chapter: int | None) -> None:
    """Refuse one cue per word while a take has no word timings, naming the first as the table does."""
    if chapter is not None and not 0 <= chapter < len(project.chapters):
        return  # the export says which chapters there are
    segments = list(project.segments(chapter))
    untimed = [(pos, s) for _, pos, s in segments if s.accepted is not None and s.accepted.checks.get("words") is None]
    if untimed:
        pos, s = untimed[0]
        raise InvalidInputError(S.EXPORT_NO_WORDS.format(k=len(untimed), n=len(segments), pos=pos + 1,
                                                         text=_short(s.text)))  # fmt: skip


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
