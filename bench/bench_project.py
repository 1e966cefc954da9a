"""Project file speed at book size (prints numbers; not a test).

    python bench/bench_project.py [--segments 5000] [--repeats 7]

Builds a project of ``--segments`` segments of ~150 characters in 50 chapters, every segment rendered with two takes
and their check results (the largest a rendered book's file gets per take), then times: writing project.json
(atomically, synced to disk), reading it back, and one edit (``edit_text``: change, mark, save). Medians of
``--repeats`` runs; the file size is printed too. With Gradio installed, the app's Projects tab too: opening the
project (first time: read from disk; again: the copy the app keeps), and editing one segment's text through the tab
(save, then the table's page, the segment panel and the summary redrawn).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tortoise.project import ProjectFolder, Take, edit_text
from tortoise.project.model import Chapter, Project

SENTENCE = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of folly."


def book(n: int) -> Project:
    project = Project(title="Benchmark", author="Nobody")
    for c in range(50):
        project.chapters.append(Chapter(f"Chapter {c + 1}"))
    for i in range(n):
        segment = project.new_segment(f"{SENTENCE} ({i})", paragraph_end=i % 4 == 3)
        checks = {"cer": 0.04, "rate": 14.2, "silence": 0.3, "cut_off": False, "transcript": SENTENCE.lower(),
                  "passed": True}  # fmt: skip
        segment.takes = [Take(f"takes/{segment.id}_t{k}.flac", 1234567 + k, segment.text, 7.5, checks) for k in (1, 2)]
        segment.take, segment.status = 1, "done"
        project.chapters[i * 50 // n].segments.append(segment)
    return project


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = ProjectFolder.create(Path(tmp) / "book", book(args.segments))
        save = median_ms(folder.save, args.repeats)
        load = median_ms(lambda: ProjectFolder.open(folder.path), args.repeats)
        target = folder.project.chapters[25].segments[10].id
        texts = iter(f"An edited sentence, version {k}." for k in range(10**6))
        edit = median_ms(lambda: edit_text(folder, target, next(texts)), args.repeats)
        size = folder.file.stat().st_size
        tab = app_numbers(folder, args.repeats)
    print(f"{args.segments} segments, 2 takes each: project.json {size / 1e6:.1f} MB")
    print(f"save {save:.0f} ms, load {load:.0f} ms, edit one segment (mark + save) {edit:.0f} ms")
    if tab:
        print("Projects tab: open {open:.0f} ms (again {again:.0f} ms), edit one segment {edit:.0f} ms".format(**tab))


def app_numbers(folder: ProjectFolder, repeats: int) -> dict | None:
    """The Projects tab's handlers on the project (moved under a fresh app's projects folder)."""
    try:
        import gradio as gr
    except ImportError:
        return None
    from ui import projects
    from ui.engine import Engine
    from ui.page import Shared
    from ui.projects_tab import ProjectsTab
    from ui.state import Settings

    engine = Engine(Settings(output_dir=str(folder.path.parent / "app"), device="cpu"))
    root, name = projects.projects_root(engine), folder.path.name
    root.mkdir(parents=True)
    folder.path.rename(root / name)
    with gr.Blocks() as app, gr.Tabs() as strip:  # the tab is laid out in a page
        tab = ProjectsTab(engine, Shared(app=app, tabs=strip, settings=engine.settings))
    start = time.perf_counter()
    opened = tab.opened(name)
    first = (time.perf_counter() - start) * 1e3
    again = median_ms(lambda: tab.opened(name), repeats)
    target = opened[tab.c["ids"]][10]
    texts = iter(f"A sentence edited in the app, version {k}." for k in range(10**6))
    handler = tab.edit(projects.save_text)
    edit = median_ms(lambda: handler(name, 0, "all", 1, target, next(texts), None, None), repeats)
    return {"open": first, "again": again, "edit": edit}


if __name__ == "__main__":
    main()
