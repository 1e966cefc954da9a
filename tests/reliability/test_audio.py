"""Bad audio: empty, silent, NaN/inf, 8-bit, many channels, odd rates, truncated or fake files, huge files, fuzzing.

Every case ends in usable mono float audio in [-1, 1] or in a ``TortoiseError`` whose message names the file and the
problem; nothing else escapes the loaders. (tests/test_audio_io.py covers the format matrix and the basic error
paths; this module adds the hostile inputs.)
"""

from __future__ import annotations

import io
import struct
import tempfile
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.helpers import one_line, tone
from tortoise.audio_io import MAX_SECONDS, load_audio, read_audio
from tortoise.errors import (
    AudioError,
    EmptyAudioError,
    InvalidInputError,
    SilentAudioError,
    TortoiseError,
    UnreadableAudioError,
)


def _assert_usable(wav: torch.Tensor) -> None:
    assert wav.dtype == torch.float32 and wav.ndim == 2 and wav.shape[0] == 1 and wav.shape[1] > 0
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1.0


def _sparse_wav(path: Path, *, seconds: float, sr: int, channels: int, bits: int = 16) -> Path:
    """A WAV whose header and size say ``seconds`` long, written as a sparse file (no disk, no memory used)."""
    block = channels * bits // 8
    data_bytes = int(seconds * sr) * block
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
    header += b"data" + struct.pack("<I", data_bytes)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)
    return path


# --- degenerate content ----------------------------------------------------------------------------------------


def test_zero_length_and_zero_byte_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 22050)
    with pytest.raises(EmptyAudioError, match=r"empty\.wav contains no samples"):
        load_audio(empty, 22050)
    nothing = tmp_path / "nothing.wav"
    nothing.write_bytes(b"")
    with pytest.raises(UnreadableAudioError, match=r"cannot read nothing\.wav"):
        load_audio(nothing, 22050)


def test_silent_and_all_nan_files_are_refused_as_silent(tmp_path):
    silent = tmp_path / "silent.flac"
    sf.write(silent, np.zeros(22050, np.float32), 22050)
    with pytest.raises(SilentAudioError, match=r"silent\.flac is silent"):
        load_audio(silent, 22050)
    all_nan = tmp_path / "nan.wav"
    sf.write(all_nan, np.full(22050, np.nan, np.float32), 22050, subtype="FLOAT")
    with pytest.warns(UserWarning, match="NaN"), pytest.raises(SilentAudioError):
        load_audio(all_nan, 22050)


def test_nan_and_inf_samples_in_a_file_become_silence(tmp_path):
    x = tone(1.0, 22050)
    x[100:200], x[300], x[400] = np.nan, np.inf, -np.inf
    path = tmp_path / "holes.wav"
    sf.write(path, x, 22050, subtype="FLOAT")
    with pytest.warns(UserWarning, match="holes.wav contains NaN or infinite samples"):
        wav = load_audio(path, 22050)
    _assert_usable(wav)
    assert wav[0, 100:200].abs().max() == 0


def test_8_bit_wav_is_centred_at_the_right_level(tmp_path):
    path = tmp_path / "u8.wav"
    sf.write(path, tone(1.0, 22050, amp=0.5), 22050, subtype="PCM_U8")
    wav = load_audio(path, 22050)
    _assert_usable(wav)
    assert abs(float(wav.mean())) < 0.01 and 0.45 < float(wav.abs().max()) < 0.55


@pytest.mark.parametrize("channels", [3, 6, 8])
def test_many_channels_are_mixed_to_mono(tmp_path, channels):
    path = tmp_path / f"{channels}ch.wav"
    sf.write(path, np.stack([tone(0.5, 22050)] * channels, axis=1), 22050)
    wav = load_audio(path, 22050)
    _assert_usable(wav)
    assert wav.shape == (1, 11025) and 0.45 < float(wav.abs().max()) < 0.55


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 96000, 192000])
def test_any_rate_is_resampled_keeping_duration_and_pitch(tmp_path, rate):
    path = tmp_path / f"{rate}.wav"
    sf.write(path, tone(1.0, rate, freq=440.0), rate)
    wav = load_audio(path, 22050)[0].numpy()
    assert abs(wav.size - 22050) <= 1
    spectrum = np.abs(np.fft.rfft(wav))
    assert abs(np.argmax(spectrum) * 22050 / wav.size - 440.0) < 2.0


# --- broken and fake files -------------------------------------------------------------------------------------


def test_truncated_wav_keeps_what_is_there_and_cut_header_is_refused(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, tone(2.0, 22050), 22050, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header promises 2 s, half of it is there
    wav = load_audio(path, 22050)
    _assert_usable(wav)
    assert 0.9 * 22050 < wav.shape[1] < 1.1 * 22050
    path.write_bytes(data[:44])  # header only
    with pytest.raises(EmptyAudioError):
        load_audio(path, 22050)
    path.write_bytes(data[:30])  # not even a whole header
    with pytest.raises(UnreadableAudioError, match=r"cut\.wav"):
        load_audio(path, 22050)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".ogg", ".flac", ".webm"])
def test_non_audio_with_an_audio_name_is_refused(tmp_path, suffix):
    for i, payload in enumerate([b"just some notes\n" * 50, np.random.default_rng(0).bytes(4096), b"\x00" * 4096]):
        path = tmp_path / f"fake{i}{suffix}"
        path.write_bytes(payload)
        with pytest.raises((UnreadableAudioError, EmptyAudioError), match=rf"fake{i}\{suffix}") as e:
            load_audio(path, 22050)
        # FFmpeg trusts some extensions (.flac) and then finds no samples; either way the file is named
        assert "uncorrupted audio file" in str(e.value) or "contains no samples" in str(e.value)


def test_a_folder_or_missing_path_is_not_audio(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    for path in (tmp_path / "folder.wav", tmp_path / "missing.wav"):
        with pytest.raises(UnreadableAudioError, match="not found"):
            load_audio(path, 22050)


def test_cli_detect_reports_bad_files_one_line_each_and_goes_on(cli, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(1.0, 24000), 24000)
    (tmp_path / "fake.wav").write_text("not audio")
    code, out, err = cli("detect", "fake.wav", "good.wav")
    assert code == 1 and "good.wav:" in out
    assert one_line(err) and "fake.wav: skipped: cannot read fake.wav" in err


# --- huge files: refused before decoding, with bounded memory --------------------------------------------------


def test_a_two_hour_file_is_refused_before_decoding(tmp_path):
    path = _sparse_wav(tmp_path / "two_hours.wav", seconds=7200, sr=22050, channels=1)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError, match="120 minutes long; the limit is 60 minutes"):
            load_audio(path, 22050)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # nothing was decoded (2 h would be 635 MB as float32)


def test_a_short_but_huge_multichannel_high_rate_file_is_refused(tmp_path):
    # 10 minutes of 8 channels at 192 kHz passes the one-hour limit but would decode to 3.7 GB of float32
    path = _sparse_wav(tmp_path / "studio.wav", seconds=600, sr=192000, channels=8)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError, match=r"too large to load .*8 channels at 192000 Hz"):
            read_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6


def test_an_hour_of_48k_stereo_is_still_accepted_by_the_size_check(tmp_path):
    from tortoise.audio_io import MAX_SAMPLES_PER_SECOND

    assert 2 * 48000 * MAX_SECONDS <= MAX_SECONDS * MAX_SAMPLES_PER_SECOND


def test_ffmpeg_formats_respect_the_length_limit(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=22050)
        stream.layout = "mono"
        x = tone(3.0, 22050)
        for i in range(0, x.size, 1024):
            frame = av.AudioFrame.from_ndarray(x[None, i : i + 1024], format="flt", layout="mono")
            frame.sample_rate = 22050
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    _assert_usable(load_audio(path, 22050))
    with pytest.raises(InvalidInputError, match="minutes"):
        load_audio(path, 22050, max_seconds=1.0)


# --- arrays (microphone takes, library callers) ----------------------------------------------------------------


def test_integer_arrays_are_scaled_as_pcm_not_clipped():
    x = tone(1.0, 22050, amp=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "exceeds full scale" clipping warning
        as_int16 = load_audio((x * 32767).astype(np.int16), 22050, source_rate=22050)
        as_uint8 = load_audio((x * 127 + 128).astype(np.uint8), 22050, source_rate=22050)
        as_int32 = load_audio(torch.from_numpy((x * 2**31).astype(np.int32)), 22050, source_rate=22050)
    reference = load_audio(x, 22050, source_rate=22050)
    for wav in (as_int16, as_uint8, as_int32):
        assert torch.allclose(wav, reference, atol=0.02)  # 8-bit steps are 1/128


def test_half_precision_tensors_load():
    x = torch.from_numpy(tone(0.5, 24000))
    for dtype in (torch.float16, torch.bfloat16):
        _assert_usable(load_audio(x.to(dtype), 24000, source_rate=24000))


@pytest.mark.parametrize(
    "array, rate, match",
    [
        (np.zeros((2, 2, 100), np.float32), 22050, "1-D or 2-D"),
        (np.array(["a", "b"]), 22050, "real numbers"),
        (np.ones(100, complex), 22050, "real numbers"),
        (np.ones(100, bool), 22050, "real numbers"),
        (np.ones(100, np.float32), 0, "positive rate"),
        (np.ones(100, np.float32), -8000, "positive rate"),
        (np.ones(100, np.float32), None, "source_rate"),
    ],
)
def test_malformed_arrays_are_refused_clearly(array, rate, match):
    with pytest.raises(InvalidInputError, match=match):
        load_audio(array, 22050, source_rate=rate)


# --- fuzzing ---------------------------------------------------------------------------------------------------


def _encoded(fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    x = np.stack([tone(0.3, 16000), tone(0.3, 16000, freq=330)], axis=1)
    sf.write(buf, x, 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = {
    ".wav": _encoded("WAV", "PCM_16"),
    ".flac": _encoded("FLAC", "PCM_16"),
    ".ogg": _encoded("OGG", "VORBIS"),
    ".mp3": _encoded("MP3", "MPEG_LAYER_III"),
}
_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="tortoise-fuzz-"))


def _mutate(data: bytes, cut: int | None, flips: list[tuple[int, int]], junk: bytes) -> bytes:
    out = bytearray(data[:cut] if cut is not None else data)
    for pos, value in flips:
        if out:
            out[pos % len(out)] = value
    return bytes(out) + junk


def _load_or_clear_error(payload: bytes, suffix: str) -> None:
    path = _FUZZ_DIR / f"fuzz{suffix}"
    path.write_bytes(payload)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NaN / clipping / channel warnings are fine
            wav = load_audio(path, 22050, max_seconds=600)
    except AudioError as e:
        assert path.name in str(e) or "silent" in str(e) or "no samples" in str(e)
    except InvalidInputError as e:  # too long / too large once a header field is mangled
        assert path.name in str(e)
    else:
        _assert_usable(wav)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suffix=st.sampled_from(sorted(SEEDS)),
    cut=st.one_of(st.none(), st.integers(0, 6000)),
    flips=st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 255)), max_size=8),
    junk=st.binary(max_size=64),
)
def test_fuzz_mutated_files_load_or_fail_clearly(suffix, cut, flips, junk):
    _load_or_clear_error(_mutate(SEEDS[suffix], cut, flips, junk), suffix)


@settings(max_examples=40, deadline=None)
@given(suffix=st.sampled_from([".wav", ".mp3", ".m4a", ".bin"]), payload=st.binary(max_size=2048))
def test_fuzz_random_bytes_fail_clearly(suffix, payload):
    _load_or_clear_error(payload, suffix)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.one_of(st.tuples(st.integers(0, 3000)), st.tuples(st.integers(0, 9), st.integers(0, 3000))),
    dtype=st.sampled_from(["float32", "float64", "int16", "uint8", "int32", "float16"]),
    scale=st.sampled_from([0.0, 1e-6, 0.5, 4.0, np.inf, np.nan]),
    rate=st.integers(1000, 200_000),
)
def test_fuzz_arrays_load_or_fail_clearly(shape, dtype, scale, rate):
    rng = np.random.default_rng(0)
    with np.errstate(invalid="ignore", over="ignore"):
        x = (rng.standard_normal(shape) * scale).astype(np.float64)
        if np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            x = np.clip(np.nan_to_num(x * info.max), info.min, info.max)
        x = x.astype(dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wav = load_audio(x, 22050, source_rate=rate)
    except (EmptyAudioError, SilentAudioError):
        pass
    else:
        _assert_usable(wav)


def test_loaders_only_raise_tortoise_errors():
    # the fuzz tests above rely on this: every deliberate audio error shares the root
    for cls in (UnreadableAudioError, EmptyAudioError, SilentAudioError, InvalidInputError):
        assert issubclass(cls, TortoiseError)
