"""Project file speed at book size (prints numbers; not a test).

    python bench/bench_project.py [--segments 5000] [--repeats 7]

Builds a project of ``--segments`` segments of ~150 characters in 50 chapters, every segment rendered with two takes
and their check results (the largest a rendered book's file gets per take), then times: writing project.json
(atomically, synced to disk), reading it back, and one edit (``edit_text``: change, mark, save). Medians of
``--repeats`` runs; the file size is printed too.
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
    print(f"{args.segments} segments, 2 takes each: project.json {size / 1e6:.1f} MB")
    print(f"save {save:.0f} ms, load {load:.0f} ms, edit one segment (mark + save) {edit:.0f} ms")


if __name__ == "__main__":
    main()
