"""The words of an EPUB: paragraphs of an XHTML document, and the table of contents' titles by file name."""

from __future__ import annotations

_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dt", "dd", "figcaption")
_HEADINGS = ("h1", "h2", "h3")


def toc_titles(toc) -> dict[str, str]:
    """{document file name: title} of the first entry pointing into each document (nested sections included)."""
    titles: dict[str, str] = {}

    def walk(entries) -> None:
        for entry in entries:
            if isinstance(entry, tuple):  # (Section, [children])
                section, children = entry
                walk([section, *children])
                continue
            href = getattr(entry, "href", None)
            if href:
                titles.setdefault(href.split("#")[0], (getattr(entry, "title", "") or "").strip())

    walk(toc)
    return titles


def document_paragraphs(content: bytes) -> tuple[str, list[str]]:
    """(its first heading, its paragraphs) of an XHTML document; nested blocks are read once, by their outermost."""
    import lxml.html

    if not content.strip():
        return "", []
    root = lxml.html.fromstring(content)
    for bad in root.xpath("//script|//style|//head"):
        bad.drop_tree()
    taken: set = set()
    heading, paragraphs = "", []
    for el in root.iter(*_BLOCKS):
        if any(a in taken for a in el.iterancestors()):
            continue
        text = " ".join(el.text_content().split())
        if not text:
            continue
        taken.add(el)
        if el.tag in _HEADINGS and not heading:
            heading = text
        paragraphs.append(text)
    if not paragraphs:  # text straight in <body> or <div>s
        paragraphs = [" ".join(root.text_content().split())] if root.text_content().strip() else []
    return heading, paragraphs
