"""The ``prepare`` sub-command on a throwaway parser: report, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from tests.test_voiceprep_dsp import SR, mix, noise, speech
from tortoise.voiceprep.cli import add_prepare_command


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tortoise-tts voices")
    add_prepare_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def take(tmp_path):
    s = speech()
    path = tmp_path / "take.wav"
    sf.write(path, np.stack([s, s], axis=1) * 0.5, SR, subtype="PCM_16")
    return path


def test_prepare_saves_and_reports(tmp_path, take, capsys):
    voices = tmp_path / "voices"
    assert _run(["prepare", str(take), "--name", "My Voice", "--voices-dir", str(voices)]) == 0
    out = capsys.readouterr().out
    for word in ("mono", "high-pass", "resample", "denoise", "trim", "loudness", "clip_01.wav", "Score", "advice"):
        assert word in out, word
    assert (voices / "My_Voice" / "clip_01.wav").is_file() and (voices / "My_Voice" / "voice.json").is_file()
    # again without --overwrite: one-line error, exit 1, nothing changed
    assert _run(["prepare", str(take), "--name", "My Voice", "--voices-dir", str(voices)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert _run(["prepare", str(take), "--name", "My Voice", "--voices-dir", str(voices), "--overwrite"]) == 0


def test_step_options_reach_the_library(tmp_path, take, capsys):
    argv = [
        "prepare",
        str(take),
        "--name",
        "v",
        "--voices-dir",
        str(tmp_path / "voices"),
        "--dry-run",
        "--json",
        "--no-denoise",
        "--no-highpass",
        "--no-dc",
        "--loudness",
        "-23",
        "--true-peak",
        "-2",
        "--channel",
        "1",
        "--no-slice",
        "--min-clip",
        "2",
        "--max-clip",
        "9",
        "--noise-region",
        "0:0.5",
        "--trim-db",
        "35",
    ]
    assert _run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    opt = report["options"]
    assert (opt["denoise"], opt["highpass_hz"], opt["remove_dc"], opt["channel"]) == (False, None, False, 1)
    assert (opt["target_lufs"], opt["true_peak_db"], opt["slice"], opt["noise_region"]) == (-23, -2, False, [0, 0.5])
    assert (opt["min_clip_s"], opt["max_clip_s"], opt["trim_db"]) == (2, 9, 35)
    assert abs(report["clips"][0]["stats"]["loudness_lufs"] + 23) <= 1.0
    assert report["voice_dir"] is None and not (tmp_path / "voices").exists()


def test_user_errors_are_one_line(tmp_path, take, capsys, monkeypatch):
    monkeypatch.setenv("TORTOISE_VOICES_DIR", str(tmp_path / "env_voices"))
    assert _run(["prepare", str(tmp_path / "nope.wav"), "--name", "x"]) == 1
    assert _run(["prepare", str(take), "--name", ".."]) == 2
    assert _run(["prepare", str(take), "--name", "x", "--denoise-strength", "3"]) == 2
    assert _run(["prepare", str(take), "--name", "x", "--channel", "5"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]  # progress lines
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert "nope.wav" in err[0] and "denoise_strength" in err[2] and "channel 5" in err[3]
    with pytest.raises(SystemExit):
        _run(["prepare", str(take), "--name", "x", "--noise-region", "abc"])
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, mix(speech(), noise("white", speech().size), -5.0)[0] * 0.1, SR)
    assert _run(["prepare", str(noisy), "--name", "n"]) == 1  # nothing usable
    assert "nothing was saved" in capsys.readouterr().out
    assert _run(["prepare", str(take), "--name", "envdir"]) == 0
    assert (tmp_path / "env_voices" / "envdir" / "voice.json").is_file()
