"""Voices tab handlers: a real recording -> checked and saved voice (latents cached with the tiny models),
preview, list with cache state, rename, delete, and the refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("pyloudnorm")

from tortoise.errors import InvalidInputError, VoiceError
from tortoise.voices import builtin_voices_dirs
from ui import strings as S
from ui import voices_tab
from ui.engine import Engine

CLIP = builtin_voices_dirs()[0] / "train_grace" / "1.wav"  # real speech shipped with the project
DEFAULTS = {"denoise": True, "denoise_strength": 0.85, "highpass": True, "trim": True, "normalize": True,
            "slice": True, "keep_rejected": False}  # fmt: skip


@pytest.fixture
def engine(app_engine):
    return app_engine


def row(engine, name):
    return next(r for r in voices_tab.voice_rows(engine) if r[0] == name)


def test_check_then_save_a_voice_with_cached_latents(engine, tmp_path):
    upload = tmp_path / "upload" / "my take.wav"
    upload.parent.mkdir()
    shutil.copy(CLIP, upload)
    before = upload.read_bytes()
    summary, rows, details, report = voices_tab.prepare(engine, [str(upload)], None, "", DEFAULTS, save=False)
    assert summary.startswith("Checked") and rows and report.voice_dir is None
    assert rows[0][1] == "my take.wav" and rows[0][7] in ("good", "warn")
    assert "denoise" in details and not engine.library().user_dir.exists()

    fractions = []
    summary, rows, details, report = voices_tab.prepare(
        engine, [str(upload)], None, "../My Voice", DEFAULTS, save=True, progress=lambda f, desc: fractions.append(f)
    )
    folder = engine.library().user_dir / "My_Voice"
    assert report.voice_dir == folder and "Saved voice **My_Voice**" in summary
    assert (folder / "voice.json").is_file() and list(folder.glob("clip_*.wav"))
    assert upload.read_bytes() == before, "the original is never changed"
    assert fractions and fractions[-1] == 1.0
    assert row(engine, "My_Voice") == ["My_Voice", str(len(report.saved_clips)), S.CACHED_YES, S.WHERE_USER]
    assert row(engine, "train_grace")[2:] == [S.CACHED_NO, S.WHERE_BUILTIN]
    assert "My_Voice" in voices_tab.voice_choices(engine)
    assert voices_tab.first_clip(engine, "My_Voice").endswith("clip_01.wav")

    with pytest.raises(VoiceError, match="already exists"):
        voices_tab.prepare(engine, [str(upload)], None, "My_Voice", DEFAULTS, save=True)


def test_microphone_take_and_preview(engine):
    import soundfile as sf

    data, sr = sf.read(CLIP, dtype="int16")
    mic = (sr, data)
    assert voices_tab.source_names([], mic) == ["microphone"]
    (sr1, before), (sr2, after) = voices_tab.preview([], mic, "microphone", DEFAULTS)
    assert sr1 == sr2 == 22050 and before.size > 0 and 0 < after.size <= before.size
    off = {**DEFAULTS, "denoise": False, "trim": False, "normalize": False}
    _, (_, untouched) = voices_tab.preview([], mic, None, off)
    assert untouched.size == before.size and np.isfinite(untouched).all()


def test_rename_and_delete_only_own_voices(engine, tmp_path):
    voices_tab.prepare(engine, [str(CLIP)], None, "first", DEFAULTS, save=True)
    assert voices_tab.rename(engine, "first", "second one") == "second_one"
    names = voices_tab.voice_choices(engine)
    assert "second_one" in names and "first" not in names
    assert json.loads((engine.library().user_dir / "second_one" / "voice.json").read_text())["name"] == "second_one"
    with pytest.raises(VoiceError, match="built-in"):
        voices_tab.rename(engine, "train_grace", "mine")
    with pytest.raises(VoiceError, match="built-in"):
        voices_tab.delete(engine, "train_grace")
    assert (builtin_voices_dirs()[0] / "train_grace").is_dir()
    voices_tab.prepare(engine, [str(CLIP)], None, "third", DEFAULTS, save=True)
    with pytest.raises(VoiceError, match="already exists"):
        voices_tab.rename(engine, "third", "second_one")
    with pytest.raises(InvalidInputError):
        voices_tab.rename(engine, "third", "../..")
    voices_tab.delete(engine, "second_one")
    assert not (engine.library().user_dir / "second_one").exists()
    with pytest.raises(VoiceError, match="unknown voice"):
        voices_tab.delete(engine, "second_one")


def test_refusals(engine):
    with pytest.raises(InvalidInputError, match="recording"):
        voices_tab.prepare(engine, [], None, "x", DEFAULTS, save=True)
    with pytest.raises(InvalidInputError, match="name"):
        voices_tab.prepare(engine, [str(CLIP)], None, "  ", DEFAULTS, save=True)
    with pytest.raises(InvalidInputError, match="recording"):
        voices_tab.preview(None, None, None, DEFAULTS)


def test_without_models_voices_still_work(tmp_path, engine):
    import dataclasses

    bare = Engine(dataclasses.replace(engine.settings, models_dir=str(tmp_path / "none")))
    _, _, _, report = voices_tab.prepare(bare, [str(CLIP)], None, "nomodels", DEFAULTS, save=True)
    assert report.voice_dir is not None and not report.warnings
    assert row(bare, "nomodels")[2] == S.CACHED_UNKNOWN
