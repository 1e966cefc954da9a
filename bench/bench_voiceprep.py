"""Voice preparation speed and quality figures (prints numbers; not a test).

    OMP_NUM_THREADS=1 python bench/bench_voiceprep.py [--minutes 3] [--voices ../shared/voices]

Builds a long 48 kHz stereo 24-bit "home recording" from the built-in voices (real speech with their natural pauses)
plus mains hum, room tone and hiss at 15 dB SNR, then times ``prepare_voice`` end to end and each step alone, and
prints the preparation time per minute of input audio. Also prints the denoiser's SNR gain on each voice and noise
kind (shadow filtering: the gain computed on the mix is applied to speech and noise separately).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from tortoise.audio_io import read_audio, resample_hq
from tortoise.voiceprep import PrepOptions, prepare_voice
from tortoise.voiceprep.denoise import apply_gain, gate_gain, spectral_gate
from tortoise.voiceprep.quality import estimate_snr
from tortoise.voiceprep.slicing import find_cuts
from tortoise.voiceprep.steps import highpass, normalize_loudness, trim_bounds

SR = 22050


def _noise(kind: str, n: int, seed: int = 0) -> np.ndarray:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "hum":
        return sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 6)) + 0.02 * rng.standard_normal(n)
    brown = lfilter([1.0], [1.0, -0.97], rng.standard_normal(n))
    return brown / brown.std() + 0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * rng.standard_normal(n)


def _mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    noise = noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise, noise


def _snr(s: np.ndarray, n: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(s**2) / np.sum(n**2)))


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the synthetic session")
    ap.add_argument("--voices", default=str(Path(__file__).resolve().parents[2] / "shared" / "voices"))
    args = ap.parse_args()
    files = sorted(p for p in Path(args.voices).glob("*/*") if p.suffix in (".wav", ".mp3"))
    if not files:
        raise SystemExit(f"no voice clips under {args.voices}")
    clips = {p.parent.name + "/" + p.name: read_audio(p)[0][0].astype(np.float64) for p in files}
    speech = np.concatenate(list(clips.values()))
    speech = np.tile(speech, int(np.ceil(args.minutes * 60 * SR / speech.size)))[: int(args.minutes * 60 * SR)]
    speech = 0.5 * speech / np.abs(speech).max()
    noisy, _ = _mix(speech, 0.5 * _noise("hum", speech.size) + _noise("room", speech.size, 1), 15.0)
    minutes = speech.size / SR / 60

    with tempfile.TemporaryDirectory() as tmp:
        up = resample_hq(noisy.astype(np.float32), SR, 48000)
        path = Path(tmp) / "session.wav"
        sf.write(path, np.stack([up, up], axis=1), 48000, subtype="PCM_24")
        seconds, report = _timed(prepare_voice, [path], "bench", voices_dir=Path(tmp) / "voices")
        print(f"input: {minutes:.2f} min, 48 kHz stereo 24-bit WAV, hum + room tone at 15 dB SNR")
        print(f"prepare_voice end to end: {seconds:.2f} s = {seconds / minutes:.2f} s per minute of input audio")
        print(
            f"  -> {len(report.saved_clips)} clips saved, score {report.score}, "
            f"est. SNR {report.sources[0].snr_before_db:.0f} -> {report.sources[0].snr_after_db:.0f} dB"
        )

    x = noisy.astype(np.float32)
    t_hp, (x_hp, _) = _timed(highpass, x, SR, cutoff_hz=70.0, remove_dc=True)
    t_dn, (x_dn, _) = _timed(spectral_gate, x_hp, SR, strength=0.85)
    t_tr, _ = _timed(trim_bounds, x_dn, SR, trim_db=40.0, padding_s=0.15)
    t_sl, cuts = _timed(find_cuts, x_dn, SR, min_s=3.0, max_s=11.0)
    bounds = [0, *(c.sample for c in cuts), x_dn.size]
    t_ln = sum(
        _timed(normalize_loudness, x_dn[a:b], SR, target_lufs=-20.0, true_peak_db_max=-1.0)[0]
        for a, b in itertools.pairwise(bounds)
    )
    t_rs, _ = _timed(resample_hq, up[: x.size * 48000 // SR], 48000, SR)
    print("per step, seconds per minute of input (22.05 kHz mono unless noted):")
    for name, t in [
        ("resample 48k->22.05k", t_rs),
        ("high-pass", t_hp),
        ("denoise", t_dn),
        ("trim", t_tr),
        ("slice", t_sl),
        ("loudness + limiter", t_ln),
    ]:
        print(f"  {name:<22} {t / minutes:6.3f}")

    print("denoiser SNR gain at strength 0.85 (true output SNR by shadow filtering; blind estimate in brackets):")
    opts = PrepOptions()
    for name, clean in clips.items():
        row = []
        for kind in ("white", "hum", "room"):
            mixed, _ = _mix(clean, _noise(kind, clean.size), 10.0)
            xm, _ = highpass(mixed.astype(np.float32), SR, cutoff_hz=opts.highpass_hz, remove_dc=True)
            s_hp, _ = highpass(clean.astype(np.float32), SR, cutoff_hz=opts.highpass_hz, remove_dc=True)
            gain, _ = gate_gain(xm, SR, strength=opts.denoise_strength)
            ys, yn = apply_gain(s_hp, gain), apply_gain(xm - s_hp, gain)
            est = estimate_snr(ys + yn, SR) - estimate_snr(xm, SR)
            row.append(f"{kind} {_snr(ys, yn) - _snr(s_hp, xm - s_hp):+.1f} dB ({est:+.0f})")
        print(f"  {name:<20} at 10 dB: " + ", ".join(row))


if __name__ == "__main__":
    main()
