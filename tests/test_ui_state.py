"""Settings file (atomic, tolerant), the Settings tab's handlers, and Engine.apply without a restart."""

from __future__ import annotations

import json

import pytest

from tortoise.errors import CheckpointError, InvalidInputError
from ui import settings_tab, state
from ui.engine import Engine
from ui.state import Settings


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("TORTOISE_OUTPUT_DIR", "TORTOISE_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)


def test_round_trip_in_xdg_config(tmp_path):
    assert state.config_path() == tmp_path / "config" / "tortoise-tts" / "settings.json"
    assert state.load() == (Settings(), [])
    s = Settings(device="cpu", precision="bf16", batch_size=4, default_preset="standard", voices_dirs=("/v",))
    path = state.save(s)
    assert state.load() == (s, [])
    assert json.loads(path.read_text())["voices_dirs"] == ["/v"]
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"], "no temp file left behind"
    assert state.default_output_dir() == tmp_path / "data" / "tortoise-tts" / "outputs"


def test_bad_file_and_values_fall_back(tmp_path):
    path = state.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    settings, notes = state.load()
    assert settings == Settings() and "could not read" in notes[0]
    path.write_text(json.dumps({"precision": "fp8", "batch_size": -2, "device": "cpu", "colour": "red"}))
    settings, notes = state.load()
    assert settings == Settings(device="cpu")
    for word in ("colour", "precision", "batch"):
        assert any(word in n for n in notes), word
    with pytest.raises(InvalidInputError, match="preset"):
        state.save(Settings(default_preset="nope"))


def test_settings_tab_saves_and_applies_without_restart(tiny_models, tmp_path):
    engine = Engine(Settings(models_dir=str(tiny_models), device="cpu"))
    tts = engine.tts()
    values = settings_tab.form_values(engine.settings)
    assert values["models_dir"] == str(tiny_models) and values["preset"] == "fast"
    message = settings_tab.save(engine, {**values, "preset": "standard", "output_dir": str(tmp_path / "out")})
    assert "Applied" in message and engine.tts() is tts, "preset and output folder need no new pipeline"
    assert state.load()[0].default_preset == "standard"
    assert engine.history().root == tmp_path / "out"
    message = settings_tab.save(engine, {**values, "precision": "bf16", "batch_size": "2"})
    assert "next job" in message
    new = engine.tts()
    assert new is not tts and str(new.dtype) == "torch.bfloat16" and new.batch_size(None, 0) == 2
    with pytest.raises(InvalidInputError, match="batch size"):
        settings_tab.save(engine, {**values, "batch_size": "many"})


def test_model_status_import_and_banner(tiny_models, tmp_path):
    engine = Engine(Settings(models_dir=str(tmp_path / "models"), device="cpu"))
    assert "autoregressive.pth" in settings_tab.missing_banner(engine)
    rows = {r[0]: r for r in settings_tab.model_rows(engine)}
    assert rows["autoregressive"][1] == "missing" and rows["autoregressive"][3] == "yes"
    # the library's size check refuses the tiny files: its per-file reason is shown
    message = settings_tab.import_models(engine, str(tiny_models))
    assert "autoregressive.pth" in message and "truncated" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError):  # the app shows the library's message in a dialog
        settings_tab.import_models(engine, str(empty))
    from tortoise.model_zoo import write_tiny_models

    write_tiny_models(tmp_path / "models")
    assert settings_tab.missing_banner(engine) == ""
    assert settings_tab.download_missing(engine) == "Every required model is present."
    with pytest.raises(InvalidInputError, match="folder"):
        settings_tab.import_models(engine, " ")


def test_doctor_and_devices():
    engine = Engine(Settings(device="cpu"))
    assert "chosen device" in settings_tab.doctor_text(engine, smoke=False)
    assert settings_tab.device_choices("xpu:3")[0] == "auto" and "cpu" in settings_tab.device_choices()
    assert "xpu:3" in settings_tab.device_choices("xpu:3")
