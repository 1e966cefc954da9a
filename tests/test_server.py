"""The speech API (tortoise/server) as clients meet it: the official ``openai`` package (and curl) against the real
server on 127.0.0.1, speaking with the tiny random-weight models. Audio is decoded with PyAV."""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager

import av
import httpx
import pytest
import torch

openai = pytest.importorskip("openai", reason="the openai package is a dev dependency (pip install openai)")
uvicorn = pytest.importorskip("uvicorn", reason="the api extra is not installed")

from tortoise.server import ServerSettings, SpeechEngine, create_app  # noqa: E402

TEXT = "Hello there, from the local speech server."
SEED = 1  # with the tiny models (write_tiny_models seed 0), fast mode speaks ~2.4 s for this seed
DECODED_RATE = {"opus": 48000}
PADDING = {"mp3": 0.06, "aac": 0.09}  # seconds the decoder keeps of the encoder's priming and last frame


class Recorder:
    """Wraps ``tts.stream`` to observe jobs: how many run at once, whether a stream was stopped, and a gate that
    holds a job after its first chunk (so a test can see bytes arrive before the job ends)."""

    def __init__(self, tts):
        self.lock = threading.Lock()
        self.reset()
        original = tts.stream
        tts.stream = lambda *a, **k: self._wrap(original(*a, **k))

    def reset(self):
        self.active = self.max_active = self.finished = self.stopped = self.padded = 0
        self.gate: threading.Event | None = None
        self.pad = 0  # extra 0.1 s chunks after the real ones, 0.1 s apart (a long job)
        self.fail: BaseException | None = None

    def _wrap(self, chunks):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        complete = False
        try:
            if self.fail is not None:
                raise self.fail
            for chunk in chunks:
                yield chunk
                if self.gate is not None:
                    assert self.gate.wait(30), "the test never opened the gate"
            for _ in range(self.pad):
                time.sleep(0.1)
                self.padded += 1
                yield torch.zeros(2400)
            complete = True
        finally:
            chunks.close()
            with self.lock:
                self.active -= 1
                self.finished += complete
                self.stopped += not complete


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(engine: SpeechEngine):
    """The app on 127.0.0.1 (a free port) in a thread, for the duration of the block: yields its /v1 URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=_free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def _tts(models_dir, tmp):
    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.voices import VoiceLibrary

    return TextToSpeech(
        models_dir=models_dir, voices=VoiceLibrary(user_dir=tmp / "voices"), latent_cache=LatentCache(tmp / "latents"),
        device="cpu",
    )  # fmt: skip


SETTINGS = ServerSettings(chunk_tokens=8, first_chunk_tokens=8, max_waiting=4)


@pytest.fixture(scope="module")
def api(tiny_models, tmp_path_factory):
    """(openai client, base URL, engine, recorder) of one server for the module."""
    tts = _tts(tiny_models, tmp_path_factory.mktemp("api"))
    recorder = Recorder(tts)
    engine = SpeechEngine(tts, SETTINGS)
    with serving(engine) as url:
        yield openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120), url, engine, recorder


@pytest.fixture
def client(api):
    api[3].reset()
    return api[0]


def decode(data: bytes, fmt: str) -> tuple[int, int, float]:
    if fmt == "pcm":
        return 24000, 1, len(data) / 2 / 24000
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        n = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.sample_rate, stream.codec_context.channels, n / stream.codec_context.sample_rate


def speak(client, **kw) -> bytes:
    args = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm", "extra_body": {"seed": SEED}}
    return client.audio.speech.create(**{**args, **kw}).content


def test_every_format_decodes_with_its_rate_channels_and_length(client):
    reference = decode(speak(client), "pcm")[2]
    assert reference > 0.5
    for fmt in ("mp3", "opus", "aac", "flac", "wav"):
        response = client.audio.speech.with_raw_response.create(
            model="tts-1", voice="alloy", input=TEXT, response_format=fmt, extra_body={"seed": SEED}
        )
        expected_type = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac"}.get(fmt, f"audio/{fmt}")
        assert response.headers["content-type"] == expected_type
        rate, channels, seconds = decode(response.content, fmt)
        assert (rate, channels) == (DECODED_RATE.get(fmt, 24000), 1), fmt
        assert reference - 0.001 <= seconds <= reference + PADDING.get(fmt, 0.001), fmt


def test_mp3_is_the_default_and_the_same_seed_gives_the_same_audio(client):
    response = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=TEXT,
                                                            extra_body={"seed": SEED})  # fmt: skip
    assert response.headers["content-type"] == "audio/mpeg" and response.headers["x-tortoise-seed"] == str(SEED)
    assert speak(client) == speak(client)
    assert speak(client) != speak(client, extra_body={"seed": SEED + 1})


def test_streaming_response_delivers_bytes_before_the_job_ends(api, client):
    recorder = api[3]
    recorder.gate = threading.Event()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", extra_body={"seed": SEED}
    ) as response:
        chunks = response.iter_bytes()
        first = next(chunks)
        assert first and recorder.active == 1 and recorder.finished == 0  # the job is still held at the gate
        recorder.gate.set()
        rest = b"".join(chunks)
    assert recorder.finished == 1 and len(first + rest) == len(speak(client))


def test_sse_events_carry_the_audio_and_the_usage(client):
    events = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", stream_format="sse", extra_body={"seed": SEED}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    assert usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert audio == speak(client)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_scales_the_duration(client, speed):
    normal = decode(speak(client), "pcm")[2]
    changed = decode(speak(client, speed=speed), "pcm")[2]
    assert changed == pytest.approx(normal / speed, rel=0.02)


def _post(client, body: dict):
    return client.post("/audio/speech", body=body, cast_to=httpx.Response)


@pytest.mark.parametrize(
    ("body", "error", "param", "text"),
    [
        ({"model": "tts-1", "voice": "alloy"}, openai.BadRequestError, "input", "Missing required parameter"),
        ({"model": "tts-1", "voice": "alloy", "input": "  "}, openai.BadRequestError, "input", "empty string"),
        ({"model": "tts-1", "voice": "alloy", "input": "a" * 4097}, openai.BadRequestError, "input", "length 4097"),
        ({"model": "tts-1", "voice": "nobody", "input": "Hi."}, openai.BadRequestError, "voice", "unknown voice"),
        ({"model": "tts-9", "voice": "alloy", "input": "Hi."}, openai.NotFoundError, "model", "does not exist"),
        ({"model": "tts-1", "voice": "alloy", "input": "Hi.", "response_format": "ogg"}, openai.BadRequestError,
         "response_format", "Supported values"),
        ({"model": "tts-1", "voice": "alloy", "input": "Hi.", "speed": 4.5}, openai.BadRequestError, "speed",
         "maximum of 4.0"),
        ({"model": "tts-1", "voice": "alloy", "input": "Hi.", "speed": "fast"}, openai.BadRequestError, "speed",
         "expected a number"),
        ({"model": "tts-1", "voice": "alloy", "input": "Hello [there."}, openai.BadRequestError, "input", "bracket"),
        ({"model": "tts-1", "voice": "alloy", "input": "Hi.", "stream_format": "ws"}, openai.BadRequestError,
         "stream_format", "Supported values"),
    ],
)  # fmt: skip
def test_each_bad_request_raises_the_matching_openai_error(client, body, error, param, text):
    with pytest.raises(error) as caught:
        _post(client, body)
    detail = caught.value.body
    assert detail["param"] == param and text in detail["message"] and detail["type"] == "invalid_request_error"


def test_unknown_fields_and_instructions_are_accepted(client):
    response = _post(client, {"model": "tts-1", "voice": "train_grace", "input": "Hi.", "response_format": "wav",
                              "instructions": "Speak cheerfully.", "something_new": [1, 2], "seed": 3})  # fmt: skip
    assert decode(response.content, "wav")[0] == 24000


def test_out_of_memory_is_a_503_that_is_not_retried(api, client):
    api[3].fail = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(openai.InternalServerError) as caught:
        speak(client)
    assert caught.value.status_code == 503 and caught.value.body["code"] == "out_of_memory"
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_missing_models_are_a_503_naming_the_download(tmp_path):
    engine = SpeechEngine(lambda: _tts(tmp_path / "no-models", tmp_path), SETTINGS)
    with serving(engine) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            speak(client)
    assert caught.value.status_code == 503 and "tortoise-tts models download" in caught.value.body["message"]


def test_listings_and_health(api, client):
    url = api[1]
    ids = [m.id for m in client.models.list()]
    assert ids[:2] == ["tts-1", "tts-1-hd"] and "fast_mode" in ids and client.models.retrieve("tts-1-hd").id
    voices = httpx.get(f"{url}/audio/voices").json()["voices"]
    by_id = {v["id"]: v["voice"] for v in voices}
    assert by_id["train_grace"] == "train_grace" and by_id["alloy"] == "train_grace"
    health = httpx.get(url.removesuffix("/v1") + "/health").json()
    assert health["status"] == "ok" and health["busy"] is False
    missing = httpx.get(f"{url}/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()


def test_two_clients_at_once_are_both_answered_one_after_the_other(api, client):
    results = {}

    def ask(name, seed):
        results[name] = speak(client, extra_body={"seed": seed})

    threads = [threading.Thread(target=ask, args=(n, s)) for n, s in (("a", SEED), ("b", SEED + 4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results["a"]) > 0 and len(results["b"]) > 0
    assert api[3].finished == 2 and api[3].max_active == 1  # queued: never two jobs on the device at once


def test_a_client_that_disconnects_mid_stream_stops_its_job(api, client):
    recorder, engine = api[3], api[2]
    recorder.pad = 100  # ~10 s more of audio unless stopped
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", extra_body={"seed": SEED}
    ) as response:
        next(response.iter_bytes())
    deadline = time.monotonic() + 10
    while (recorder.stopped == 0 or engine.queue.busy) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.stopped == 1 and recorder.finished == 0 and recorder.padded < 30
    assert not engine.queue.busy  # the device is free for the next request
    recorder.pad = 0
    assert len(speak(client)) > 0


def test_the_api_key_is_required_when_set(tiny_models, tmp_path):
    settings = ServerSettings(api_key="sesame", chunk_tokens=8, first_chunk_tokens=8)
    with serving(SpeechEngine(lambda: _tts(tiny_models, tmp_path), settings)) as url:
        wrong = openai.OpenAI(base_url=url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.models.list()
        assert caught.value.body["code"] == "invalid_api_key"
        bare = httpx.post(f"{url}/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Hi."})
        assert bare.status_code == 401 and bare.json()["error"]["message"].startswith("You didn't provide an API key")
        right = openai.OpenAI(base_url=url, api_key="sesame", max_retries=0)
        assert decode(speak(right, response_format="wav"), "wav")[0] == 24000
        big = httpx.post(f"{url}/audio/speech", content=b"{" + b" " * 70_000 + b"}",
                         headers={"authorization": "Bearer sesame", "content-type": "application/json"})  # fmt: skip
        assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_plain_curl_as_the_readme_shows(api, tmp_path):
    out = tmp_path / "speech.mp3"
    body = json.dumps({"model": "tts-1", "input": TEXT, "voice": "alloy", "seed": SEED})
    written = subprocess.run(
        ["curl", "-sS", f"{api[1]}/audio/speech", "-H", "Content-Type: application/json", "-d", body,
         "-o", str(out), "-w", "%{http_code} %{content_type}"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert written == "200 audio/mpeg"
    rate, channels, seconds = decode(out.read_bytes(), "mp3")
    assert (rate, channels) == (24000, 1) and seconds > 0


def test_the_device_queue_is_fair_and_bounded():
    from tortoise.server.jobs import Cancelled, DeviceQueue, QueueFull

    queue, order = DeviceQueue(max_waiting=2), []
    held = threading.Event()

    def job(name, wait=None):
        with queue.turn():
            order.append(name)
            if wait is not None:
                held.set()
                wait.wait(5)

    release = threading.Event()
    first = threading.Thread(target=job, args=("first", release))
    first.start()
    held.wait(5)
    later = [threading.Thread(target=job, args=(n,)) for n in ("second", "third")]
    for t in later:
        t.start()
        time.sleep(0.05)
    with pytest.raises(QueueFull), queue.turn():
        pass
    gone = threading.Event()
    gone.set()
    release.set()
    for t in (first, *later):
        t.join(5)
    assert order == ["first", "second", "third"] and not queue.busy and queue.completed == 3
    with pytest.raises(Cancelled), queue.turn(gone):  # the device is free, but a cancelled waiter does not start
        pytest.fail("a cancelled waiter got its turn")
    assert queue.waiting == 0


def test_serve_refuses_another_address_without_a_key(capsys, monkeypatch):
    from tortoise.cli import main
    from tortoise.server.command import is_loopback

    monkeypatch.delenv("TORTOISE_API_KEY", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "--api-key" in capsys.readouterr().err


def test_the_serve_command_starts_a_server(tiny_models, tmp_path):
    import os
    import sys

    port = _free_port()
    env = {**os.environ, "TORTOISE_VOICES_DIR": str(tmp_path / "voices"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tortoise", "serve", "--port", str(port), "--models-dir", str(tiny_models),
         "--device", "cpu", "--map-model", "tiny=ultra_fast"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert "tiny" in [m["id"] for m in models["data"]]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/v1" in output
