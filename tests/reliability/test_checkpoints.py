"""Bad checkpoints on disk: truncated, corrupt, empty, wrong contents, bad manifests; each names the file and the fix.

Download faults (dropped connection, cancel, corrupt or short download, hash mismatch) are in tests/test_weights.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from tests.reliability.helpers import QUICK_CLI, one_line, quick
from tortoise.errors import CheckpointError, ModelNotFoundError


@pytest.fixture
def models(tiny_models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(tiny_models, folder)
    return folder


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "tail":
        path.write_bytes(data[:-10])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(os.urandom(4096))
    elif how == "html":  # what a captive portal or an error page saves instead of the file
        path.write_text("<html><body>404 Not Found</body></html>")
    elif how == "not-a-state-dict":
        torch.save([1, 2, 3], path)
    elif how == "other-model":
        torch.save({"encoder.weight": torch.zeros(4, 4)}, path)


def _tts(models, **kwargs):
    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.voices import VoiceLibrary

    root = models.parent
    voices, cache = VoiceLibrary(user_dir=root / "voices"), LatentCache(root / "latents")
    return TextToSpeech(
        models_dir=models, device="cpu", voices=voices, latent_cache=cache, enable_redaction=False, **kwargs
    )


DAMAGE = ["half", "tail", "empty", "random", "html", "not-a-state-dict", "other-model"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_checkpoint_names_the_file_and_the_fix(models, how):
    _damage(models / "rlg_auto.pth", how)
    tts = _tts(models)
    with pytest.raises(CheckpointError, match=r"rlg_auto\.pth") as e:
        tts.tts("Hi.", "random", quick())
    if how in ("half", "tail", "empty", "random", "html"):
        assert "download it again" in str(e.value)
    else:
        assert "right file" in str(e.value) or "state dict" in str(e.value)


def test_damaged_checkpoint_through_the_cli_is_one_line(cli, models):
    _damage(models / "autoregressive.pth", "half")
    code, _, err = cli("Hi.", "-o", "out.wav", *QUICK_CLI, "--models-dir", str(models), models=False)
    assert code == 1 and one_line(err) and "autoregressive.pth" in err and "tortoise-tts models download" in err


def test_size_differing_from_the_manifest_record_is_caught_cheaply(models):
    from tortoise.weights import checkpoint_path, record, sha256_file

    path = models / "vocoder.pth"
    record(models, path.name, sha256=sha256_file(path), size=path.stat().st_size, source="test")
    _damage(path, "tail")
    with pytest.raises(CheckpointError, match=r"truncated.*models download vocoder"):
        checkpoint_path("vocoder", models)


def test_same_size_corruption_is_found_by_verify(models):
    from tortoise.weights import record, sha256_file, verify

    path = models / "vocoder.pth"
    record(models, path.name, sha256=sha256_file(path), size=path.stat().st_size, source="test")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (check,) = [c for c in verify(["vocoder"], models) if c.checkpoint.name == "vocoder"]
    assert check.problem and "models download vocoder" in check.problem


def test_a_folder_where_a_checkpoint_should_be(models):
    (models / "rlg_auto.pth").unlink()
    (models / "rlg_auto.pth").mkdir()
    with pytest.raises(ModelNotFoundError, match="tortoise-tts models download rlg_auto"):
        _tts(models).tts("Hi.", "random", quick())


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"configs": {"rlg_auto": 5}}'])
def test_broken_model_configuration_manifest(models, content):
    (models / "tortoise-models.json").write_text(content)
    with pytest.raises(CheckpointError, match=r"tortoise-models\.json"):
        _tts(models).tts("Hi.", "random", quick())


def test_broken_download_manifest_counts_as_no_record(models):
    from tortoise.weights import read_manifest, status

    (models / "manifest.json").write_text("{broken")
    assert read_manifest(models) == {}
    assert {s.state for s in status(models) if s.path.is_file()} == {"unverified"}


def test_damaged_fine_tuned_checkpoint_is_named(models, tmp_path):
    custom = tmp_path / "my_finetune.pth"
    custom.write_bytes((models / "autoregressive.pth").read_bytes()[:1000])
    tts = _tts(models, checkpoints={"autoregressive": custom})
    with pytest.raises(CheckpointError, match=r"my_finetune\.pth"):
        tts.tts("Hi.", "random", quick())
