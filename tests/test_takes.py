"""Takes and seeds: a rerun is a new take, an explicit seed repeats one (in another process, at another batch size),
a resume keeps the stored seeds, numbers agree between files and messages, and metadata says what made the audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.golden.fixtures import REPO_ROOT
from tortoise.audio_io import read_metadata
from tortoise.errors import InvalidInputError
from tortoise.longform import COMBINED, PLAN, generate_long, parse_regenerate, segment_file
from tortoise.options import preset

TEXT = "The first part is here. | The second part follows. | The third part ends it."


def quick(**overrides):
    settings = dict(num_autoregressive_samples=2, diffusion_steps=2, max_mel_tokens=24, seed=None)
    return preset("ultra_fast", **{**settings, **overrides})


@pytest.fixture
def tts(tts_factory):
    return tts_factory(enable_redaction=False)


def audio(path: Path) -> np.ndarray:
    return sf.read(str(path))[0]


def plan(folder: Path) -> dict:
    return json.loads((folder / PLAN).read_text())


# ---- in one process: the plan's seeds ------------------------------------------------------------------------------
def test_a_rerun_without_seed_is_a_new_take(tts, tmp_path):
    out = tmp_path / "job"
    generate_long(tts, TEXT, "train_grace", quick(), out)
    first, seeds = audio(out / COMBINED), plan(out)["seeds"]
    generate_long(tts, TEXT, "train_grace", quick(), out)  # same folder, same segments: not a resume
    assert plan(out)["seeds"] != seeds
    assert not np.array_equal(audio(out / COMBINED), first)


def test_an_explicit_seed_wins_over_the_stored_plan(tts, tmp_path):
    a = tmp_path / "a"
    generate_long(tts, TEXT, "train_grace", quick(seed=9), a)
    generate_long(tts, TEXT, "train_grace", quick(seed=3), a)  # a plan for these segments exists, with seed 9
    fresh = generate_long(tts, TEXT, "train_grace", quick(seed=3), tmp_path / "b")
    assert plan(a)["seeds"] == [3, 4, 5]
    assert np.array_equal(audio(a / COMBINED), audio(fresh.combined))
    segment_file(a, 1).unlink()
    generate_long(tts, TEXT, "train_grace", quick(seed=7), a, skip_existing=True)  # resuming, with another seed
    assert plan(a)["seeds"] == [3, 8, 5]  # the new segment uses it (7 + 1); kept files keep the seeds they had
    assert read_metadata(segment_file(a, 1))["seed"] == 8


def test_regenerate_without_seed_is_a_new_take_and_with_the_seed_the_same(tts, tmp_path):
    out = tmp_path / "job"
    generate_long(tts, TEXT, "train_grace", quick(seed=9), out)
    one, two, three = (audio(segment_file(out, i)) for i in range(3))
    stamps = [segment_file(out, i).stat().st_mtime_ns for i in (0, 2)]
    result = generate_long(tts, TEXT, "train_grace", quick(), out, regenerate="2")
    assert result.generated == [1]
    new_seed = plan(out)["seeds"][1]
    assert plan(out)["seeds"][::2] == [9, 11] and new_seed != 10 and plan(out)["seed"] == 9  # the take's seed
    assert read_metadata(segment_file(out, 1))["seed"] == new_seed
    assert not np.array_equal(audio(segment_file(out, 1)), two)
    assert [segment_file(out, i).stat().st_mtime_ns for i in (0, 2)] == stamps  # the others are kept
    assert read_metadata(out / COMBINED)["seeds"] == [9, new_seed, 11]
    generate_long(tts, TEXT, "train_grace", quick(seed=9), out, regenerate="2")  # seed 9: segment 2 uses 10
    assert np.array_equal(audio(segment_file(out, 1)), two)
    assert np.array_equal(audio(segment_file(out, 0)), one) and np.array_equal(audio(segment_file(out, 2)), three)


def test_a_resume_without_seed_makes_what_the_uninterrupted_take_had(tts, tmp_path):
    out = tmp_path / "job"
    generate_long(tts, TEXT, "train_grace", quick(), out)
    seeds, second = plan(out)["seeds"], audio(segment_file(out, 1))
    segment_file(out, 1).unlink()
    result = generate_long(tts, TEXT, "train_grace", quick(), out, skip_existing=True)
    assert result.generated == [1] and plan(out)["seeds"] == seeds
    assert np.array_equal(audio(segment_file(out, 1)), second)


def test_a_plan_with_one_seed_resumes_with_seed_plus_index(tts, tmp_path):
    """Folders written before per-segment seeds stored one seed; segment i used seed + i."""
    out = tmp_path / "old"
    generate_long(tts, TEXT, "train_grace", quick(seed=40), out)
    third = audio(segment_file(out, 2))
    (out / PLAN).write_text(json.dumps({"voice": "train_grace", "seed": 40, "segments": plan(out)["segments"]}))
    segment_file(out, 2).unlink()
    generate_long(tts, TEXT, "train_grace", quick(), out, skip_existing=True)
    assert plan(out)["seeds"] == [40, 41, 42] and np.array_equal(audio(segment_file(out, 2)), third)


def test_segment_numbers_agree_in_files_metadata_regenerate_and_messages(tts, tmp_path):
    out = tmp_path / "job"
    result = generate_long(tts, TEXT, "train_grace", quick(seed=1, candidates=2), out)
    names = sorted(p.name for p in out.glob("*.wav"))
    assert names == ["01.wav", "01_c2.wav", "02.wav", "02_c2.wav", "03.wav", "03_c2.wav", COMBINED]
    for i, f in enumerate(result.files):
        meta = read_metadata(f)
        assert f.name == f"{meta['segment']:02d}.wav" == f"{i + 1:02d}.wav" and meta["candidate"] == 1
        assert meta["text"] == plan(out)["segments"][i] and plan(out)["files"][i] == f.name
    assert read_metadata(out / "02_c2.wav")["candidate"] == 2
    assert parse_regenerate("1,3", 3) == {0, 2}  # the numbers of the files, as code indices
    stamp = (out / "02.wav").stat().st_mtime_ns
    assert generate_long(tts, TEXT, "train_grace", quick(), out, regenerate="3").generated == [2]
    assert (out / "02.wav").stat().st_mtime_ns == stamp
    with pytest.raises(InvalidInputError, match="numbered 1 to 3"):
        generate_long(tts, TEXT, "train_grace", quick(), tmp_path / "never", regenerate="0")
    assert not (tmp_path / "never").exists()  # refused before any folder is made


def test_a_seed_too_large_for_every_segment_is_refused_before_any_work(tts, tmp_path):
    with pytest.raises(InvalidInputError, match="too large for 3 segments"):
        generate_long(tts, TEXT, "train_grace", quick(seed=2**63 - 2), tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_metadata_records_what_determines_the_audio(tts, tiny_models, tmp_path):
    out = tmp_path / "job"
    generate_long(tts, "Just this.", "train_grace&random", quick(seed=5), out)
    for path in (segment_file(out, 0), out / COMBINED):
        meta = read_metadata(path)
        assert meta["seed"] == 5 and meta["options"]["num_autoregressive_samples"] == 2
        engine = meta["engine"]
        assert engine["device"] == "cpu" and engine["precision"] == "float32" and engine["draws"] == "per_candidate"
        assert engine["compile"] is False and engine["redaction"] is False and engine["torch"]
        models = engine["models"]
        assert set(models) == {"autoregressive", "clvp2", "diffusion_decoder", "vocoder", "rlg_auto", "rlg_diffuser"}
        assert models["autoregressive"] == {
            "file": "autoregressive.pth",
            "bytes": (tiny_models / "autoregressive.pth").stat().st_size,
        }
        assert set(engine["voice"]) == {"train_grace", "random"} and len(engine["voice"]["train_grace"]) == 24
    assert read_metadata(out / COMBINED)["seeds"] == [5]


def test_fast_mode_metadata_names_the_fast_decoder(tts, tmp_path):
    generate_long(tts, "Quickly.", "train_grace", preset("fast_mode", seed=2, max_mel_tokens=24), tmp_path / "f")
    models = read_metadata(tmp_path / "f" / COMBINED)["engine"]["models"]
    assert set(models) == {"autoregressive", "hifidecoder"}


# ---- across processes: the command line as a user runs it ----------------------------------------------------------
def _cli(tmp_path: Path, tiny_models: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    env["TORTOISE_VOICES_DIR"] = str(tmp_path / "user-voices")
    cmd = [sys.executable, "-m", "tortoise", "Hello there.", "-v", "train_grace", "-q", "--disable-redaction",
           "-p", "ultra_fast", "--num-autoregressive-samples", "4", "--steps", "2", "--max-mel-tokens", "40",
           "--models-dir", str(tiny_models), *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_reruns_are_new_takes_and_a_seed_repeats_in_another_process_and_batch_size(tiny_models, tmp_path):
    combined = tmp_path / "outputs" / "train_grace" / COMBINED
    _cli(tmp_path, tiny_models)  # the default output folder, as a new user runs it
    first, first_meta = audio(combined), read_metadata(combined)
    _cli(tmp_path, tiny_models)
    assert read_metadata(combined)["seed"] != first_meta["seed"]
    assert not np.array_equal(audio(combined), first), "a rerun must be a new take"
    _cli(tmp_path, tiny_models, "-o", "other.wav")  # a single file: no plan at all
    assert read_metadata(tmp_path / "other.wav")["seed"] not in (first_meta["seed"], read_metadata(combined)["seed"])
    _cli(tmp_path, tiny_models, "-o", "again.wav", "--seed", str(first_meta["seed"]), "--batch-size", "1")
    assert first_meta["engine"]["draws"] == "per_candidate"
    assert np.array_equal(audio(tmp_path / "again.wav"), first), "same seed: same audio, whatever the batch size"
