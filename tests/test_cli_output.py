"""The CLI's ``--format`` and ``--speed``: the file asked for, decoded with PyAV; contradictions fail before work."""

from __future__ import annotations

import av
import pytest
import soundfile as sf

from tests.test_cli import FAST, run  # noqa: F401  (run is a fixture)


def decoded(path) -> tuple[int, float, dict]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        n = sum(frame.samples for frame in container.decode(stream))
        rate = stream.codec_context.sample_rate
        return rate, n / rate, {**container.metadata, **stream.metadata}


def test_format_from_the_extension_with_tags_and_speed_halves_the_length(run, tmp_path):  # noqa: F811
    code, _, _ = run("Speed and format.", "-v", "train_grace", "-o", "a.wav", "--seed", "5", *FAST)
    assert code == 0
    plain = sf.info(str(tmp_path / "a.wav"))
    assert plain.subtype == "FLOAT"  # wav stays float32, as before
    code, out, _ = run("Speed and format.", "-v", "train_grace", "-o", "b.mp3", "--seed", "5", "--speed", "2", *FAST)
    assert code == 0 and "b.mp3" in out
    rate, seconds, tags = decoded(tmp_path / "b.mp3")
    assert rate == 24000 and tags["title"] == "Speed and format." and tags["artist"] == "train_grace"
    assert '"seed": 5' in tags["comment"]
    assert seconds == pytest.approx(plain.duration / 2, abs=0.02 * plain.duration / 2 + 0.06)  # + mp3 padding


def test_format_option_names_an_extensionless_output_and_o_dir_gets_combined_ext(run, tmp_path):  # noqa: F811
    code, out, _ = run("No extension.", "-o", "speech", "--format", "flac", "--seed", "1", *FAST)
    assert code == 0 and "speech.flac" in out and decoded(tmp_path / "speech.flac")[0] == 24000
    code, out, _ = run("In a folder.", "-v", "train_grace", "-O", "out", "--format", "opus", "--speed", "1.5", *FAST)
    folder = tmp_path / "out" / "train_grace"
    assert code == 0 and (folder / "combined.wav").is_file() and "combined_1.5x.opus" in out
    assert decoded(folder / "combined_1.5x.opus")[0] == 48000


def test_contradictions_fail_before_any_work(run, tmp_path):  # noqa: F811
    code, _, err = run("x", "-o", "x.wav", "--format", "mp3", *FAST)
    assert code == 1 and "names wav but --format is mp3" in err
    code, _, err = run("x", "-o", "x.mp3", "--speed", "5", *FAST)
    assert code == 1 and "0.25 .. 4.0" in err
    code, _, err = run("x", "-o", "x.m4a", "--stream", "-p", "fast_mode")
    assert code == 1 and "--stream cannot write m4a" in err
    assert not list(tmp_path.glob("x.*"))


def test_streaming_to_an_opus_file(run, tmp_path):  # noqa: F811
    code, out, _ = run("Streamed opus.", "-p", "fast_mode", "-o", "s.opus", "--stream", "--seed", "2", "--speed", "0.5")
    assert code == 0 and "first audio after" in out
    rate, seconds, tags = decoded(tmp_path / "s.opus")
    assert rate == 48000 and seconds > 0 and tags["title"] == "Streamed opus."
