"""Every error's message is readable on the page where the user acted, in the app as a person meets it: a models
folder missing a file (Generate and both download buttons fail, offline), and the Voices tab's refusals.
Screenshots in ``shots``."""

from __future__ import annotations

import shutil

import pytest

from tests.browser.conftest import running_app

pytestmark = pytest.mark.browser
MISSING = "autoregressive.pth"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models, chromium_path):
    """The app on the tiny models less one required file, offline (downloads fail, saying why)."""
    models = tmp_path_factory.mktemp("models-less-one")
    for f in tiny_models.iterdir():
        if f.name != MISSING:
            shutil.copy2(f, models / f.name)
    with running_app(tmp_path_factory.mktemp("app-home"), models) as srv:
        yield srv


def error_in(page, selector: str, *texts: str) -> str:
    """Wait for an error box in ``selector`` and check that it shows each of ``texts``; returns its text."""
    box = page.locator(f"{selector} .tts-error", has_text=texts[0])
    box.wait_for(timeout=60_000)
    text = box.inner_text()
    assert text.startswith("Error:") and box.is_visible(), text
    for t in texts:
        assert t in text, f"{t!r} not in the message shown: {text!r}"
    return text


def test_generate_errors_are_on_the_page(page, shots):
    page.fill("#gen-text textarea", "Hello [there.")
    page.click("#gen-go")
    error_in(page, "#gen-status", "unclosed '['", "add the ']'")
    page.wait_for_selector("#gen-go:enabled:has-text('Generate')")
    page.fill("#gen-text textarea", "Hello there.")
    page.click("#gen-go")
    error_in(page, "#gen-status", f"the model files {MISSING} are missing", "download them")
    page.screenshot(path=str(shots / "error-generate.png"), full_page=True)
    page.wait_for_selector("#gen-go:enabled")  # and Generate can be pressed again


def test_download_errors_are_on_the_page(page, shots):
    page.wait_for_selector("#gen-missing:has-text('The model weights are missing')")
    page.click("#gen-download")
    error_in(page, "#gen-download-msg", f"cannot download {MISSING}", "offline mode is on")
    page.screenshot(path=str(shots / "error-download.png"), full_page=True)
    page.get_by_role("tab", name="Settings").click()
    page.click("#set-download")
    error_in(page, "#set-models-msg", f"cannot download {MISSING}", "offline mode is on")
    page.screenshot(path=str(shots / "error-download-settings.png"), full_page=True)


def test_voices_tab_errors_are_on_the_page(page, shots):
    page.get_by_role("tab", name="Voices").click()
    page.click("#voice-save")
    error_in(page, "#voice-summary", "Add at least one recording")
    page.click("#voice-rename")
    error_in(page, "#voice-library-msg", "Pick a voice first")
    page.screenshot(path=str(shots / "error-voices.png"), full_page=True)
