"""Generate as a person uses it: a second click never loses the running job, and [bracketed] text without the
redaction model is caught before any work, with the choices offered in the page. Screenshots in ``shots``."""

from __future__ import annotations

import time

import pytest

from tests.browser.helpers import fill_number

pytestmark = pytest.mark.browser


def new_folders(server, before: set[str]) -> list:
    if not server.outputs.is_dir():
        return []
    return [p for p in server.outputs.iterdir() if p.is_dir() and p.name not in before]


def folders(server) -> set[str]:
    return {p.name for p in server.outputs.iterdir()} if server.outputs.is_dir() else set()


def fill_form(page, text: str, samples: str, steps: str) -> None:
    """Type ``text`` and set the candidates and diffusion steps in the advanced options."""
    page.fill("#gen-text textarea", text)
    page.get_by_text("Advanced options").click()
    fill_number(page, "#gen-samples", samples)
    fill_number(page, "#gen-steps", steps)


def test_clicking_generate_again_never_cancels_the_running_job(page, server, shots):
    fill_form(page, "A second click must not lose this one.", samples="4", steps="30")
    before = folders(server)
    page.dblclick("#gen-go")  # an impatient double click
    page.wait_for_selector("#gen-go:disabled:has-text('Generating...')", timeout=10_000)
    page.wait_for_selector("#gen-status:has-text('Segment 1 of 1')", timeout=60_000)
    page.screenshot(path=str(shots / "generating.png"), full_page=True)
    page.click("#gen-go", force=True)  # and once more while it runs (force: skip Playwright's wait for "enabled")
    page.wait_for_selector("#gen-timings table", timeout=120_000)
    page.wait_for_selector("#gen-go:enabled:has-text('Generate')")
    assert "Cancelled" not in page.inner_text("#gen-status") + page.inner_text("#gen-timings")
    time.sleep(1)  # a second generation, had one started, would have made its folder by now
    (folder,) = new_folders(server, before)
    assert (folder / "combined.wav").is_file()
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector("#hist-table:has-text('A second click')")
    table = page.inner_text("#hist-table")
    assert table.count("A second click") == 1 and "done" in table and "cancelled" not in table, table


def test_brackets_without_the_redaction_model_offer_the_choices_first(page, server, shots):
    fill_form(page, "[whispering] The brackets set the tone.", samples="2", steps="3")
    before = folders(server)
    page.click("#gen-go")
    page.wait_for_selector("#gen-redaction-msg:has-text('not downloaded yet')", timeout=30_000)
    assert "Not started" in page.inner_text("#gen-status")
    page.wait_for_selector("#gen-go:enabled")
    assert new_folders(server, before) == [], "nothing ran"
    page.screenshot(path=str(shots / "redaction-choices.png"), full_page=True)

    page.click("#gen-get-aligner")  # the test app is offline (HF_HUB_OFFLINE): the download fails, saying why
    page.wait_for_selector("#gen-redaction-msg .tts-error", timeout=60_000)
    assert "could not be downloaded" in page.inner_text("#gen-redaction-msg")
    page.screenshot(path=str(shots / "redaction-download-failed.png"), full_page=True)

    page.click("#gen-speak-all")
    page.wait_for_selector("#gen-timings table", timeout=120_000)
    assert not page.is_visible("#gen-redaction") and not page.is_checked("#gen-redact input")
    (folder,) = new_folders(server, before)
    assert (folder / "combined.wav").is_file()
    page.screenshot(path=str(shots / "redaction-spoken.png"), full_page=True)
