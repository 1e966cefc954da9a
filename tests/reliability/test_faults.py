"""Faults: cancel mid-generation, a failing segment, interrupted writes, out-of-memory.

Cancelling a download midway is covered in tests/test_weights.py (``test_cancelled_download_keeps_partial_and_next_run
_resumes``, ``test_cli_download_cancel_and_all``): the partial file is kept aside and the next run resumes it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from tests.reliability.helpers import QUICK_CLI, leftovers, one_line, quick
from tortoise.audio_io import atomic_write, read_metadata, save_audio
from tortoise.errors import DeviceError, TortoiseError
from tortoise.longform import COMBINED, PLAN, generate_long, segment_file

TEXT = "The first part is here. | The second part follows. | The third part ends it."


def _cancel_at(segment: int, stage: str = "diffusion"):
    """A progress callback and an on_segment hook that raise KeyboardInterrupt during ``segment``."""
    state = {"segment": -1}

    def on_segment(i, n, text):
        state["segment"] = i

    def progress(name, fraction):
        if state["segment"] == segment and name == stage and fraction > 0:
            raise KeyboardInterrupt

    return on_segment, progress


def test_cancel_mid_generation_keeps_finished_segments_and_resumes(shared_tts, tmp_path):
    out = tmp_path / "job"
    on_segment, progress = _cancel_at(1)
    with pytest.raises(KeyboardInterrupt):
        generate_long(shared_tts, TEXT, "random", quick(), out, on_segment=on_segment, progress=progress)
    assert sorted(p.name for p in out.iterdir()) == ["01.wav", PLAN]  # no partial segment, no temp file
    first = (out / "01.wav").read_bytes()
    result = generate_long(shared_tts, TEXT, "random", quick(), out, skip_existing=True)
    assert result.generated == [1, 2] and result.combined == out / COMBINED
    assert (out / "01.wav").read_bytes() == first and not leftovers(out)
    full = generate_long(shared_tts, TEXT, "random", quick(), tmp_path / "uninterrupted")
    for i in range(3):  # resuming gives exactly what an uninterrupted run gives (segment i uses seed + i)
        a, b = sf.read(segment_file(out, i))[0], sf.read(segment_file(full.folder, i))[0]
        assert np.array_equal(a, b)


def test_cli_cancel_is_exit_130_with_one_line_and_resume_works(cli, tmp_path, monkeypatch):
    from tortoise import api

    real = api.TextToSpeech.tts
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second segment
        return real(self, *args, **kwargs)

    monkeypatch.setattr(api.TextToSpeech, "tts", interrupted)
    (tmp_path / "t.txt").write_text(TEXT)
    code, _, err = cli("--textfile", "t.txt", "-O", "out", *QUICK_CLI)
    assert code == 130 and one_line(err) and "--skip-existing" in err
    folder = tmp_path / "out" / "random"
    assert (folder / "01.wav").is_file() and not (folder / "02.wav").exists() and not leftovers(folder)
    code, _, _ = cli("--textfile", "t.txt", "-O", "out", "--skip-existing", *QUICK_CLI)
    assert code == 0 and (folder / COMBINED).is_file() and calls["n"] == 4  # only segments 2 and 3 were made


def test_an_error_in_one_segment_keeps_the_others_and_says_how_to_resume(shared_tts, tmp_path, monkeypatch):
    out = tmp_path / "job"
    real = type(shared_tts).tts

    def device_lost(self, text, *args, **kwargs):
        if "third" in text:
            raise DeviceError("the device was lost")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(type(shared_tts), "tts", device_lost)
    with pytest.raises(DeviceError, match=r"2 of 3 segments are done .* rerun to resume"):
        generate_long(shared_tts, TEXT, "random", quick(), out)
    assert (out / "01.wav").is_file() and (out / "02.wav").is_file() and not (out / COMBINED).exists()
    monkeypatch.undo()
    result = generate_long(shared_tts, TEXT, "random", quick(), out, skip_existing=True)
    assert result.generated == [2] and result.combined is not None


def test_an_unexpected_crash_in_a_segment_keeps_finished_files(shared_tts, tmp_path, monkeypatch):
    out = tmp_path / "job"
    real = type(shared_tts).tts

    def crash(self, text, *args, **kwargs):
        if "second" in text:
            raise RuntimeError("kernel crashed")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(type(shared_tts), "tts", crash)
    with pytest.raises(RuntimeError):
        generate_long(shared_tts, TEXT, "random", quick(), out)
    assert (out / "01.wav").is_file() and not (out / "02.wav").exists() and not leftovers(out)


def test_resume_after_editing_the_text_does_not_reuse_stale_segments(shared_tts, tmp_path):
    out = tmp_path / "job"
    generate_long(shared_tts, TEXT, "random", quick(), out)
    edited = TEXT.replace("first part", "opening part")
    result = generate_long(shared_tts, edited, "random", quick(), out, skip_existing=True)
    assert result.generated == [0]  # the edited segment is made again, the others are reused
    assert read_metadata(out / "01.wav")["text"] == "The opening part is here."


def test_a_refused_segment_is_reported_and_the_rest_are_made(shared_tts, tmp_path):
    digits = " ".join(["1234567"] * 30)  # 240 characters that expand far beyond the model's 400 tokens
    result = generate_long(shared_tts, f"A fine start. | {digits} | A fine end.", "random", quick(), tmp_path / "j")
    assert result.generated == [0, 2] and list(result.failed) == [1] and "at most" in result.failed[1]
    assert result.combined is None  # a combined file with a hole would be misleading


def test_cli_reports_a_refused_segment_in_one_line_and_exit_1(cli, tmp_path):
    digits = " ".join(["1234567"] * 30)
    (tmp_path / "t.txt").write_text(f"A fine start. | {digits}")
    code, out, err = cli("--textfile", "t.txt", "-O", "out", *QUICK_CLI)
    assert code == 1 and one_line(err) and "segment 2 of 2" in err and "at most" in err
    assert "incomplete" not in out and not (tmp_path / "out").exists()  # every segment is checked before any work


# --- atomic writes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_interrupted_audio_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, fault):
    path = tmp_path / "speech.wav"
    save_audio(path, np.full(2400, 0.1, np.float32), 24000, metadata={"take": 1})

    def broken(self, data):
        raise fault

    monkeypatch.setattr(sf.SoundFile, "write", broken)
    with pytest.raises(type(fault)):
        save_audio(path, np.full(4800, 0.2, np.float32), 24000, metadata={"take": 2})
    monkeypatch.undo()
    assert read_metadata(path) == {"take": 1} and sf.info(path).frames == 2400
    assert [p.name for p in tmp_path.iterdir()] == ["speech.wav"]


def test_plan_file_is_written_atomically(tmp_path, monkeypatch):
    import os

    from tortoise import longform

    folder = tmp_path / "job"
    folder.mkdir()
    (folder / PLAN).write_text(json.dumps({"voice": "a", "seed": 1, "segments": ["old"]}))
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        longform._write_plan(folder, {"voice": "a", "seed": 2, "segments": ["new"], "seeds": [2]})
    assert json.loads((folder / PLAN).read_text())["segments"] == ["old"] and not leftovers(folder)


def test_atomic_write_never_leaves_a_half_file_on_any_exception(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text('{"ok": true}')
    for fault in (ValueError("bad"), KeyboardInterrupt(), SystemExit(3)):

        def write(tmp, fault=fault):
            tmp.write_text('{"ok": fal')
            raise fault

        with pytest.raises(type(fault)):
            atomic_write(target, write)
        assert target.read_text() == '{"ok": true}' and [p.name for p in tmp_path.iterdir()] == ["settings.json"]


# --- out of memory ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["autoregressive", "diffusion"])
def test_out_of_memory_that_cannot_be_absorbed_is_a_clear_device_error(tts_factory, monkeypatch, stage):
    from tortoise import api, sampling

    def oom(*args, **kwargs):
        raise RuntimeError("XPU out of memory. Tried to allocate 3.00 GiB")

    if stage == "autoregressive":
        monkeypatch.setattr(sampling, "generate", oom)  # even one candidate at a time does not fit
    else:
        monkeypatch.setattr(api, "decode_mel", oom)
    with pytest.raises(DeviceError, match=r"out of memory on cpu .*--offload models"):
        tts_factory(enable_redaction=False, batch_size=1).tts("Too big.", "random", quick())


def test_cli_out_of_memory_is_one_line(cli, monkeypatch):
    from tortoise import api

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 3.00 GiB")

    monkeypatch.setattr(api, "decode_mel", oom)
    code, _, err = cli("Too big.", "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and "out of memory" in err


def test_device_errors_are_tortoise_errors():
    assert issubclass(DeviceError, TortoiseError)
