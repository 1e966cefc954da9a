"""prepare_voice end to end: real speech + noise in many formats -> a voice folder that meets the contract."""

from __future__ import annotations

import hashlib
import itertools
import json
import re

import numpy as np
import pytest
import soundfile as sf

from tests.audio_samples import write_with_av
from tests.test_voiceprep_dsp import SR, long_speech, mix, noise, speech
from tortoise.errors import InvalidInputError, SilentAudioError, UnreadableAudioError, VoiceError
from tortoise.voiceprep import PrepOptions, format_report, prepare_voice, preview
from tortoise.voiceprep.steps import frame_levels, loudness_lufs, true_peak_db


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def noisy_session(tmp_path_factory):
    """A 35 s 48 kHz stereo recording of real speech with hum + room tone at 15 dB SNR, prepared once."""
    from tortoise.audio_io import resample_hq

    d = tmp_path_factory.mktemp("session")
    clean = long_speech(4)
    noisy, _ = mix(clean, 0.5 * noise("hum50", clean.size) + noise("room", clean.size, seed=1), 15.0)
    up = resample_hq(noisy.astype(np.float32), SR, 48000)
    path = d / "session.wav"
    sf.write(path, np.stack([up, 0.9 * up], axis=1), 48000, subtype="PCM_24")
    before = _sha(path)
    report = prepare_voice([path], "../Session Voice", voices_dir=d / "voices")
    return d, path, before, clean, report


def test_voice_folder_contract(noisy_session):
    d, path, before, _, report = noisy_session
    folder = d / "voices" / "Session_Voice"
    assert report.voice_dir == folder.resolve() and report.name == "Session_Voice"
    assert _sha(path) == before  # the original is untouched
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([c.file for c in report.saved_clips] + ["voice.json"])
    assert len(report.saved_clips) >= 4
    for clip in report.saved_clips:
        info = sf.info(str(folder / clip.file))
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "FLOAT")
        wav, _ = sf.read(str(folder / clip.file), dtype="float32")
        assert 3.0 <= wav.size / SR <= 11.0  # durations within bounds
        assert abs(loudness_lufs(wav, SR) + 20.0) <= 1.0  # within 1 LU of the target
        assert true_peak_db(wav) <= -1.0 + 0.05 and np.abs(wav).max() < 1.0  # no clipping
        assert clip.stats.clipped_runs == 0
    meta = json.loads((folder / "voice.json").read_text())
    assert meta["sources"][0]["sha256"] == before and meta["sources"][0]["sample_rate"] == 48000
    assert meta["options"]["target_lufs"] == -20.0 and meta["sample_rate"] == 22050
    assert [c["file"] for c in meta["clips"]] == [c.file for c in report.clips]
    assert {"loudness_lufs", "snr_db", "true_peak_db", "active_fraction"} <= set(meta["clips"][0]["stats"])


def test_session_snr_improves_and_cuts_are_in_pauses(noisy_session):
    _, _, _, clean, report = noisy_session
    src = report.sources[0]
    assert src.snr_after_db > src.snr_before_db + 8.0
    assert [s.step for s in src.steps] == ["mono", "high-pass", "resample", "denoise", "trim"]
    speech_level = np.percentile(frame_levels(clean, SR), 95)
    clips = report.clips
    for a, b in itertools.pairwise(clips):  # the cut lies between one clip's end and the next one's start
        assert a.end_s <= b.start_s
        edges = [clean[round(a.end_s * SR) - 441 : round(a.end_s * SR)], clean[round(b.start_s * SR) :][:441]]
        for e in edges:  # each clip edge sits in silence (trim padding inside a pause)
            assert 10 * np.log10(np.mean(e**2) + 1e-12) < speech_level - 25.0
    assert all("inside speech" not in " ".join(c.reasons) for c in clips)
    text = format_report(report)
    assert "denoise" in text and "Score" in text and "clip_01.wav" in text


def test_existing_voice_is_not_overwritten_without_flag(tmp_path):
    voices = tmp_path / "voices"
    clip = tmp_path / "one.wav"
    sf.write(clip, speech().astype(np.float32), SR)
    first = prepare_voice([clip], "v", voices_dir=voices)
    saved = {p.name: _sha(p) for p in first.voice_dir.iterdir()}
    with pytest.raises(VoiceError, match="already exists"):
        prepare_voice([clip], "v", voices_dir=voices)
    assert {p.name: _sha(p) for p in first.voice_dir.iterdir()} == saved
    calls = []
    again = prepare_voice([clip, clip], "v", voices_dir=voices, overwrite=True, on_saved=calls.append)
    assert calls == [again.voice_dir] and len(again.saved_clips) == 2
    assert not [p for p in voices.iterdir() if p.name.startswith(".")]  # no temp folders left
    with pytest.raises(VoiceError, match="inside the voice folder"):
        prepare_voice([again.voice_dir / "clip_01.wav"], "v", voices_dir=voices, overwrite=True)


def _one(tmp_path, source, **options):
    return prepare_voice([source], "x", voices_dir=tmp_path / "voices", options=PrepOptions(**options), dry_run=True)


@pytest.mark.parametrize(
    ("suffix", "sr", "channels", "subtype"),
    [
        (".wav", 48000, 2, "FLOAT"),
        (".wav", 44100, 3, "PCM_16"),
        (".wav", 16000, 1, "PCM_U8"),
        (".flac", 32000, 2, "PCM_24"),
        (".ogg", 48000, 1, "VORBIS"),
        (".mp3", 44100, 2, "MPEG_LAYER_III"),
    ],
)
def test_input_formats(tmp_path, suffix, sr, channels, subtype):
    from tortoise.audio_io import resample_hq

    x = resample_hq(speech().astype(np.float32), SR, sr) * 0.7
    path = tmp_path / f"in{suffix}"
    sf.write(path, np.stack([x] * channels, axis=1), sr, subtype=subtype)
    report = _one(tmp_path, path)
    (clip,) = report.clips
    assert report.sources[0].channels == channels and report.sources[0].sample_rate == sr
    assert clip.verdict != "rejected" and abs(clip.stats.loudness_lufs + 20.0) <= 1.0
    assert 6.0 < clip.stats.duration_s < 8.0


@pytest.mark.parametrize(("suffix", "codec"), [(".m4a", "aac"), (".webm", "libopus")])
def test_ffmpeg_formats(tmp_path, suffix, codec):
    from tortoise.audio_io import resample_hq

    x = resample_hq(speech().astype(np.float32), SR, 48000) * 0.7
    report = _one(tmp_path, write_with_av(tmp_path / f"in{suffix}", x, 48000, codec, channels=2))
    assert report.clips[0].verdict != "rejected" and abs(report.clips[0].stats.loudness_lufs + 20) <= 1.0


def test_microphone_take_and_preview(tmp_path):
    pcm = (speech() * 0.5 * 32767).astype(np.int16)
    report = prepare_voice([(44100, np.stack([pcm, pcm], axis=1))], "mic", voices_dir=tmp_path, dry_run=True)
    assert report.sources[0].name == "recording 1" and report.sources[0].channels == 2
    assert report.voice_dir is None and not list(tmp_path.iterdir())  # dry run writes nothing
    before, after, sr = preview((SR, mix(speech(), noise("white", speech().size), 15)[0]))
    assert sr == 22050 and before.dtype == after.dtype == np.float32
    assert after.size <= before.size and abs(loudness_lufs(after, sr) + 20) <= 1.0


def test_clipped_input_is_flagged(tmp_path):
    s = speech()
    clipped = _one(tmp_path, (SR, np.clip(6 * s / np.abs(s).max(), -1, 1)))
    assert any("clipped" in r for r in clipped.clips[0].reasons)
    assert any("reduce gain" in a for a in clipped.advice)


def test_quiet_noisy_and_silent_inputs_are_flagged(tmp_path):
    s = speech()
    quiet = _one(tmp_path, (SR, s * 10 ** (-32 / 20)))
    assert any("too quiet" in r for r in quiet.clips[0].reasons) and quiet.clips[0].stats.loudness_lufs > -21
    noisy = _one(tmp_path, (SR, mix(s, noise("white", s.size), 0.0)[0]))
    assert noisy.clips[0].verdict == "rejected" and "too noisy" in noisy.clips[0].reasons[0]
    sparse = np.concatenate([np.zeros(3 * SR), s[:SR], np.zeros(4 * SR)]) + 1e-4 * noise("white", 8 * SR)
    silent = _one(tmp_path, (SR, sparse), trim=False, denoise=False)
    assert any("silence" in r for r in silent.clips[0].reasons)


def test_good_clip_score_and_advice(tmp_path):
    good = _one(tmp_path, (SR, speech()))
    assert good.clips[0].verdict == "good" and good.advice[0].startswith("record 4 more clips")
    assert 40 <= good.score <= 60


def test_short_clip_rejected_and_nothing_saved_unless_kept(tmp_path):
    short = (SR, speech()[: int(0.8 * SR)])
    report = prepare_voice([short], "short", voices_dir=tmp_path)
    assert report.clips[0].verdict == "rejected" and "too short" in report.clips[0].reasons[0]
    assert report.voice_dir is None and report.score == 0 and not (tmp_path / "short").exists()
    kept = prepare_voice([short], "short", voices_dir=tmp_path, options=PrepOptions(keep_rejected=True))
    assert kept.voice_dir is not None and (kept.voice_dir / "clip_01.wav").is_file()


def test_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="no recordings"):
        prepare_voice([], "x", voices_dir=tmp_path)
    with pytest.raises(UnreadableAudioError, match=r"missing\.wav"):
        prepare_voice([tmp_path / "missing.wav"], "x", voices_dir=tmp_path)
    with pytest.raises(SilentAudioError, match="recording 1"):
        prepare_voice([(SR, np.zeros(SR))], "x", voices_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="name"):
        prepare_voice([(SR, speech())], "..", voices_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="sample rate"):
        prepare_voice([(np.zeros(10), np.zeros(10))], "x", voices_dir=tmp_path)
    for bad in ({"denoise_strength": 1.5}, {"min_clip_s": 6.0, "max_clip_s": 8.0}, {"noise_region": (2.0, 1.0)}):
        with pytest.raises(InvalidInputError, match=re.escape(repr(next(iter(bad.values())))[:3])):
            PrepOptions(**bad)
    assert not list(tmp_path.iterdir())
