"""Making a project from a book: plain text, Markdown or EPUB -> chapters of paragraphs -> segments.

* Plain text: paragraphs are separated by blank lines; a paragraph that is only a line like ``Chapter 3``,
  ``CHAPTER IV: The Storm`` or ``Part Two`` starts a chapter (and is spoken as its first segment).
* Markdown: ``#`` / ``##`` headings start chapters (a lone ``#`` title above ``##`` chapters names the book);
  emphasis, links, images, code marks and list bullets are reduced to their words.
* EPUB (the ``project`` extra's ``ebooklib``): title, author and cover from the metadata; chapters follow the table
  of contents (a spine document it does not list continues the chapter before), or the spine when there is none.

Each paragraph is split with the project's splitter (:func:`tortoise.text.split_text`); a segment never spans two
paragraphs, so the pause after a paragraph's last segment can be longer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError
from ..text import split_text
from .model import Chapter, Defaults, Project
from .store import PROJECT_FILE, ProjectFolder

_CHAPTER_LINE = re.compile(
    r"^(chapter|part|book|prologue|epilogue)\b(\s+([0-9]+|[ivxlcdm]+|[a-z]+(-[a-z]+)?))?\b[\s.:—–-]*.{0,80}$", re.I
)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class Book:
    """What an importer reads: chapters as (title, paragraphs), and the book's metadata."""

    title: str = ""
    author: str = ""
    chapters: list[tuple[str, list[str]]] = field(default_factory=list)
    cover: bytes | None = None
    cover_type: str = "jpg"


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line."""
    parts = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [" ".join(p.split()) for p in parts if p.strip()]


def read_text(text: str, title: str = "") -> Book:
    """Plain text: chapters start at paragraphs that are a ``Chapter N`` line."""
    book = Book(title=title)
    for paragraph in _paragraphs(text):
        if _CHAPTER_LINE.match(paragraph) or not book.chapters:
            book.chapters.append((paragraph if _CHAPTER_LINE.match(paragraph) else title, []))
        book.chapters[-1][1].append(paragraph)
    return book


def _markdown_inline(line: str) -> str:
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)  # images
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # links -> their text
    line = re.sub(r"`+([^`]*)`+", r"\1", line)
    line = re.sub(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1", r"\2", line)
    line = re.sub(r"^\s*(>\s*)+", "", line)  # block quotes
    line = re.sub(r"^\s*([-*+]|[0-9]+[.)])\s+", "", line)  # list items
    return line.strip()


def read_markdown(text: str, title: str = "") -> Book:
    """Markdown: the headings of the top level that occurs more than once start chapters."""
    lines = text.replace("\r\n", "\n").split("\n")
    levels = [len(m.group(1)) for line in lines if (m := _MD_HEADING.match(line))]
    chapter_level = next((lv for lv in sorted(set(levels)) if levels.count(lv) > 1), min(levels, default=1))
    book, body = Book(title=title), []

    def flush() -> None:
        paragraphs = _paragraphs("\n".join(body))
        if paragraphs and not book.chapters:
            book.chapters.append((book.title, []))
        if paragraphs:
            book.chapters[-1][1].extend(paragraphs)
        body.clear()

    for line in lines:
        m = _MD_HEADING.match(line)
        if m is None:
            body.append("" if re.match(r"^\s*([-*_]\s*){3,}$|^\s*```", line) else _markdown_inline(line))
            continue
        level, heading = len(m.group(1)), _markdown_inline(m.group(2))
        if level < chapter_level:  # the book's title (rather than the file's name)
            book.title = heading if book.title == title else book.title
            continue
        if level == chapter_level:
            flush()
            book.chapters.append((heading, [heading]))
        else:
            body.extend(["", heading, ""])
    flush()
    return book


def read_epub(path: str | os.PathLike) -> Book:
    """EPUB via ebooklib: metadata, cover, and chapters from the table of contents (or the spine)."""
    try:
        import ebooklib
        from ebooklib import epub
    except ImportError as e:
        raise InvalidInputError("reading EPUB needs ebooklib: pip install 'tortoise-tts-oneapi[project]'") from e
    from .epub_text import document_paragraphs, toc_titles

    try:
        doc = epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as e:  # a damaged or DRM-protected file: one clear line
        raise InvalidInputError(f"cannot read {Path(path).name} as EPUB: {e}") from e
    first = lambda name: next((v for v, _ in doc.get_metadata("DC", name)), "")  # noqa: E731
    book = Book(title=first("title"), author=first("creator"))
    titles = toc_titles(doc.toc)
    for idref, _ in doc.spine:
        item = doc.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        heading, paragraphs = document_paragraphs(item.get_content())
        if not paragraphs:
            continue
        title = titles.get(item.get_name())
        if title is not None or not titles or not book.chapters:
            book.chapters.append((title or heading or f"Part {len(book.chapters) + 1}", []))
        book.chapters[-1][1].extend(paragraphs)
    covers = list(doc.get_items_of_type(ebooklib.ITEM_COVER))
    covers += [i for i in doc.get_items_of_type(ebooklib.ITEM_IMAGE) if "cover" in i.get_name().lower()]
    if covers:
        book.cover, book.cover_type = covers[0].get_content(), Path(covers[0].get_name()).suffix.lstrip(".") or "jpg"
    return book


def read_book(path: str | os.PathLike) -> Book:
    """Read a .txt, .md or .epub file (chosen by its suffix)."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind == "epub":
        return read_epub(path)
    if kind not in ("txt", "text", "md", "markdown"):
        raise InvalidInputError(f"cannot import {path.name}: use a .txt, .md or .epub file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read {path}: {e}") from e
    reader = read_markdown if kind in ("md", "markdown") else read_text
    return reader(text, title=path.stem)


def build_project(book: Book, defaults: Defaults, *, source: dict | None = None) -> Project:
    """Split a book's paragraphs into segments with ``defaults``' splitter."""
    project = Project(title=book.title, author=book.author, source=source or {}, defaults=defaults)
    d = defaults
    for title, paragraphs in book.chapters:
        chapter = Chapter(title)
        for paragraph in paragraphs:
            parts = split_text(paragraph, desired_length=d.desired_length, max_length=d.max_length, splitter=d.splitter)
            for i, part in enumerate(parts):
                chapter.segments.append(project.new_segment(part, paragraph_end=i == len(parts) - 1))
        if chapter.segments:
            project.chapters.append(chapter)
    if not project.chapters:
        raise InvalidInputError("the text has nothing to speak")
    return project


def new_project(
    folder: str | os.PathLike, source: str | os.PathLike | None = None, *, text: str | None = None, **defaults
) -> ProjectFolder:
    """Make a project in ``folder`` from a book file (``source``) or pasted ``text``.

    ``defaults`` are :class:`~tortoise.project.model.Defaults` fields (voice, preset, options, seed, splitter, ...).
    """
    if (source is None) == (text is None):
        raise InvalidInputError("give a book file or the text, not both")
    unknown = set(defaults) - set(Defaults.__dataclass_fields__)
    if unknown:
        raise InvalidInputError(f"unknown project setting(s) {sorted(unknown)}")
    book = read_book(source) if source is not None else read_text(text, title="")
    info = {"kind": "pasted"}
    if source is not None:
        info = {"file": Path(source).name, "kind": Path(source).suffix.lower().lstrip(".")}
    project = build_project(book, Defaults(**defaults), source=info)
    folder = Path(folder)
    if (folder / PROJECT_FILE).exists():
        raise InvalidInputError(f"{folder} already holds a project; choose another folder")
    if book.cover:
        project.cover = f"cover.{book.cover_type}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / project.cover).write_bytes(book.cover)
    return ProjectFolder.create(folder, project)
