"""Long-form projects, the file and the text: project.json round trips, atomic saves, imports, edits."""

from __future__ import annotations

import errno
import json
import os

import pytest

from tortoise.errors import InvalidInputError
from tortoise.project import (
    ProjectError,
    ProjectFolder,
    Take,
    choose_take,
    edit_text,
    merge_with_next,
    new_project,
    read_book,
    set_segment,
    set_status,
    split_segment,
)
from tortoise.project.importing import read_markdown, read_text
from tortoise.project.model import SCHEMA

BOOK = """The Little Book

Chapter 1

It was a dark night. The wind blew hard over the hills.

The dog barked twice.

CHAPTER II: The Morning

Morning came at last. Everyone woke up.
"""


def test_plain_text_chapters_from_chapter_lines():
    book = read_text(BOOK, title="little")
    assert [t for t, _ in book.chapters] == ["little", "Chapter 1", "CHAPTER II: The Morning"]
    assert book.chapters[1][1] == [
        "Chapter 1", "It was a dark night. The wind blew hard over the hills.", "The dog barked twice.",
    ]  # fmt: skip


def test_markdown_headings_links_and_emphasis():
    md = "# My Book\n\n## One\n\nSome *bold* text with [a link](http://x.y).\n\n- an item\n\n"
    md += "## Two\n\n> quoted `code`\n"
    book = read_markdown(md, title="file")
    assert book.title == "My Book"
    assert book.chapters == [
        ("One", ["One", "Some bold text with a link.", "an item"]), ("Two", ["Two", "quoted code"]),
    ]  # fmt: skip


def test_new_project_splits_paragraphs_and_saves(tmp_path):
    src = tmp_path / "book.txt"
    src.write_text(BOOK)
    folder = new_project(
        tmp_path / "p", src, voice="train_grace", preset="ultra_fast", desired_length=20, max_length=40
    )
    p = ProjectFolder.open(tmp_path / "p").project
    assert p.to_dict() == folder.project.to_dict()
    assert p.source == {"file": "book.txt", "kind": "txt"} and p.defaults.voice == "train_grace"
    chapter = p.chapters[1]
    assert [s.text for s in chapter.segments] == [
        "Chapter 1", "It was a dark night.", "The wind blew hard over the hills.", "The dog barked twice.",
    ]  # fmt: skip
    assert [s.paragraph_end for s in chapter.segments] == [True, False, True, True]
    ids = [s.id for _, _, s in p.segments()]
    assert len(set(ids)) == len(ids) and all(s.status == "new" for _, _, s in p.segments())
    data = json.loads((tmp_path / "p" / "project.json").read_text())
    assert data["schema"] == SCHEMA
    with pytest.raises(InvalidInputError, match="already holds a project"):
        new_project(tmp_path / "p", src)


def test_splitter_option_is_the_projects(tmp_path):
    text = 'He said "Stop. Now." and left. Then he came back.'
    ours = new_project(tmp_path / "a", text=text, desired_length=5, max_length=40)
    original = new_project(tmp_path / "b", text=text, desired_length=5, max_length=40, splitter="original")
    texts = lambda f: [s.text for _, _, s in f.project.segments()]  # noqa: E731
    assert texts(ours) != texts(original)
    assert any('"Stop. Now."' in t for t in texts(original))  # the original's splitter keeps quotes whole


def test_edits_mark_only_that_segment_and_are_saved_at_once(tmp_path):
    folder = new_project(tmp_path / "p", text="One two. Three four. Five six.", desired_length=5, max_length=20)
    a, b, c = (s for _, _, s in folder.project.segments())
    for s in (a, b, c):
        s.takes, s.take, s.status = [Take(f"takes/{s.id}_t1.flac", 1, s.text, 1.0)], 0, "done"
    folder.save()
    edit_text(folder, b.id, "Three  and four.")
    reopened = ProjectFolder.open(folder.path).project
    assert [s.status for _, _, s in reopened.segments()] == ["done", "edited", "done"]
    assert reopened.chapters[0].segments[1].text == "Three and four." and reopened.chapters[0].segments[1].take == 0
    edit_text(folder, a.id, "One two.")  # the same text: nothing to redo
    assert a.status == "done"
    set_segment(folder, c.id, voice="train_dotrice", options={"temperature": 0.5})
    assert ProjectFolder.open(folder.path).project.chapters[0].segments[2].voice == "train_dotrice"
    assert c.status == "edited"
    set_status(folder, a.id, "bad")
    choose_take(folder, c.id, 1)  # its take speaks its text: accepted as it is
    assert c.status == "done"
    with pytest.raises(InvalidInputError, match="takes 1 to 1"):
        choose_take(folder, c.id, 2)


def test_merge_and_split_keep_ids(tmp_path):
    folder = new_project(tmp_path / "p", text="One two. Three four.\n\nFive six.", desired_length=5, max_length=20)
    a, b, c = (s for _, _, s in folder.project.segments())
    merged = merge_with_next(folder, a.id)
    assert merged.id == a.id and merged.text == "One two. Three four." and merged.paragraph_end
    head, tail = split_segment(folder, a.id, len("One two."))
    assert (head.id, head.text, head.paragraph_end) == (a.id, "One two.", False)
    assert tail.text == "Three four." and tail.paragraph_end and tail.id not in (a.id, b.id, c.id)
    assert [s.id for _, _, s in ProjectFolder.open(folder.path).project.segments()] == [a.id, tail.id, c.id]
    with pytest.raises(InvalidInputError, match="last of its chapter"):
        merge_with_next(folder, c.id)
    with pytest.raises(InvalidInputError, match="empty part"):
        split_segment(folder, c.id, 0)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    folder = new_project(tmp_path / "p", text="One. Two.", desired_length=2, max_length=10)
    before = (folder.file).read_bytes()
    segment = folder.project.chapters[0].segments[0]

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        edit_text(folder, segment.id, "Changed.")
    assert folder.file.read_bytes() == before
    assert [p.name for p in folder.path.iterdir()] == ["project.json"]  # no temporary file left behind


def test_unreadable_and_newer_project_files(tmp_path):
    with pytest.raises(ProjectError, match="not a project"):
        ProjectFolder.open(tmp_path)
    (tmp_path / "project.json").write_text(json.dumps({"schema": SCHEMA + 1}))
    with pytest.raises(ProjectError, match="newer tortoise-tts"):
        ProjectFolder.open(tmp_path)
    (tmp_path / "project.json").write_text("{not json")
    with pytest.raises(ProjectError, match="cannot read"):
        ProjectFolder.open(tmp_path)


def _tiny_epub(path):
    epub = pytest.importorskip("ebooklib.epub")
    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title("Tiny Tales")
    book.add_author("Ann Author")
    book.set_cover("cover.jpg", b"\xff\xd8\xff\xe0fakejpeg")
    chapters = []
    for i, body in enumerate(("<h1>The Start</h1><p>It begins here.</p><p>Then more.</p>", "<p>The end came.</p>")):
        ch = epub.EpubHtml(title=f"Chapter {i + 1}", file_name=f"ch{i + 1}.xhtml", lang="en")
        ch.content = f"<html><body>{body}</body></html>"
        book.add_item(ch)
        chapters.append(ch)
    extra = epub.EpubHtml(title="x", file_name="ch1b.xhtml", lang="en")  # in the spine, not in the TOC
    extra.content = "<html><body><div><p>A <em>continued</em> part.</p></div></body></html>"
    book.add_item(extra)
    book.toc = [epub.Link("ch1.xhtml", "One: The Start", "c1"), epub.Link("ch2.xhtml", "Two", "c2")]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapters[0], extra, chapters[1]]
    epub.write_epub(str(path), book)
    return path


def test_epub_chapters_from_the_table_of_contents(tmp_path):
    book = read_book(_tiny_epub(tmp_path / "tiny.epub"))
    assert (book.title, book.author) == ("Tiny Tales", "Ann Author")
    assert book.chapters == [
        ("One: The Start", ["The Start", "It begins here.", "Then more.", "A continued part."]),
        ("Two", ["The end came."]),
    ]
    folder = new_project(tmp_path / "p", tmp_path / "tiny.epub")
    assert folder.project.cover == "cover.jpg" and (folder.path / "cover.jpg").read_bytes().startswith(b"\xff\xd8")
    assert folder.project.title == "Tiny Tales" and len(folder.project.chapters) == 2


def test_unsupported_files_are_refused(tmp_path):
    (tmp_path / "book.pdf").write_bytes(b"%PDF")
    with pytest.raises(InvalidInputError, match=r"txt, \.md or \.epub"):
        read_book(tmp_path / "book.pdf")
    (tmp_path / "bad.epub").write_bytes(b"not a zip")
    pytest.importorskip("ebooklib")
    with pytest.raises(InvalidInputError, match=r"cannot read bad\.epub as EPUB"):
        read_book(tmp_path / "bad.epub")


def test_a_chapter_without_a_title_is_named_by_its_number_everywhere():
    from tortoise.project.model import Chapter

    assert Chapter("").name(0) == "Chapter 1" and Chapter("The End").name(4) == "The End"
