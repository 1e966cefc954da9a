"""Speaking-rate change (tortoise/speed.py): is the pitch kept, is the length 1/speed, and what does it cost?

    python bench/bench_speed.py [--seconds 10] [--speeds 0.25 0.5 0.75 1.25 1.5 2 3 4]

Signals: a harmonic tone (f0 = 180 Hz, 8 harmonics falling 1/k, a voice-like spectrum) and a real voice clip
(train_grace's 1.wav at 24 kHz). Pitch of the tone: the frequency of the spectrum's highest peak (middle 80%,
parabolic interpolation), output against input. Pitch of the voice: the median f0 of its voiced 40 ms frames
(normalised autocorrelation peak > 0.6 between 70 and 400 Hz). Length: output samples / (input samples / speed).
Cost: wall seconds per minute of input audio on this machine (single process; pedalboard uses one thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tortoise.speed import change_speed
from tortoise.voices import builtin_voices_dirs

RATE = 24000


def harmonic_tone(seconds: float, f0: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 9))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def dominant_frequency(x: np.ndarray) -> float:
    """Frequency (Hz) of the strongest spectral peak of the middle 80%, refined by parabolic interpolation."""
    n = len(x)
    x = x[n // 10 : n - n // 10]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=1 << 20))
    i = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[i - 1 : i + 2] + 1e-12)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / (1 << 20)


def median_f0(x: np.ndarray, frame: int = 960) -> float:
    """Median fundamental (Hz) of the voiced frames: normalised autocorrelation peak in 70..400 Hz above 0.6."""
    lo, hi = RATE // 400, RATE // 70
    f0s = []
    for start in range(0, len(x) - frame - hi, frame // 2):
        seg = x[start : start + frame + hi].astype(np.float64)
        ref = seg[:frame]
        energy = np.dot(ref, ref)
        if energy < 1e-4:
            continue
        corr = np.array([np.dot(ref, seg[lag : lag + frame]) for lag in range(lo, hi)])
        norms = np.sqrt(
            energy * np.array([np.dot(seg[lag : lag + frame], seg[lag : lag + frame]) for lag in range(lo, hi)])
        )
        r = corr / np.maximum(norms, 1e-12)
        i = int(np.argmax(r))
        if r[i] > 0.6 and 0 < i < len(r) - 1:
            shift = 0.5 * (r[i - 1] - r[i + 1]) / (r[i - 1] - 2 * r[i] + r[i + 1])  # parabolic: sub-sample lag
            f0s.append(RATE / (lo + i + shift))
    return float(np.median(f0s)) if f0s else float("nan")


def measure(name: str, x: np.ndarray, speeds: list[float], pitch=dominant_frequency) -> None:
    f_in = pitch(x)
    print(f"{name}: {len(x) / RATE:.1f} s, pitch {f_in:.2f} Hz")
    print("speed  length/expected  pitch change  s per minute of audio")
    for speed in speeds:
        start = time.perf_counter()
        y = change_speed(x, speed, sample_rate=RATE)
        cost = (time.perf_counter() - start) / (len(x) / RATE / 60)
        ratio = len(y) / (len(x) / speed)
        change = pitch(y) / f_in - 1
        print(f"{speed:5.2f}  {ratio:15.4f}  {change:+11.3%}  {cost:8.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--speeds", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 4.0])
    args = p.parse_args()
    measure("harmonic tone", harmonic_tone(args.seconds), args.speeds)
    clip = builtin_voices_dirs()[0] / "train_grace" / "1.wav"
    if clip.is_file():
        from tortoise.audio_io import load_audio

        measure("voice clip", load_audio(clip, RATE).numpy().reshape(-1), args.speeds, pitch=median_f0)


if __name__ == "__main__":
    main()
