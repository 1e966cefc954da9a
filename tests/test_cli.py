"""The command line as a user runs it: speech to files, long text with resume/regenerate, sub-commands, errors."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import soundfile as sf

from tests.golden.fixtures import REPO_ROOT
from tortoise import hardware
from tortoise.audio_io import read_metadata
from tortoise.cli import main

FAST = ["-p", "ultra_fast", "--num-autoregressive-samples", "2", "--steps", "3", "-q"]
LONG_TEXT = " ".join(f"Sentence number {i} is here to make this text long enough to be split." for i in range(8))


@pytest.fixture
def run(tiny_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORTOISE_VOICES_DIR", str(tmp_path / "user-voices"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    def go(*argv: str, models: bool = True) -> tuple[int, str, str]:
        args = [*argv, "--models-dir", str(tiny_models)] if models else list(argv)
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return go


def test_speak_to_a_file_with_metadata(run, tmp_path):
    code, out, _ = run("Hello from the command line.", "-v", "train_grace", "-o", "hello.wav", "--seed", "5", *FAST)
    assert code == 0 and "hello.wav" in out
    info = sf.info(str(tmp_path / "hello.wav"))
    assert info.samplerate == 24000 and info.frames > 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".wav") == ["hello.wav"]  # no clutter
    assert read_metadata(tmp_path / "hello.wav")["seed"] == 5


def test_candidates_and_timings_are_printed(run, tmp_path):
    code, out, _ = run("Two takes.", "-v", "random", "-o", "take.wav", "--candidates", "2", "--seed", "1",
                       "-p", "ultra_fast", "--num-autoregressive-samples", "2", "--steps", "3")  # fmt: skip
    assert code == 0
    assert (tmp_path / "take.wav").is_file() and (tmp_path / "take_c2.wav").is_file()
    assert "real-time factor" in out and "autoregressive" in out


def test_long_text_segments_resume_and_regenerate(run, tmp_path):
    code, _, _ = run(LONG_TEXT, "-v", "train_dotrice", "-O", "out", "--seed", "9", *FAST)
    folder = tmp_path / "out" / "train_dotrice"
    plan = json.loads((folder / "segments.json").read_text())
    n = len(plan["segments"])
    assert code == 0 and n >= 2 and plan["seed"] == 9
    assert all((folder / f"{i + 1:02d}.wav").is_file() for i in range(n))
    total = sum(sf.info(str(folder / f"{i + 1:02d}.wav")).frames for i in range(n))
    assert sf.info(str(folder / "combined.wav")).frames == total
    meta = read_metadata(folder / "combined.wav")
    assert meta["text"] == LONG_TEXT and meta["seed"] == 9 and meta["options"]["diffusion_steps"] == 3
    before = {i: (folder / f"{i + 1:02d}.wav").stat().st_mtime_ns for i in range(n)}
    (folder / "02.wav").unlink()
    code, _, _ = run(LONG_TEXT, "-v", "train_dotrice", "-O", "out", "--skip-existing", *FAST)
    assert code == 0 and (folder / "02.wav").is_file()
    assert (folder / "01.wav").stat().st_mtime_ns == before[0]  # kept, not regenerated
    code, _, _ = run(LONG_TEXT, "-v", "train_dotrice", "-O", "out", "--regenerate", "1", *FAST)
    assert code == 0
    assert (folder / "01.wav").stat().st_mtime_ns != before[0]
    assert (folder / f"{n:02d}.wav").stat().st_mtime_ns == before[n - 1]


def test_text_from_stdin_and_textfile(run, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Words from standard input."))
    assert run("-o", "stdin.wav", *FAST)[0] == 0
    (tmp_path / "words.txt").write_text("Words from a file.", encoding="utf-8")
    assert run("--textfile", "words.txt", "-o", "file.wav", *FAST)[0] == 0
    assert (tmp_path / "stdin.wav").is_file() and (tmp_path / "file.wav").is_file()


def test_several_voices_give_several_outputs(run, tmp_path):
    code, _, _ = run("Hi.", "-v", "train_grace,train_daws&train_dotrice", "-O", "multi", *FAST)
    assert code == 0
    assert (tmp_path / "multi" / "train_grace" / "combined.wav").is_file()
    assert (tmp_path / "multi" / "train_daws+train_dotrice" / "combined.wav").is_file()


def test_user_errors_are_one_line(run, monkeypatch):
    code, _, err = run("Hi.", "-v", "nobody", "-o", "x.wav", *FAST)
    assert code == 1 and err.strip().count("\n") == 0 and "unknown voice 'nobody'" in err
    code, _, err = run("Hi.", "-o", "x.wav", "--temperature", "0", *FAST)
    assert code == 1 and "temperature" in err
    code, _, err = run("Hi.", "-v", "a,b", "-o", "x.wav", *FAST)
    assert code == 1 and "output-dir" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, _, err = run("-o", "x.wav", *FAST)
    assert code == 1 and "no text given" in err
    with pytest.raises(SystemExit) as e:
        run("Hi.", "-p", "turbo")
    assert e.value.code == 2


def test_missing_models_say_how_to_get_them(run, tmp_path):
    code, _, err = run("Hi.", "-o", "x.wav", "--models-dir", str(tmp_path / "empty"), *FAST, models=False)
    assert code == 1 and "tortoise-tts models download" in err


def test_list_voices(run):
    code, out, _ = run("-l", models=False)
    assert code == 0 and "train_grace" in out and "random" in out
    code, out, _ = run("voices", "list", models=False)
    assert code == 0 and "train_daws" in out


def test_latents_export_makes_a_usable_voice(run, tmp_path):
    target = tmp_path / "user-voices" / "exported" / "latents.pth"
    target.parent.mkdir(parents=True)
    code, _, _ = run("latents", "train_grace", "-o", str(target))
    assert code == 0 and target.is_file()
    code, _, _ = run("From exported latents.", "-v", "exported", "-o", "exp.wav", *FAST)
    assert code == 0 and (tmp_path / "exp.wav").is_file()


def test_detect(run, tmp_path):
    run("Detect me.", "-o", "d.wav", *FAST)
    code, out, _ = run("detect", "d.wav", "missing.wav")
    assert code == 1 and "d.wav:" in out and "%" in out


def test_doctor(run, monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "SYSFS_DRM", tmp_path)  # no GPU in sysfs: this machine's GPUs are not the test
    code, out, _ = run("doctor", "--no-smoke-test", models=False)
    assert code == 0 and "pytorch build" in out and "chosen device" in out
    assert "cpu weight packing" in out and "cpu threads" in out  # the CPU is the chosen device here


def test_doctor_says_when_packing_is_turned_off(run, monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "SYSFS_DRM", tmp_path)
    monkeypatch.setenv("TORTOISE_NO_PACK", "1")
    code, out, _ = run("doctor", "--no-smoke-test", models=False)
    assert code == 0 and "off (TORTOISE_NO_PACK is set)" in out


def test_models_verify_deep_loads_every_checkpoint_strictly(run, tiny_models, tmp_path):
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(tiny_models, folder)
    code, out, _ = run("models", "verify", "--deep", "--models-dir", str(folder), models=False)
    assert code == 0 and out.count("loads strictly") == 10
    (folder / "clvp2.pth").write_bytes((folder / "clvp2.pth").read_bytes()[:1000])  # truncate one file
    code, out, err = run("models", "verify", "clvp2", "--models-dir", str(folder), models=False)
    assert code == 1 and "clvp2.pth" in err and "tortoise-tts models download clvp2" in err


def test_prepared_voice_gets_cached_latents_and_speaks(run, tiny_models, tmp_path):
    clip = str(REPO_ROOT.parent / "shared" / "voices" / "train_grace" / "1.wav")
    code, _, _ = run("voices", "prepare", clip, "--name", "Grace Copy", "--models-dir", str(tiny_models), models=False)
    assert code == 0 and (tmp_path / "user-voices" / "Grace_Copy" / "voice.json").is_file()
    cached = list((tmp_path / "cache" / "tortoise" / "latents").glob("Grace_Copy-*.pth"))
    assert len(cached) == 1
    code, _, _ = run("In the prepared voice.", "-v", "Grace_Copy", "-o", "g.wav", *FAST)
    assert code == 0 and (tmp_path / "g.wav").is_file()


def test_fast_mode_and_streaming_to_a_file(run, tmp_path):
    code, out, _ = run("Fast and streamed.", "-p", "fast_mode", "-o", "s.wav", "--stream", "--seed", "2")
    assert code == 0 and "first audio after" in out
    assert sf.info(str(tmp_path / "s.wav")).frames > 0
    code, _, _ = run("Fast mode on another preset.", "--mode", "fast", "-o", "f.wav", *FAST)
    assert code == 0 and (tmp_path / "f.wav").is_file()
    code, _, err = run("x", "--stream", "-O", "dir", *FAST)
    assert code == 1 and "--stream" in err


def test_progress_is_one_plain_line_per_stage_when_stderr_is_a_file(run, tmp_path):
    log = tmp_path / "stderr.txt"
    with log.open("w") as f, contextlib.redirect_stderr(f):  # as `tortoise-tts ... 2> stderr.txt`
        code, _, _ = run("One short sentence.", "-o", "p.wav", "--seed", "1", *FAST[:-1])  # progress on (no -q)
    written = log.read_text()
    assert code == 0 and "\r" not in written
    stages = ["conditioning", "autoregressive", "clvp", "latents", "diffusion", "vocoder"]
    assert written.splitlines() == ["One short sentence.", *stages]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_on_a_terminal_and_segment_prefixes():
    from tortoise.cli_progress import StageBars

    for file in (_Terminal(), io.StringIO()):
        bars = StageBars(file=file)
        for i in range(2):
            bars.start_segment(i, 2, f"Segment {i}.")
            for stage in ("autoregressive", "diffusion"):
                for fraction in (0.0, 0.5, 1.0):
                    bars.update(stage, fraction)
        bars.close()
        if file.isatty():
            assert "\r" in file.getvalue() and "[2/2] diffusion" in file.getvalue()
        else:
            assert file.getvalue().splitlines() == [
                "[1/2] Segment 0.", "[1/2] autoregressive", "[1/2] diffusion",
                "[2/2] Segment 1.", "[2/2] autoregressive", "[2/2] diffusion",
            ]  # fmt: skip


@pytest.mark.parametrize("splitter", ["ours", "original"])
def test_splitter_option_chooses_the_segments(run, tmp_path, splitter):
    from tortoise.text import split_text

    text = 'He said "Stop. Wait. Go now." Then he left. The end.'
    code, _, _ = run(text, "-O", "out", "--splitter", splitter, "--text-split", "10,100", *FAST)
    plan = json.loads((tmp_path / "out" / "random" / "segments.json").read_text())
    assert code == 0 and plan["segments"] == split_text(text, desired_length=10, max_length=100, splitter=splitter)
    assert len(plan["segments"]) == (2 if splitter == "original" else 4)
