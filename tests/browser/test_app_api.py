"""The speech API served by the app, in its own process: the official ``openai`` client while a generation runs (both
answered, one at a time on the device), the download format and speaking rate in Generate, and the app started on
a non-loopback address (a login for the page, OpenAI's 401 without the key). Screenshots in the ``shots`` folder."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest
import soundfile as sf

from tests.browser.conftest import running_app
from tests.browser.helpers import fill_number
from tests.browser.test_app_browser import pick

pytestmark = pytest.mark.browser
openai = pytest.importorskip("openai")
av = pytest.importorskip("av")

SENTENCE = (
    "This sentence is long enough that the splitter gives it a segment of its own, which is the point of it, "
    "and it goes on a little longer still so that two of them never fit together. "
)


def decoded_seconds(data: bytes) -> tuple[int, float]:
    """Sample rate and duration of encoded audio, decoded with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        n = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.sample_rate, n / stream.codec_context.sample_rate


def device_turns(log: str) -> list[tuple[str, str]]:
    """(who, "started" | "finished") for every device turn the app logged, in order."""
    return re.findall(r"device: (.+?) (started|finished) \(", log)


def quick_settings(page, seed: str = "1", samples: str = "2", steps: str = "3") -> None:
    page.get_by_text("Advanced options").click()
    fill_number(page, "#gen-samples", samples)
    fill_number(page, "#gen-steps", steps)
    fill_number(page, "#gen-seed", seed)


def test_the_api_and_a_generation_take_turns_on_the_device(page, server, shots):
    page.fill("#gen-text textarea", SENTENCE * 8)
    page.wait_for_selector("#gen-text-info:has-text('8 segments')")
    quick_settings(page, samples="4", steps="30")  # seconds per segment even on a fast idle CPU
    page.click("#gen-go")
    # the generation holds the device: any of its first segments on the page (the page may skip a short one)
    page.wait_for_function("/Segment [1-6] of 8/.test(document.querySelector('#gen-status').innerText)")
    answer: dict = {}

    def call() -> None:
        client = openai.OpenAI(base_url=f"{server.url}v1", api_key="unused", max_retries=0, timeout=300)
        answer["mp3"] = client.audio.speech.create(
            model="tts-1", voice="alloy", input="Hello from the API.", response_format="mp3"
        ).content

    caller = threading.Thread(target=call)
    caller.start()
    health = []
    while caller.is_alive():
        health.append(page.request.get(f"{server.url}health").json())
        time.sleep(0.1)
    caller.join()
    assert any(h["busy"] and h["waiting"] == 1 for h in health), "the request waited for the generation"
    rate, seconds = decoded_seconds(answer["mp3"])
    assert rate == 24000 and seconds > 0.1
    page.wait_for_selector("#gen-timings table", timeout=300_000)
    assert "Segment 8 of 8" in page.inner_text("#gen-status")
    page.screenshot(path=str(shots / "api-while-generating.png"), full_page=True)
    turns = device_turns(server.log.read_text())
    assert turns, server.log.read_text()[-2000:]
    for (who, what), (who_next, what_next) in zip(turns[::2], turns[1::2]):  # never two on the device at once
        assert (what, what_next, who_next) == ("started", "finished", who), turns
    started = [who for who, what in turns if what == "started"]
    assert started.index("generation") < started.index("API request"), "first come, first served"


def test_mp3_at_a_faster_rate_from_generate(page, server, shots):
    page.fill("#gen-text textarea", "Hello there. This is the app at a faster speaking rate.")
    quick_settings(page, seed="2")
    pick(page, "#gen-format", "mp3")
    rate = page.locator("#gen-speed input[type=number]")
    rate.fill("1.5")
    rate.press("Enter")
    page.wait_for_function("document.querySelector('#gen-speed input[type=range]').value === '1.5'")
    page.locator("#gen-format").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "format-and-rate.png"), full_page=True)
    before = {p.name for p in server.outputs.iterdir()} if server.outputs.is_dir() else set()
    page.click("#gen-go")
    link = page.wait_for_selector("#gen-combined a[download='combined_1.5x.mp3']", timeout=300_000)
    body = page.request.get(link.get_attribute("href")).body()
    (folder,) = [p for p in server.outputs.iterdir() if p.is_dir() and p.name not in before]
    assert (folder / "combined_1.5x.mp3").read_bytes() == body, "the player's file is the one beside combined.wav"
    sample_rate, seconds = decoded_seconds(body)
    take = sf.info(str(folder / "combined.wav"))
    assert take.subtype == "FLOAT" and sample_rate == 24000
    assert seconds == pytest.approx(take.duration / 1.5, rel=0.03)
    with av.open(io.BytesIO(body)) as container:
        assert container.metadata["artist"] == "train_daws" and '"seed": 2' in container.metadata["comment"]
    page.screenshot(path=str(shots / "generated-mp3-1.5x.png"), full_page=True)


def test_off_loopback_the_page_asks_a_password_and_the_api_its_key(tmp_path_factory, tiny_models, browser, shots):
    home = tmp_path_factory.mktemp("exposed-home")
    with running_app(home, tiny_models, ["--host", "0.0.0.0", "--api-key", "sesame", "--no-warm-up"]) as srv:
        log = srv.log.read_text()
        found = re.search(r"log in as 'tortoise' with the password (\S+) \(made for this run", log)
        assert found, log
        assert f":{srv.port}/v1: clients send 'Authorization: Bearer KEY'; the key you gave" in log
        assert "sesame" not in log, "a key given is never printed"

        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=f"{srv.url}v1", api_key="wrong", max_retries=0).models.list()
        assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
        client = openai.OpenAI(base_url=f"{srv.url}v1", api_key="sesame", max_retries=0, timeout=300)
        assert "tts-1" in {m.id for m in client.models.list()}
        audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Behind a key.", response_format="flac")
        assert decoded_seconds(audio.content)[0] == 24000

        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            pg = context.new_page()
            pg.set_default_timeout(60_000)
            assert pg.request.get(f"{srv.url}config").status == 401, "Gradio's routes need the login"
            pg.goto(srv.url)
            pg.wait_for_selector("input[type=password]")
            pg.screenshot(path=str(shots / "login.png"), full_page=True)
            pg.fill("input[type=text]", "tortoise")
            pg.fill("input[type=password]", found.group(1))
            pg.keyboard.press("Enter")
            pg.wait_for_selector("#gen-go:enabled")
        finally:
            context.close()
