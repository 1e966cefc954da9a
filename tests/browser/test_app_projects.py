"""The Projects tab end to end in headless Chromium: import a small EPUB, render it with the tiny models (checks off:
no real recogniser here), edit one segment, render only it again, play a take, export an m4b and read its chapters
back with PyAV. Screenshots in the ``shots`` folder."""

from __future__ import annotations

import hashlib
import io

import pytest

pytestmark = pytest.mark.browser
DONE_IN_TABLE = "(document.querySelector('#proj-table').innerText.match(/\\bdone\\b/g) || []).length == {n}"


def tiny_epub(path):
    """Two chapters of short paragraphs (a segment each), with title, author and a real JPEG cover."""
    epub = pytest.importorskip("ebooklib.epub")
    from PIL import Image

    cover = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 90, 200)).save(cover, "JPEG")
    book = epub.EpubBook()
    book.set_identifier("tiny-1")
    book.set_title("Tiny Tales")
    book.add_author("Ann Author")
    book.set_cover("cover.jpg", cover.getvalue())
    bodies = ("<h1>The Start</h1><p>It begins here.</p><p>Then more.</p>", "<p>The end came.</p>")
    chapters = []
    for i, body in enumerate(bodies):
        ch = epub.EpubHtml(title=f"Chapter {i + 1}", file_name=f"ch{i + 1}.xhtml", lang="en")
        ch.content = f"<html><body>{body}</body></html>"
        book.add_item(ch)
        chapters.append(ch)
    book.toc = [epub.Link("ch1.xhtml", "One: The Start", "c1"), epub.Link("ch2.xhtml", "Two", "c2")]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def choose(page, selector: str, option: str) -> None:
    page.click(f"{selector} input")
    page.fill(f"{selector} input", option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def takes(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "takes").iterdir())}


def cell(page, text: str):
    return page.locator("#proj-table [role=gridcell]", has_text=text).first


def test_epub_project_render_edit_rerender_one_and_export_m4b(page, server, shots, tmp_path):
    av = pytest.importorskip("av")
    book = tiny_epub(tmp_path / "tiny.epub")
    page.get_by_role("tab", name="Projects").click()
    page.wait_for_selector("#proj-new-file")  # "New project" is open while there is no project
    page.set_input_files("#proj-new-file input[type=file]", str(book))
    page.wait_for_selector("#proj-new-file:has-text('tiny.epub')")
    page.fill("#proj-new-name textarea, #proj-new-name input", "tiny")
    choose(page, "#proj-new-voice", "train_grace")
    choose(page, "#proj-new-preset", "ultra_fast")
    page.uncheck("#proj-new-checks input")
    page.click("#proj-create")
    page.wait_for_selector("#proj-summary:has-text('Tiny Tales')")
    assert "Made project" in page.inner_text("#proj-new-msg")
    summary = page.inner_text("#proj-summary")
    assert "Ann Author" in summary and "2 chapter(s), 4 segments" in summary and "checks off" in summary
    page.wait_for_selector("#proj-table:has-text('It begins here.')")
    page.screenshot(path=str(shots / "projects-new.png"), full_page=True)
    folder = server.outputs / "projects" / "tiny"
    assert (folder / "project.json").is_file() and (folder / "cover.jpg").is_file()

    page.click("#proj-render")
    page.wait_for_selector("#proj-progress:has-text('Rendered 4 segment(s)')", timeout=180_000)
    page.wait_for_selector("#proj-render:enabled")
    page.wait_for_selector("#proj-summary:has-text('4 done')")
    page.screenshot(path=str(shots / "projects-rendered.png"), full_page=True)
    page.wait_for_function(DONE_IN_TABLE.format(n=3))  # chapter 1's three segments
    before = takes(folder)
    assert len(before) == 4

    cell(page, "Then more.").click()
    page.wait_for_selector("#proj-seg-info:has-text('Segment 3')")
    assert page.input_value("#proj-seg-text textarea") == "Then more."
    page.wait_for_selector("#proj-seg-audio audio, #proj-seg-audio a[download]")
    page.fill("#proj-seg-text textarea", "Then a little more.")
    page.click("#proj-save-text")
    page.wait_for_selector("#proj-seg-msg:has-text('Saved')")
    page.wait_for_selector("#proj-table [role=gridcell]:has-text('edited')")
    page.screenshot(path=str(shots / "projects-edited.png"), full_page=True)

    page.click("#proj-render")  # new, edited or failed: only the edited one
    page.wait_for_selector("#proj-progress:has-text('Rendered 1 segment(s)')", timeout=120_000)
    page.wait_for_selector("#proj-render:enabled")
    after = takes(folder)
    assert {k: after[k] for k in before} == before, "the other takes' files are unchanged"
    (new,) = set(after) - set(before)
    assert new.endswith("_t2.flac")
    page.wait_for_selector("#proj-summary:has-text('4 done')")

    cell(page, "Then a little more.").click()
    page.wait_for_selector("#proj-takes:has-text('Take 2')")
    assert "older text" in page.inner_text("#proj-takes")
    page.click("#proj-table [data-testid='cell-2-6']")  # row 3's play cell
    page.wait_for_selector("#proj-seg-audio audio, #proj-seg-audio a[download]")
    page.screenshot(path=str(shots / "projects-takes.png"), full_page=True)

    page.click("#proj-export")
    link = page.wait_for_selector("#proj-export-file a[download]", timeout=120_000)
    assert "Wrote Tiny_Tales.m4b" in page.inner_text("#proj-export-msg")
    m4b = tmp_path / "book.m4b"
    m4b.write_bytes(page.request.get(link.get_attribute("href")).body())
    with av.open(str(m4b)) as f:
        chapters = f.chapters()
        assert [c["metadata"]["title"] for c in chapters] == ["One: The Start", "Two"]
        assert f.metadata.get("title") == "Tiny Tales" and f.duration > 0
    page.screenshot(path=str(shots / "projects-export.png"), full_page=True)
