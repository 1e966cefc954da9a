"""The Projects tab after the first render, as a person uses it, in headless Chromium on the tiny models (checks
off): Cancel mid-render and Render again to resume, impatient double clicks, regenerating one segment and picking an
older take back, the "bad" filter and "render the bad ones", a segment whose text is refused, Export before
everything has audio, a Render that has to wait for another tab's Generate, and Check takes on takes made with the
checks off (first without the recogniser, then with a tiny random wav2vec2 put in the app's Hugging Face cache under
the real model's name) followed by a vtt export with one cue per word, and the check thresholds (refused, saved,
seen after a reload, reset). One app for the module; screenshots in the ``shots`` folder."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil

import pytest

pytestmark = pytest.mark.browser


# ---- what these tests do to the tab -------------------------------------------------------------------------------
def choose(page, selector: str, option: str) -> None:
    page.click(f"{selector} input")
    page.fill(f"{selector} input", option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def new_project(page, server, name: str, paragraphs: list[str], preset: str = "ultra_fast"):
    """Make project ``name`` from pasted text (a segment per paragraph) with the checks off; returns its folder."""
    page.get_by_role("tab", name="Projects").click()
    page.wait_for_selector("#proj-new")
    if not page.is_visible("#proj-create"):  # closed once a project exists
        page.get_by_text("New project", exact=True).click()
    page.wait_for_selector("#proj-create", state="visible")
    page.fill("#proj-new-text textarea", "\n\n".join(paragraphs))
    page.fill("#proj-new-name input, #proj-new-name textarea", name)
    choose(page, "#proj-new-voice", "train_grace")
    choose(page, "#proj-new-preset", preset)
    page.uncheck("#proj-new-checks input")
    page.click("#proj-create")
    page.wait_for_selector(f"#proj-new-msg:has-text('Made project {name}')", state="attached")  # (it closes)
    page.wait_for_selector(f"#proj-summary:has-text('{len(paragraphs)} segments')")
    page.wait_for_selector(f"#proj-table:has-text({json.dumps(paragraphs[0])})")
    return server.outputs / "projects" / name


def takes(folder) -> dict[str, str]:
    """Take file name -> sha256 of its bytes."""
    d = folder / "takes"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())} if d.is_dir() else {}


def segments(folder) -> list[dict]:
    data = json.loads((folder / "project.json").read_text())
    return [s for ch in data["chapters"] for s in ch["segments"]]


def statuses(folder) -> list[str]:
    return [s["status"] for s in segments(folder)]


def row(page, text: str):
    return page.locator("#proj-table [role=gridcell]", has_text=text).first


def table_count(page, word: str) -> int:
    return len(re.findall(rf"\b{word}\b", page.inner_text("#proj-table")))


def render(page, which: str | None = None) -> None:
    if which:
        page.get_by_label(which).check()
    page.click("#proj-render")


def rendered(page, n: int, timeout: float = 120_000) -> None:
    page.wait_for_selector(f"#proj-progress:has-text('Rendered {n} segment(s)')", timeout=timeout)
    page.wait_for_selector("#proj-render:enabled:has-text('Render')")


def device_turns(server) -> int:
    """App jobs that took the device so far (the terminal's "device: app job started" lines)."""
    return server.log.read_text().count("device: app job started")


@pytest.fixture(autouse=True)
def no_tracebacks(server):
    """No handler failed on the app's terminal (a failing timer tick shows nothing in the page); the messages the
    handlers raise for the user (``gr.Error``) are printed with their traceback too, and are fine."""
    start = len(server.log.read_text())
    yield
    log = server.log.read_text()[start:]
    crashes = log.split("Traceback (most recent call last):")[1:]
    unexpected = [t for t in crashes if "gradio.exceptions.Error:" not in t]
    assert not unexpected, unexpected[0][:3000]


# ---- the tests ----------------------------------------------------------------------------------------------------
def test_cancel_keeps_finished_segments_and_render_resumes_the_rest(page, server, shots):
    n = 30
    folder = new_project(page, server, "long", [f"Sentence number {k} is here." for k in range(1, n + 1)])
    render(page)
    page.wait_for_selector("#proj-render:disabled:has-text('Rendering...')")
    page.wait_for_function("/\\b[1-9]\\d* done\\b/.test(document.querySelector('#proj-summary').innerText)")
    page.click("#proj-cancel")
    page.wait_for_selector("#proj-progress:has-text('Cancelled')", timeout=60_000)
    page.wait_for_selector("#proj-render:enabled:has-text('Render')")
    page.screenshot(path=str(shots / "projects-cancelled.png"), full_page=True)

    status = statuses(folder)
    done = status.count("done")
    assert 0 < done < n, status
    assert set(status) == {"done", "new"} and status == sorted(status), "the first ones finished, the rest waits"
    kept = takes(folder)
    assert sorted(kept) == sorted(f"{s['id']}_t1.flac" for s in segments(folder) if s["status"] == "done")
    assert all(not s.get("takes") for s in segments(folder) if s["status"] == "new"), "no half-made take"
    planned = {s["id"]: s["next_seed"] for s in segments(folder) if s.get("next_seed") is not None}
    assert len(planned) <= 1, "only the segment in flight had its seed planned"
    progress = page.inner_text("#proj-progress")
    assert f"{done} of {n}" in progress, progress
    page.wait_for_selector(f"#proj-summary:has-text('{done} done, {n - done} new')")
    first_new = page.locator("#proj-table [role=gridcell]", has_text=f"Sentence number {done + 1} is here.").first
    assert first_new.is_visible() and table_count(page, "done") == min(done, 10)  # (the table shows ~15 rows)
    page.get_by_label("needing work").check()
    page.wait_for_selector(f"#proj-pages:has-text('({n - done} segments)')")
    page.get_by_label("all", exact=True).check()

    render(page)  # "new, edited or failed (resume)": only the rest
    rendered(page, n - done)
    after = takes(folder)
    assert {k: after[k] for k in kept} == kept, "the earlier takes' files are unchanged"
    assert len(after) == n and all(name.endswith("_t1.flac") for name in after)
    by_id = {s["id"]: s for s in segments(folder)}
    for sid, seed in planned.items():  # the interrupted segment was made with the seed planned for it
        assert by_id[sid]["takes"][0]["seed"] == seed
    assert statuses(folder) == ["done"] * n
    page.wait_for_selector(f"#proj-summary:has-text('{n} done')")
    page.screenshot(path=str(shots / "projects-resumed.png"), full_page=True)


def test_double_click_renders_once_and_cancel_with_nothing_running_is_harmless(page, server, shots):
    folder = new_project(page, server, "twice", ["One short line.", "Another short line.", "The last line."])
    page.click("#proj-cancel")
    page.wait_for_selector("#proj-progress:has-text('Nothing is running.')")
    assert statuses(folder) == ["new"] * 3 and takes(folder) == {}
    assert page.is_enabled("#proj-render")

    turns = device_turns(server)
    page.get_by_label("all of them again").check()  # a second render would make second takes of everything
    page.dblclick("#proj-render")
    rendered(page, 3)
    page.wait_for_timeout(2000)  # a second render, had one started, would have taken the device by now
    page.screenshot(path=str(shots / "projects-double-click.png"), full_page=True)
    assert "Rendered 3 segment(s)" in page.inner_text("#proj-progress")
    assert device_turns(server) == turns + 1, "one render took the device"
    assert sorted(takes(folder)) == sorted(f"{s['id']}_t1.flac" for s in segments(folder))
    assert statuses(folder) == ["done"] * 3

    page.click("#proj-cancel")  # after the render: still harmless
    page.wait_for_selector("#proj-progress:has-text('Nothing is running.')")
    assert statuses(folder) == ["done"] * 3 and len(takes(folder)) == 3


def test_regenerate_keeps_the_old_take_and_render_bad_redoes_only_the_bad(page, server, shots):
    folder = new_project(page, server, "takes", ["The first line.", "The middle line.", "The closing line."])
    render(page, "new, edited or failed (resume)")
    rendered(page, 3)
    first = takes(folder)
    ids = [s["id"] for s in segments(folder)]

    row(page, "The middle line.").click()
    page.wait_for_selector("#proj-seg-info:has-text('Segment 2')")
    page.click("#proj-regenerate")
    page.wait_for_selector("#proj-progress:has-text('Made segment 2 again (2 take(s) in all)')", timeout=120_000)
    page.wait_for_selector("#proj-render:enabled")
    page.wait_for_selector("#proj-takes:has-text('Take 2')")
    assert "(accepted)" in page.locator("#proj-takes label", has_text="Take 2").inner_text()
    after = takes(folder)
    assert {k: after[k] for k in first} == first and set(after) - set(first) == {f"{ids[1]}_t2.flac"}
    seg = segments(folder)[1]
    assert seg["take"] == 1 and seg["takes"][0]["seed"] != seg["takes"][1]["seed"], "a new seed, a new take"

    page.locator("#proj-takes label", has_text="Take 1").click()  # listen to the old one, then take it back
    page.wait_for_selector("#proj-take-audio audio, #proj-take-audio a[download]")
    page.click("#proj-use-take")
    page.wait_for_selector("#proj-seg-msg:has-text('Take 1 is now the accepted one.')")
    assert segments(folder)[1]["take"] == 0
    assert "(accepted)" in page.locator("#proj-takes label", has_text="Take 1").inner_text()
    page.screenshot(path=str(shots / "projects-take-picked.png"), full_page=True)

    for text in ("The middle line.", "The closing line."):
        row(page, text).click()
        page.wait_for_function(f"document.querySelector('#proj-seg-text textarea').value == {json.dumps(text)}")
        page.click("#proj-mark-bad")
        page.wait_for_selector("#proj-seg-msg:has-text('Marked bad')")
    assert statuses(folder) == ["done", "bad", "bad"]
    page.get_by_label("bad only").check()
    page.wait_for_selector("#proj-pages:has-text('(2 segments)')")
    assert table_count(page, "bad") == 2 and "The first line." not in page.inner_text("#proj-table")
    page.screenshot(path=str(shots / "projects-bad-filter.png"), full_page=True)

    before = takes(folder)
    render(page, "only the bad ones")
    rendered(page, 2)
    now = takes(folder)
    assert {k: now[k] for k in before} == before
    assert set(now) - set(before) == {f"{ids[1]}_t3.flac", f"{ids[2]}_t2.flac"}, "only the bad ones got new takes"
    assert statuses(folder) == ["done"] * 3
    page.wait_for_selector("#proj-pages:has-text('(0 segments)')")  # the filter: none is bad now
    page.screenshot(path=str(shots / "projects-bad-rendered.png"), full_page=True)


def test_refused_text_fails_that_segment_only_and_export_says_what_is_missing(page, server, shots):
    texts = ["A fine beginning.", "This one opens a [bracket and never closes it.", "A fine ending."]
    folder = new_project(page, server, "broken", texts)
    page.click("#proj-export")
    page.wait_for_selector("#proj-export-msg .tts-error, #proj-export-msg:has-text('no audio')", timeout=60_000)
    message = page.inner_text("#proj-export-msg")
    assert "Segment 1" in message and "A fine beginning." in message and "Render" in message, message
    assert not page.is_visible("#proj-export-file")
    page.screenshot(path=str(shots / "projects-export-too-early.png"), full_page=True)

    render(page)
    rendered(page, 2)
    progress = page.inner_text("#proj-progress")
    assert "Failed: segment 2: unclosed '['" in progress, progress
    assert statuses(folder) == ["done", "failed", "done"]
    assert "unclosed '['" in segments(folder)[1]["error"]
    assert page.inner_text("#proj-export-msg") == "", "the message from before the render is gone"
    page.wait_for_selector("#proj-table [role=gridcell]:has-text('failed')")
    assert "unclosed" in row(page, "unclosed").inner_text()  # the reason in the check column
    row(page, "never closes").click()
    page.wait_for_selector("#proj-seg-info:has-text('Last render failed')")
    assert "unclosed '['" in page.inner_text("#proj-seg-info")
    page.screenshot(path=str(shots / "projects-failed-segment.png"), full_page=True)

    page.click("#proj-export")
    page.wait_for_selector("#proj-export-msg:has-text('Segment 2')", timeout=60_000)
    assert "never closes" in page.inner_text("#proj-export-msg")

    page.fill("#proj-seg-text textarea", "This one opens a bracket and closes it.")
    page.click("#proj-save-text")
    page.wait_for_selector("#proj-seg-msg:has-text('Saved')")
    render(page)  # failed and edited are both "pending": only this one
    rendered(page, 1)
    assert statuses(folder) == ["done"] * 3
    page.click("#proj-export")
    page.wait_for_selector("#proj-export-file a[download]", timeout=120_000)
    assert "Wrote broken.m4b" in page.inner_text("#proj-export-msg")


def test_render_waits_for_another_tabs_generate_and_says_so(page, browser, server, shots):
    folder = new_project(page, server, "queued", ["Waiting is fine.", "It comes next."])
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.set_default_timeout(60_000)
        other.goto(server.url)
        other.wait_for_selector("#gen-go:enabled")
        other.fill("#gen-text textarea", "Someone else is generating this first, with many steps.")
        choose(other, "#gen-preset", "high_quality")  # the tiny models take ~15 s over it
        other.click("#gen-go")
        other.wait_for_selector("#gen-status:has-text('Segment 1 of 1')", timeout=60_000)

        render(page)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "projects-waiting.png"), full_page=True)
        page.wait_for_selector("#proj-progress:has-text('Waiting')", timeout=10_000)
        assert other.is_disabled("#gen-go"), "the other tab's job still runs"
        page.screenshot(path=str(shots / "projects-waiting.png"), full_page=True)
        assert statuses(folder) == ["new", "new"]

        other.get_by_role("tab", name="Projects").click()  # the generating tab itself: one job per browser tab
        other.wait_for_selector("#proj-summary:has-text('segments')")
        other.click("#proj-render")
        other.wait_for_selector("text=This tab is already generating", timeout=10_000)
        other.screenshot(path=str(shots / "projects-same-tab-refused.png"), full_page=True)
        assert other.is_enabled("#proj-render")
        other.get_by_role("tab", name="Generate").click()
        other.wait_for_selector("#gen-timings table", timeout=180_000)
        rendered(page, 2)
        assert statuses(folder) == ["done", "done"]
        page.screenshot(path=str(shots / "projects-after-wait.png"), full_page=True)
    finally:
        other.context.close()


def test_check_takes_made_without_checks_then_export_one_cue_per_word(page, server, shots, tmp_path):
    webvtt = pytest.importorskip("webvtt")
    pytest.importorskip("transformers")
    from tests.tiny_wav2vec import install_tiny_recogniser

    texts = ["The first words here.", "More words follow now.", "The last words."]
    folder = new_project(page, server, "checked", texts)
    render(page)
    rendered(page, 3)
    assert table_count(page, "not checked") == 3
    choose(page, "#proj-format", "vtt")
    page.wait_for_selector("#proj-words input", state="visible")
    page.check("#proj-words input")
    page.click("#proj-export")
    page.wait_for_selector("#proj-export-msg:has-text('no word timings')", timeout=60_000)
    message = page.inner_text("#proj-export-msg")
    assert "3 of 3 segment(s)" in message and "press Check takes" in message, message
    page.screenshot(path=str(shots / "projects-words-before-check.png"), full_page=True)

    page.click("#proj-check")  # the app's Hugging Face cache is empty (and offline)
    page.wait_for_selector("#proj-checks-box:has-text('Check takes again')")
    assert page.is_visible("#proj-get-recogniser") and not page.is_visible("#proj-checks-off")
    assert all(not s["takes"][0].get("checks") for s in segments(folder)), "nothing started"
    page.wait_for_selector("#proj-check:enabled:has-text('Check takes')")
    page.screenshot(path=str(shots / "projects-check-no-recogniser.png"), full_page=True)

    hub = server.home / "cache" / "huggingface" / "hub"  # the app's $XDG_CACHE_HOME/huggingface/hub
    install_tiny_recogniser(hub)
    takes_before = takes(folder)
    try:
        turns = device_turns(server)
        page.click("#proj-check")
        page.wait_for_selector("#proj-progress:has-text('3 take(s) checked in')", timeout=120_000)
        page.wait_for_selector("#proj-check:enabled:has-text('Check takes')")
        page.wait_for_selector("#proj-render:enabled:has-text('Render')")
        assert not page.is_visible("#proj-checks-box"), "the message from before is gone"
        assert device_turns(server) == turns + 1, "the check took its turn on the device"
    finally:
        for repo in hub.iterdir():  # the module's other tests run without a recogniser
            shutil.rmtree(repo)
    progress = html.unescape(page.inner_text("#proj-progress"))
    bad = [s["id"] for s in segments(folder) if s["status"] == "bad"]
    assert "3 take(s) checked in" in progress and f", {len(bad)} bad" in progress, progress
    assert bad, "the random recogniser hears nothing like the text: its takes fail"
    assert "press Render with 'only the bad ones'" in progress
    assert all(s["takes"][0]["checks"]["words"] for s in segments(folder)), "word timings stored"
    assert takes(folder) == takes_before, "no take made or touched"
    page.wait_for_selector(f"#proj-summary:has-text('{len(bad)} bad')")
    assert table_count(page, "bad") == len(bad) and "not checked" not in page.inner_text("#proj-table")
    assert "✗ CER" in page.inner_text("#proj-table")
    page.screenshot(path=str(shots / "projects-checked.png"), full_page=True)

    page.click("#proj-export")  # vtt, one cue per word: still ticked
    link = page.wait_for_selector("#proj-export-file a[download]", timeout=120_000)
    assert "Wrote checked.vtt" in page.inner_text("#proj-export-msg")
    vtt = tmp_path / "words.vtt"
    vtt.write_bytes(page.request.get(link.get_attribute("href")).body())
    cues = webvtt.read(str(vtt)).captions
    assert [c.text for c in cues] == [w for t in texts for w in t.split()], "one cue per word, as written"
    times = [t for c in cues for t in (c.start, c.end)]  # hh:mm:ss.ttt
    seconds = [sum(float(x) * 60**k for k, x in enumerate(reversed(t.split(":")))) for t in times]
    assert seconds == sorted(seconds) and seconds[-1] > seconds[0], "the words in order on the timeline"
    page.screenshot(path=str(shots / "projects-words-exported.png"), full_page=True)
    choose(page, "#proj-format", "m4b")
    page.wait_for_selector("#proj-words input", state="hidden")


def test_check_thresholds_refused_saved_and_shown_after_a_reload_then_reset(page, server, shots):
    folder = new_project(page, server, "limits", ["One line here.", "Two lines here."])
    checks = lambda: json.loads((folder / "project.json").read_text())["defaults"]["checks"]  # noqa: E731
    page.get_by_text("Check thresholds", exact=True).click()
    page.wait_for_selector("#proj-min-rate input", state="visible")
    assert page.input_value("#proj-max-cer input") == "0.35" and page.input_value("#proj-max-takes input") == "3"
    page.fill("#proj-min-rate input", "30")
    page.press("#proj-min-rate input", "Tab")  # leaving the field saves it: refused, lowest above highest
    page.wait_for_selector("#proj-thresholds-msg [role=alert]:has-text('must be below the highest')")
    page.screenshot(path=str(shots / "projects-thresholds-refused.png"), full_page=True)
    assert checks()["min_rate"] == 6.0, "nothing saved"
    page.fill("#proj-min-rate input", "8")
    page.press("#proj-min-rate input", "Enter")
    page.wait_for_selector("#proj-thresholds-msg:has-text('Saved. The next Render')")
    page.fill("#proj-max-takes input", "5")
    page.press("#proj-max-takes input", "Tab")
    page.uncheck("#proj-cut-off input")
    for _ in range(100):
        if (checks()["min_rate"], checks()["max_takes"], checks()["cut_off"]) == (8, 5, False):
            break
        page.wait_for_timeout(100)
    assert (checks()["min_rate"], checks()["max_takes"], checks()["cut_off"]) == (8, 5, False), checks()

    page.reload()
    page.wait_for_selector("#gen-go:enabled")
    page.get_by_role("tab", name="Projects").click()
    choose(page, "#proj-pick", "limits")
    page.wait_for_selector("#proj-table:has-text('One line here.')")
    page.get_by_text("Check thresholds", exact=True).click()
    page.wait_for_function("document.querySelector('#proj-min-rate input')?.value == '8'")
    assert page.input_value("#proj-max-takes input") == "5" and not page.is_checked("#proj-cut-off input")
    assert page.input_value("#proj-max-rate input") == "22"
    page.locator("#proj-thresholds").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "projects-thresholds-reloaded.png"), full_page=True)

    page.click("#proj-reset-thresholds")
    page.wait_for_selector("#proj-thresholds-msg:has-text('reset to the defaults')")
    assert page.input_value("#proj-min-rate input") == "6" and page.is_checked("#proj-cut-off input")
    assert (checks()["min_rate"], checks()["max_takes"], checks()["cut_off"]) == (6, 3, True)
