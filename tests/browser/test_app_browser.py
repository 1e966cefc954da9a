"""The app end to end in headless Chromium: generate speech, history and reuse, prepare a voice from an uploaded
clip, settings saved to the config file and shown again after a reload. Screenshots in the ``shots`` folder."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.helpers import fill_number
from tortoise.voices import builtin_voices_dirs

pytestmark = pytest.mark.browser

CLIP = builtin_voices_dirs()[0] / "train_grace" / "1.wav"
TEXT = "Hello there. This is a browser test."


def pick(page, selector: str, option: str) -> None:
    """Choose ``option`` in the Gradio dropdown ``selector``."""
    page.click(f"{selector} input")
    page.fill(f"{selector} input", option)  # filters the list (replacing a single choice's text)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_generate_then_history_and_reuse(page, server, shots):
    page.fill("#gen-text textarea", TEXT)
    page.wait_for_selector("#gen-text-info:has-text('36 characters, 1 segment')")
    pick(page, "#gen-voice", "train_dotrice")  # joins the voice chosen on load: a mix of two
    page.get_by_text("Advanced options").click()
    fill_number(page, "#gen-samples", "2")
    fill_number(page, "#gen-steps", "3")
    fill_number(page, "#gen-seed", "1")
    page.click("#gen-go")
    page.wait_for_selector("#gen-timings table", timeout=120_000)
    assert "Segment 1 of 1" in page.inner_text("#gen-status")
    assert "real-time factor" in page.inner_text("#gen-timings")
    link = page.wait_for_selector("#gen-combined a[download='combined.wav']")
    body = page.request.get(link.get_attribute("href")).body()
    assert body[:4] == b"RIFF" and len(body) > 10_000, "the combined file is served as a WAV"
    assert page.is_visible("#gen-player-0") and not page.is_visible("#gen-player-1")
    page.screenshot(path=str(shots / "generate.png"), full_page=True)
    (folder,) = [p for p in server.outputs.iterdir() if p.is_dir()]
    assert (folder / "combined.wav").is_file() and (folder / "01.wav").is_file()

    page.fill("#gen-text textarea", "Something else entirely.")  # changed, so "reuse" must bring the old back
    fill_number(page, "#gen-steps", "7")
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector(f"#hist-table:has-text('{TEXT[:20]}')")
    assert "train_daws&train_dotrice" in page.inner_text("#hist-table")
    page.click("#hist-pick input")
    page.get_by_role("option").first.click()
    page.wait_for_selector("#hist-details:has-text('diffusion_steps=3')")
    page.wait_for_selector("#hist-audio a[download]")
    page.screenshot(path=str(shots / "history.png"), full_page=True)
    page.click("#hist-reuse")
    page.wait_for_selector("#gen-go", state="visible")
    assert page.input_value("#gen-text textarea") == TEXT
    assert page.input_value("#gen-steps input") == "3" and page.input_value("#gen-seed input") == "1"


def test_prepare_voice_from_uploaded_clip(page, server, shots):
    page.get_by_role("tab", name="Voices").click()
    page.set_input_files("#voice-upload input[type=file]", str(CLIP))
    page.wait_for_selector("#voice-upload:has-text('KB')")  # listed once uploaded
    page.click("#voice-preview")
    page.wait_for_selector("#voice-after a[download]", timeout=60_000)
    page.fill("#voice-name textarea, #voice-name input", "browser voice")
    page.click("#voice-save")
    page.wait_for_selector("#voice-summary:has-text('Saved voice')", timeout=120_000)
    folder = server.voices / "browser_voice"
    assert (folder / "voice.json").is_file() and list(folder.glob("clip_*.wav"))
    report = json.loads((folder / "voice.json").read_text())
    assert report["clips"] and report["sources"][0]["name"] == "1.wav"
    page.wait_for_selector("#voice-table:has-text('browser_voice')")
    # latents cached on save, and listed as the user's own voice (as rendered: the table's visible text)
    page.wait_for_function(
        "/browser_voice\\s+\\d+\\s+yes\\s+yours/.test(document.querySelector('#voice-table').innerText)"
    )
    page.screenshot(path=str(shots / "voices.png"), full_page=True)


def test_settings_persist_across_reload(page, server, shots):
    page.get_by_role("tab", name="Settings").click()
    page.wait_for_selector("#set-models-table:has-text('autoregressive')")
    pick(page, "#set-preset", "ultra_fast")
    page.click("#set-save")
    page.wait_for_selector("#set-message:has-text('Saved to')")
    saved = json.loads(server.config.read_text())
    assert saved["default_preset"] == "ultra_fast" and saved["models_dir"] == str(server.models)
    page.screenshot(path=str(shots / "settings.png"), full_page=True)
    page.reload()
    page.wait_for_selector("#gen-go:enabled")
    page.wait_for_function("document.querySelector('#gen-preset input').value === 'ultra_fast'")
    page.get_by_text("Advanced options").click()
    assert page.input_value("#gen-steps input") == "30", "the preset's own steps are shown"
    page.get_by_role("tab", name="Settings").click()
    assert page.input_value("#set-preset input") == "ultra_fast"


def test_cancel_keeps_finished_segments(page, server, shots):
    sentence = (
        "This sentence is long enough that the splitter gives it a segment of its own, which is the point of it, "
        "and it goes on a little longer still so that two of them never fit together. "
    )
    page.fill("#gen-text textarea", sentence * 40)  # 40 segments: far more than can finish before Cancel
    page.wait_for_selector("#gen-text-info:has-text('40 segments')")
    page.get_by_text("Advanced options").click()
    fill_number(page, "#gen-samples", "8")
    fill_number(page, "#gen-steps", "40")
    before = {p.name for p in server.outputs.iterdir()} if server.outputs.is_dir() else set()
    page.click("#gen-go")
    deadline = time.monotonic() + 120
    while not [p for p in server.outputs.glob("*/01.wav") if p.parent.name not in before]:
        assert time.monotonic() < deadline, "the first segment was never written"
        time.sleep(0.05)
    page.click("#gen-cancel")
    try:
        page.wait_for_selector("#gen-status:has-text('Cancelled')", timeout=60_000)
    except Exception as e:
        page.screenshot(path=str(shots / "cancel-failed.png"), full_page=True)
        status = page.inner_text("#gen-status")
        raise AssertionError(f"no 'Cancelled' status: {status!r}; app log:\n{server.log.read_text()[-3000:]}") from e
    page.screenshot(path=str(shots / "cancelled.png"), full_page=True)
    (folder,) = [p for p in server.outputs.iterdir() if p.is_dir() and p.name not in before]
    kept = sorted(p.name for p in folder.glob("[0-9][0-9].wav"))
    assert 1 <= len(kept) < 40 and not (folder / "combined.wav").exists(), kept
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector("#hist-table:has-text('cancelled')")


def test_listen_as_it_is_made_streams_into_the_live_player(page, server, shots):
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("Gradio's streamed audio needs the ffmpeg program (install/test.sh installs it as root)")
    page.fill("#gen-text textarea", "Streaming in the app. It starts playing early.")
    page.click("#gen-stream")
    page.wait_for_selector("#gen-live audio", state="attached", timeout=120_000)
    page.screenshot(path=str(shots / "live.png"), full_page=True)
    assert "Error" not in page.inner_text("#gen-live")
