"""Several browser sessions at once: jobs queue one at a time, each session gets its own result and state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.helpers import fill_number

pytestmark = pytest.mark.browser

TEXTS = [f"Session number {word} speaks its own words." for word in ("one", "two", "three")]


def _result_folder(page, outputs: Path) -> Path:
    """The output folder whose combined.wav is the file this page plays (Gradio serves a copy from its cache)."""
    href = page.get_attribute("#gen-combined a[download='combined.wav']", "href")
    body = page.request.get(href).body()
    matches = [f.parent for f in outputs.glob("*/combined.wav") if f.read_bytes() == body]
    assert len(matches) == 1, f"{len(matches)} output folders hold the audio this page plays"
    return matches[0]


def test_three_sessions_queue_and_keep_their_own_results(browser, server):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in TEXTS]
    try:
        pages = []
        for context, text in zip(contexts, TEXTS):
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(server.url)
            page.wait_for_selector("#gen-go:enabled")
            page.fill("#gen-text textarea", text)
            page.get_by_text("Advanced options").click()
            fill_number(page, "#gen-samples", "2")
            fill_number(page, "#gen-steps", "3")
            pages.append(page)
        for page in pages:  # all three jobs submitted before any has finished
            page.click("#gen-go")
        folders = []
        for page, text in zip(pages, TEXTS):
            page.wait_for_selector("#gen-timings table", timeout=240_000)
            folder = _result_folder(page, server.outputs)
            plan = json.loads((folder / "segments.json").read_text())
            assert plan["segments"] == [text], "a session shows another session's result"
            seed = re.search(r"seed (\d+)", page.inner_text("#gen-timings") + page.inner_text("#gen-status"))
            page.click("#gen-reuse-seed")  # per-session state: the seed of this session's own last job
            page.wait_for_function("document.querySelector('#gen-seed input').value !== '-1'")
            assert seed, "the result shows its seed"
            assert page.input_value("#gen-seed input") == seed.group(1)
            folders.append(folder)
        assert len(set(folders)) == 3
        starts = sorted((f / "segments.json").stat().st_mtime for f in folders)
        ends = sorted((f / "combined.wav").stat().st_mtime for f in folders)
        # one job at a time: each job's plan is written after the previous job's combined file
        assert all(ends[i] <= starts[i + 1] + 0.5 for i in range(2)), (starts, ends)
    finally:
        for context in contexts:
            context.close()
