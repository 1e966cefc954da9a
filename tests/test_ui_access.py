"""Who may use the app (``ui.access``): the password and API-key rule from ``--host``/``--share``, the start message,
and the launcher's options; the API mounted on the app (``ui.api``) in-process: the app's settings, no other origins.
The app in its own process with the API (taking turns with a generation, the 401 off loopback) is
``tests/browser/test_app_api.py``."""

from __future__ import annotations

import pytest

from tortoise.errors import InvalidInputError
from ui.access import USER, decide, is_exposed, startup_lines
from ui.launch import parse_args


@pytest.mark.parametrize(
    ("host", "share", "exposed"),
    [
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("127.0.0.2", False, False),
        ("0.0.0.0", False, True),
        ("192.168.1.20", False, True),
        ("::", False, True),
        ("myhost.lan", False, True),
        ("127.0.0.1", True, True),  # the gradio.live link reaches the same server
    ],
)
def test_exposed_is_anything_but_loopback(host, share, exposed):
    assert is_exposed(host, share) is exposed
    access = decide(host, share=share)
    assert (access.password is not None) is exposed and (access.api_key is not None) is exposed
    assert (access.auth is not None) is exposed


def test_an_exposed_app_gets_a_password_and_a_key_made_for_the_run():
    a, b = decide("0.0.0.0"), decide("0.0.0.0")
    assert a.made_password and a.made_key and a.auth == [(USER, a.password)]
    assert len(a.password) >= 16 and len(a.api_key) >= 32 and a.password != b.password and a.api_key != b.api_key
    assert not a.password.startswith("-") and not a.api_key.startswith("-"), "pasted after an option, never one"
    lines = startup_lines(a, "http://0.0.0.0:7860/", api=True)
    assert f"log in as 'tortoise' with the password {a.password}" in lines[0] and "--password" in lines[0]
    assert "http://0.0.0.0:7860/v1" in lines[1] and a.api_key in lines[1] and "Bearer" in lines[1]


def test_given_secrets_are_used_and_not_printed():
    access = decide("0.0.0.0", password="pw", api_key="sesame")
    assert access.auth == [(USER, "pw")] and access.api_key == "sesame"
    assert not access.made_password and not access.made_key
    text = "\n".join(startup_lines(access, "http://0.0.0.0:7860/", api=True))
    assert "pw" not in text.replace("password", "") and "sesame" not in text and "with your password" in text
    on_loopback = decide("127.0.0.1", password="pw", api_key="sesame")  # asked for: used on loopback too
    assert on_loopback.auth == [(USER, "pw")] and on_loopback.api_key == "sesame" and not on_loopback.exposed


def test_opting_out_of_the_password_keeps_the_api_key_and_warns():
    access = decide("0.0.0.0", no_password=True)
    assert access.auth is None and access.api_key and access.made_key
    lines = startup_lines(access, "http://0.0.0.0:7860/", api=True)
    assert lines[0].startswith("warning: no password (--no-password): anyone who can reach http://0.0.0.0:7860/")
    with pytest.raises(InvalidInputError, match="contradict"):
        decide("0.0.0.0", password="pw", no_password=True)


def test_loopback_message_and_no_api():
    access = decide("127.0.0.1")
    assert startup_lines(access, "http://127.0.0.1:7860/", api=True) == [
        "OpenAI-compatible speech API at http://127.0.0.1:7860/v1 (no API key: this computer only)"
    ]
    off = decide("0.0.0.0", api=False)
    assert off.api_key is None and off.password
    assert startup_lines(off, "http://0.0.0.0:7860/", api=False)[-1] == "Speech API off (--no-api)"


def test_launcher_options(monkeypatch):
    for var in ("TORTOISE_API_KEY", "TORTOISE_APP_PASSWORD", "TORTOISE_APP_NO_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    args = parse_args([])
    assert args.api and args.api_key is None and args.password is None and not args.no_password
    assert not parse_args(["--no-api"]).api
    monkeypatch.setenv("TORTOISE_APP_NO_PASSWORD", "1")
    monkeypatch.setenv("TORTOISE_APP_PASSWORD", "from-env")
    monkeypatch.setenv("TORTOISE_API_KEY", "key-from-env")
    args = parse_args(["--map-voice", "alloy=train_daws", "--map-model", "tts-1=ultra_fast"])
    assert args.no_password and args.password == "from-env" and args.api_key == "key-from-env"
    assert args.map_voice == ["alloy=train_daws"] and args.map_model == ["tts-1=ultra_fast"]


def _app_env(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("TORTOISE_VOICES_DIR", "TORTOISE_OUTPUT_DIR", "TORTOISE_MODELS_DIR", "TORTOISE_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_bad_maps_or_contradictions_stop_the_start(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gradio")
    from ui.launch import main

    _app_env(tmp_path, monkeypatch)
    base = ["--no-browser", "--models-dir", str(tmp_path / "m"), "--device", "cpu", "--no-warm-up"]
    assert main([*base, "--map-model", "tts-1=nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main([*base, "--map-voice", "alloy"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main([*base, "--password", "x", "--no-password"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_the_mounted_api_follows_the_app_settings_and_refuses_other_origins(tmp_path, monkeypatch, tiny_models):
    pytest.importorskip("gradio")
    import dataclasses
    import shutil

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tortoise.voices import builtin_voices_dirs
    from ui.engine import Engine
    from ui.launch import access_for
    from ui.state import Settings

    _app_env(tmp_path, monkeypatch)
    engine = Engine(Settings(models_dir=str(tiny_models), device="cpu"))
    args = parse_args(["--map-voice", "alloy=train_daws"])
    access, served = access_for(args, engine)
    assert served["auth"] is None and access.api_key is None
    client = TestClient(FastAPI(**served["app_kwargs"]))
    voices = {v["id"]: v["voice"] for v in client.get("/v1/audio/voices").json()["voices"]}
    assert voices["alloy"] == "train_daws" and "mine" not in voices
    # a voice folder added in Settings is served from the next request on, without a restart
    (tmp_path / "more" / "mine").mkdir(parents=True)
    shutil.copy(builtin_voices_dirs()[0] / "train_grace" / "1.wav", tmp_path / "more" / "mine" / "1.wav")
    engine.apply(dataclasses.replace(engine.settings, voices_dirs=(str(tmp_path / "more"),)), persist=False)
    voices = {v["id"] for v in client.get("/v1/audio/voices").json()["voices"]}
    assert "mine" in voices
    assert client.get("/health").json()["busy"] is False
    refused = client.get("/v1/models", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    same = client.get("/v1/models", headers={"Origin": "http://testserver"})
    assert same.status_code == 200 and same.json()["object"] == "list"


def test_the_mounted_api_without_models_says_what_to_download(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.api import launch_kwargs, server_settings
    from ui.engine import Engine
    from ui.state import Settings

    _app_env(tmp_path, monkeypatch)
    engine = Engine(Settings(models_dir=str(tmp_path / "no-models"), device="cpu"))
    client = TestClient(FastAPI(**launch_kwargs(engine, server_settings(parse_args([]), None))["app_kwargs"]))
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello.", "voice": "alloy"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_available"
    assert "download" in r.json()["error"]["message"] and engine.queue.completed == 1 and not engine.queue.busy
