"""Loading every supported format to mono float at the wanted rate, and clear errors for bad files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.audio_samples import tone, write_with_av
from tests.golden.fixtures import REPO_ROOT
from tortoise.audio_io import load_audio, read_metadata, save_audio
from tortoise.errors import EmptyAudioError, InvalidInputError, SilentAudioError, UnreadableAudioError

SHARED_VOICES = REPO_ROOT.parent / "shared" / "voices"


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [
        (".wav", "PCM_U8"),
        (".wav", "PCM_16"),
        (".wav", "PCM_24"),
        (".wav", "PCM_32"),
        (".wav", "FLOAT"),
        (".flac", "PCM_16"),
        (".ogg", "VORBIS"),
        (".ogg", "OPUS"),
        (".mp3", "MPEG_LAYER_III"),
    ],
)
def test_soundfile_formats_load_at_level_and_rate(tmp_path, suffix, subtype):
    sr = 48000
    x = tone(1.0, sr)
    path = tmp_path / f"clip{suffix}"
    sf.write(path, x, sr, subtype=subtype)
    wav = load_audio(path, 22050)
    assert wav.dtype == torch.float32 and wav.shape[0] == 1
    assert abs(wav.shape[1] - 22050) <= 1200  # lossy codecs add a little priming/padding
    assert _rms(wav) == pytest.approx(_rms(x), rel=0.15)


@pytest.mark.parametrize(("suffix", "codec"), [(".m4a", "aac"), (".webm", "libopus")])
def test_ffmpeg_formats(tmp_path, suffix, codec):
    x = tone(1.0, 48000)
    wav = load_audio(write_with_av(tmp_path / f"clip{suffix}", x, 48000, codec, channels=2), 24000)
    assert abs(wav.shape[1] - 24000) <= 1200
    assert _rms(wav) == pytest.approx(_rms(x), rel=0.2)


def test_channels_are_averaged_not_left_only(tmp_path):
    sr = 22050
    left, right = tone(1.0, sr, freq=200), tone(1.0, sr, freq=330)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="FLOAT")
    wav = load_audio(path, sr)[0].numpy()
    np.testing.assert_allclose(wav, (left + right) / 2, atol=1e-6)


def test_three_channels_and_silent_channel_warns(tmp_path):
    sr = 16000
    x = tone(1.0, sr)
    path = tmp_path / "three.wav"
    sf.write(path, np.stack([x, x, x], axis=1), sr)
    assert load_audio(path, 22050).shape == (1, 22050)
    path2 = tmp_path / "one_silent.wav"
    sf.write(path2, np.stack([x, -x], axis=1), sr, subtype="FLOAT")
    with pytest.warns(UserWarning, match="channels"), pytest.raises(SilentAudioError):
        load_audio(path2, 22050)


def test_real_voice_clips_load():
    for path in sorted(SHARED_VOICES.glob("*/*")):
        if path.suffix not in (".wav", ".mp3"):
            continue
        wav = load_audio(path, 22050)
        info = sf.info(str(path))
        assert wav.shape[1] == pytest.approx(info.frames * 22050 / info.samplerate, abs=2200), path
        assert 0.01 < _rms(wav) < 0.5, path


def test_array_input_layouts():
    x = tone(0.5, 24000)
    a = load_audio(x, 24000, source_rate=24000)
    b = load_audio(np.stack([x, x], axis=1), 24000, source_rate=24000)  # (T, C)
    c = load_audio(torch.from_numpy(np.stack([x, x])), 24000, source_rate=24000)  # (C, T)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    with pytest.raises(InvalidInputError, match="source_rate"):
        load_audio(x, 24000)


def test_nan_samples_are_replaced_with_a_warning():
    x = tone(0.5, 22050)
    x[100:200] = np.nan
    with pytest.warns(UserWarning, match="NaN"):
        wav = load_audio(x, 22050, source_rate=22050)
    assert torch.isfinite(wav).all()


def test_overloud_input_is_clipped_with_a_warning():
    with pytest.warns(UserWarning, match="full scale"):
        wav = load_audio(tone(0.5, 22050, amp=3.0), 22050, source_rate=22050)
    assert wav.abs().max() <= 1.0


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(UnreadableAudioError, match="not found"):
        load_audio(tmp_path / "missing.wav", 22050)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(UnreadableAudioError, match=r"cannot read notes\.wav"):
        load_audio(text, 22050)
    good = tmp_path / "good.wav"
    sf.write(good, tone(1.0, 22050), 22050)
    truncated = tmp_path / "truncated.flac"
    sf.write(truncated, tone(2.0, 22050), 22050)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(UnreadableAudioError):
        load_audio(truncated, 22050)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 22050)
    with pytest.raises(EmptyAudioError):
        load_audio(empty, 22050)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050, np.float32), 22050)
    with pytest.raises(SilentAudioError, match="silent"):
        load_audio(silent, 22050)
    assert load_audio(silent, 22050, allow_silent=True).abs().max() == 0


def test_too_long_files_are_refused_before_decoding(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(3.0, 8000), 8000)
    with pytest.raises(InvalidInputError, match="minutes"):
        load_audio(path, 22050, max_seconds=2.0)


def test_save_is_atomic_and_keeps_metadata(tmp_path):
    path = tmp_path / "out" / "speech.wav"
    x = torch.from_numpy(tone(0.5, 24000))
    save_audio(path, x, 24000, metadata={"voice": "grace", "seed": 7})
    assert read_metadata(path) == {"seed": 7, "voice": "grace"}
    data, sr = sf.read(path, dtype="float32")
    assert sr == 24000 and np.allclose(data, x.numpy())
    assert [p.name for p in path.parent.iterdir()] == ["speech.wav"]  # no temp file left behind

    class Boom(RuntimeError):
        pass

    def failing_write(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise Boom

    from tortoise.audio_io import atomic_write

    with pytest.raises(Boom):
        atomic_write(path, failing_write)
    assert read_metadata(path)["voice"] == "grace"  # the old file is intact
    assert [p.name for p in path.parent.iterdir()] == ["speech.wav"]
    with pytest.raises(InvalidInputError):
        save_audio(tmp_path / "x.mp4", x, 24000)


def test_no_warnings_for_clean_input(tmp_path):
    path = tmp_path / "clean.wav"
    sf.write(path, tone(1.0, 22050), 22050)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(path, 22050)
