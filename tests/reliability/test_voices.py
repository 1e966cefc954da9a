"""Voice folders on disk: mixed junk, broken clips, read-only folders and caches, bad latents files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.reliability.helpers import BUILTIN_CLIP, QUICK_CLI, leftovers, one_line, quick
from tortoise.errors import VoiceError
from tortoise.voices import VoiceLibrary


def _junk_voice(root: Path, name: str = "junky") -> Path:
    """A voice folder as users leave them: one good clip among notes, images, scripts, sub-folders, hidden files."""
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(BUILTIN_CLIP, folder / "good.wav")
    (folder / "notes.txt").write_text("recorded in the kitchen")
    (folder / "cover.jpg").write_bytes(os.urandom(256))
    (folder / "script.py").write_text("raise SystemExit('voice folders must never be executed')")
    (folder / "sub").mkdir()
    (folder / "sub" / "nested.wav").write_bytes(b"not even audio")
    (folder / ".DS_Store").write_bytes(b"\0\1\2")
    (folder / "._good.wav").write_bytes(b"\0\5\x16\x07")  # macOS resource fork: hidden, ignored
    return folder


def test_junk_files_are_ignored(tmp_path):
    _junk_voice(tmp_path / "voices")
    voice = VoiceLibrary(user_dir=tmp_path / "voices").get("junky")
    assert [p.name for p in voice.clips] == ["good.wav"] and voice.latents is None


def test_broken_clips_are_skipped_with_a_warning_naming_them(tts_factory, tmp_path):
    folder = _junk_voice(tmp_path / "user-voices")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00junk")
    (folder / "empty.mp3").write_bytes(b"")
    sf.write(folder / "silent.flac", np.zeros(22050, np.float32), 22050)
    tts = tts_factory(enable_redaction=False)
    with pytest.warns(UserWarning, match="voice 'junky': skipped a clip") as record:
        result = tts.tts("Still works.", "junky", quick())
    assert result.audio[0].numel() > 0
    skipped = " ".join(str(w.message) for w in record)
    assert all(name in skipped for name in ("broken.wav", "empty.mp3", "silent.flac"))


def test_a_voice_with_no_usable_clip_is_a_clear_error(tts_factory, tmp_path, cli):
    folder = tmp_path / "user-voices" / "hopeless"
    folder.mkdir(parents=True)
    (folder / "a.wav").write_text("text, not audio")
    sf.write(folder / "b.wav", np.zeros(1000, np.float32), 22050)
    tts = tts_factory(enable_redaction=False)
    with pytest.warns(UserWarning), pytest.raises(VoiceError, match="voice 'hopeless' has no usable clip in"):
        tts.tts("Hi.", "hopeless", quick())
    code, _, err = cli("Hi.", "-v", "hopeless", "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and "no usable clip" in err


def test_voice_folder_is_never_written_even_when_read_only(tts_factory, tmp_path):
    folder = _junk_voice(tmp_path / "user-voices")
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    folder.chmod(0o555)
    try:
        result = tts_factory(enable_redaction=False).tts("Read only.", "junky", quick())
    finally:
        folder.chmod(0o755)
    assert result.audio[0].numel() > 0
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before


def test_unwritable_latent_cache_warns_and_generation_goes_on(tts_factory, tmp_path, monkeypatch):
    import tortoise.audio_io as audio_io

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(audio_io.tempfile, "mkstemp", denied)  # what a read-only folder does (tests may run as root)
    tts = tts_factory(enable_redaction=False)
    with pytest.warns(UserWarning, match="cannot cache the latents of voice 'train_grace'"):
        result = tts.tts("No cache.", "train_grace", quick())
    assert result.audio[0].numel() > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_latent_cache_for_real(tts_factory, tmp_path):
    cache = tmp_path / "latent-cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="cannot cache"):
            tts_factory(enable_redaction=False).tts("No cache.", "train_grace", quick())
    finally:
        cache.chmod(0o755)


def test_corrupt_latent_cache_entry_is_recomputed(tts_factory, tmp_path):
    tts = tts_factory(enable_redaction=False)
    first = tts.tts("Cached.", "train_grace", quick()).audio[0]
    (entry,) = (tmp_path / "latent-cache").iterdir()
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    again = tts_factory(enable_redaction=False).tts("Cached.", "train_grace", quick()).audio[0]
    assert np.allclose(first.numpy(), again.numpy(), atol=1e-5)
    assert entry.stat().st_size > 100 and not leftovers(tmp_path / "latent-cache")


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, "pickle"])
def test_bad_latents_file_in_a_voice_folder_is_a_clear_error(tts_factory, tmp_path, content):
    import pickle

    folder = tmp_path / "user-voices" / "saved"
    folder.mkdir(parents=True)
    data = pickle.dumps({"ar": [1, 2, 3]}) if content == "pickle" else content
    (folder / "latents.pth").write_bytes(data)
    with pytest.raises(VoiceError, match=r"latents\.pth"):
        tts_factory(enable_redaction=False).tts("Hi.", "saved", quick())


def test_latents_of_the_wrong_kind_are_refused(tts_factory, tmp_path):
    import torch

    folder = tmp_path / "user-voices" / "saved"
    folder.mkdir(parents=True)
    torch.save({"weights": torch.zeros(3)}, folder / "latents.pth")
    with pytest.raises(VoiceError, match="must hold two tensors"):
        tts_factory(enable_redaction=False).tts("Hi.", "saved", quick())


def test_voice_prep_into_a_read_only_voices_folder_is_a_clear_error(tmp_path, monkeypatch):
    from tortoise.voiceprep import prepare_voice

    source = BUILTIN_CLIP

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)  # root ignores chmod: simulate the read-only folder
    with pytest.raises(VoiceError, match="cannot write to the voices folder"):
        prepare_voice([source], "mine", voices_dir=tmp_path / "voices")


def test_voice_prep_failure_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    from tortoise.voiceprep import prepare, prepare_voice

    source = BUILTIN_CLIP
    voices = tmp_path / "voices"
    voices.mkdir()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepare, "save_audio", disk_full)
    with pytest.raises(OSError, match="No space"):
        prepare_voice([source], "mine", voices_dir=voices)
    assert list(voices.iterdir()) == []  # no half-written voice, no hidden temporary folder
