"""Safety: no pickled code runs from any file we read, nothing runs from voice folders, names cannot escape folders."""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from tests.reliability.helpers import BUILTIN_CLIP, QUICK_CLI, REPO, PickleBomb, one_line, quick
from tests.tiny_wav2vec import tiny_config
from tortoise.errors import CheckpointError, InvalidInputError, VoiceError
from tortoise.voices import VoiceLibrary

SCANNED = [*sorted((REPO / "tortoise").rglob("*.py")), *sorted((REPO / "ui").rglob("*.py")), REPO / "launch.py"]


# --- code scan -------------------------------------------------------------------------------------------------


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_every_torch_load_is_weights_only():
    found = []
    for path in SCANNED:
        for node, name in _calls(path):
            if name in ("torch.load", "torch.serialization.load"):
                kw = {k.arg: k.value for k in node.keywords}
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                found.append((f"{path.relative_to(REPO)}:{node.lineno}", ok))
    assert found, "the scan found no torch.load at all: is it still looking at the right files?"
    assert [where for where, ok in found if not ok] == []


@pytest.mark.parametrize(
    "forbidden",
    ["pickle.load", "pickle.loads", "dill.load", "joblib.load", "cloudpickle.load", "torch.jit.load", "eval", "exec",
     "yaml.load", "yaml.unsafe_load", "marshal.loads", "shelve.open", "runpy.run_path", "runpy.run_module"],
)  # fmt: skip
def test_no_unsafe_deserialisation_or_code_execution(forbidden):
    hits = [f"{p.relative_to(REPO)}:{n.lineno}" for p in SCANNED for n, name in _calls(p) if name == forbidden]
    assert hits == []


def test_no_pickle_allowing_loaders_remote_code_or_computed_imports():
    for path in SCANNED:
        for node, name in _calls(path):
            if name in ("importlib.import_module", "__import__"):  # only fixed, known module names
                assert all(isinstance(a, ast.Constant) for a in node.args), f"{path}:{node.lineno}"
            kw = {k.arg: k.value for k in node.keywords}
            for flag in ("allow_pickle", "trust_remote_code"):
                value = kw.get(flag)
                assert not (isinstance(value, ast.Constant) and value.value is True), f"{path}:{node.lineno} {flag}"


# --- malicious files are refused without running -------------------------------------------------------------


def _bomb_checkpoint(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    obj = {"weight": torch.zeros(2), "payload": PickleBomb(marker)}
    if legacy:
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    else:
        torch.save(obj, path)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_malicious_checkpoint_is_refused_without_running_its_code(tmp_path, legacy):
    from tortoise.loading import read_state_dict

    marker = tmp_path / "code-ran"
    path = _bomb_checkpoint(tmp_path / "autoregressive.pth", marker, legacy=legacy)
    with pytest.raises(CheckpointError, match=r"autoregressive\.pth .*download it again"):
        read_state_dict(path)
    assert not marker.exists()


def test_malicious_checkpoint_in_the_models_folder_through_the_cli(cli, tiny_models, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    marker = tmp_path / "code-ran"
    _bomb_checkpoint(models / "rlg_auto.pth", marker)
    code, _, err = cli("Hi.", "-o", "out.wav", *QUICK_CLI, "--models-dir", str(models), models=False)
    assert code == 1 and one_line(err) and "rlg_auto.pth" in err and not marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_malicious_latents_in_a_voice_folder_are_refused_without_running(tts_factory, tmp_path, legacy):
    marker = tmp_path / "code-ran"
    folder = tmp_path / "user-voices" / "evil"
    folder.mkdir(parents=True)
    _bomb_checkpoint(folder / "latents.pth", marker, legacy=legacy)
    with pytest.raises(VoiceError, match=r"latents\.pth"):
        tts_factory(enable_redaction=False).tts("Hi.", "evil", quick())
    assert not marker.exists()


def test_malicious_latent_cache_entry_is_discarded_without_running(tts_factory, tmp_path):
    tts = tts_factory(enable_redaction=False)
    tts.tts("Hi.", "train_grace", quick())
    (entry,) = (tmp_path / "latent-cache").iterdir()
    marker = tmp_path / "code-ran"
    _bomb_checkpoint(entry, marker)
    assert tts_factory(enable_redaction=False).tts("Hi.", "train_grace", quick()).audio[0].numel() > 0
    assert not marker.exists()


def test_malicious_aligner_weights_are_refused_without_running(tmp_path):
    pytest.importorskip("transformers")
    from tortoise.redaction import Wav2VecAligner

    marker = tmp_path / "code-ran"
    cache = tmp_path / "hf"

    def put(repo: str, files: dict) -> None:
        base = cache / f"models--{repo.replace('/', '--')}"
        snapshot = base / "snapshots" / ("0" * 40)
        snapshot.mkdir(parents=True)
        (base / "refs").mkdir()
        (base / "refs" / "main").write_text("0" * 40)
        for name, write in files.items():
            write(snapshot / name)

    cfg = tiny_config(30)
    put("evil/model", {"config.json": lambda p: p.write_text(cfg.to_json_string()),
                       "pytorch_model.bin": lambda p: _bomb_checkpoint(p, marker)})  # fmt: skip
    put("evil/vocab", {"vocab.json": lambda p: p.write_text(json.dumps({"<pad>": 0, "|": 1, "a": 2}))})
    aligner = Wav2VecAligner(model_id="evil/model", vocab_id="evil/vocab", cache_dir=cache, local_files_only=True)
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        aligner.load()
    assert not marker.exists()


def test_nothing_in_a_voice_folder_is_executed(tts_factory, tmp_path):
    import shutil

    marker = tmp_path / "code-ran"
    folder = tmp_path / "user-voices" / "tricky"
    folder.mkdir(parents=True)
    shutil.copy(BUILTIN_CLIP, folder / "1.wav")
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for name in ("__init__.py", "voice.py", "setup.py", "conftest.py", "sitecustomize.py"):
        (folder / name).write_text(code)
    (folder / "voice.json").write_text(json.dumps({"name": "tricky", "exec": code}))
    (folder / "run.sh").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (folder / "run.sh").chmod(0o755)
    tts = tts_factory(enable_redaction=False)
    assert "tricky" in tts.voices.names()
    assert tts.tts("Nothing runs.", "tricky", quick()).audio[0].numel() > 0
    assert not marker.exists()


# --- names cannot escape their folders -------------------------------------------------------------------------

ESCAPES = ["..", "../x", "../../etc/passwd", "/etc", "a/b", "a\\b", "..\\..\\x", "x\x00y", "~root", "./.."]


@pytest.mark.parametrize("name", ESCAPES)
def test_voice_lookup_refuses_paths(tmp_path, name):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "1.wav").write_bytes(BUILTIN_CLIP.read_bytes())
    library = VoiceLibrary(user_dir=tmp_path / "voices")
    with pytest.raises(VoiceError):
        library.get(name)


@pytest.mark.parametrize("voice", ["../outside", "train_grace&../outside", "random&/etc"])
def test_cli_voice_paths_are_one_line_errors(cli, tmp_path, voice):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "1.wav").write_bytes(BUILTIN_CLIP.read_bytes())
    code, _, err = cli("Hi.", "-v", voice, "-O", "out", *QUICK_CLI)
    assert code == 1 and one_line(err) and "invalid voice name" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", [*ESCAPES[1:], "../../voices/../../x", "con", "", "   ", "..."])
def test_prepared_voice_stays_inside_the_voices_folder(tmp_path, name):
    from tortoise.voiceprep import prepare_voice

    voices = tmp_path / "sandbox" / "voices"
    try:
        report = prepare_voice([BUILTIN_CLIP], name, voices_dir=voices)
    except (InvalidInputError, VoiceError):
        assert not (tmp_path / "sandbox").exists() or all(p.is_relative_to(voices) for p in voices.rglob("*"))
        return
    assert report.voice_dir is not None and report.voice_dir.parent == voices.resolve()
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(voices) and p.is_file()]
    assert outside == []


def test_uploaded_file_names_never_become_output_names(tmp_path):
    from tortoise.voiceprep import prepare_voice

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    weird = uploads / "..%2F..%2Fevil $(touch x) ; rm -rf.wav"
    weird.write_bytes(BUILTIN_CLIP.read_bytes())
    report = prepare_voice([weird], "mine", voices_dir=tmp_path / "voices")
    written = sorted(p.name for p in report.voice_dir.iterdir())
    assert written and all(n == "voice.json" or (n.startswith("clip_") and n.endswith(".wav")) for n in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads", "voices"]


def test_symlinked_voice_folder_out_of_the_voices_folder_is_not_replaced(tmp_path):
    from tortoise.voiceprep import prepare_voice

    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    voices = tmp_path / "voices"
    voices.mkdir()
    os.symlink(outside, voices / "mine")
    with pytest.raises(VoiceError):
        prepare_voice([BUILTIN_CLIP], "mine", voices_dir=voices, overwrite=True)
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


def test_latent_cache_file_names_come_from_voice_folders_only(tmp_path):
    from tortoise.conditioning import LatentCache

    library = VoiceLibrary(user_dir=tmp_path / "voices")
    (tmp_path / "voices" / "ok").mkdir(parents=True)
    (tmp_path / "voices" / "ok" / "1.wav").write_bytes(BUILTIN_CLIP.read_bytes())
    path = LatentCache(tmp_path / "cache").path(library.get("ok"), "models")
    assert path.parent == tmp_path / "cache" and path.name.startswith("ok-")
