"""Takes of known text for bench_checks.py: good ones spoken by espeak-ng, and bad ones made from them on purpose.

Every take is mono float32 at 24 kHz (what TorToiSe writes) with a pink noise floor 50 dB below its speech (espeak's
pauses are digital zeros; a vocoder's are not). A bad take is made from a good take ``take`` (and, for some kinds,
another good take ``other``) by :func:`make_bad`; ``param`` says how bad (a fraction, seconds, dB, a factor).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 24_000
FLOOR_DB = -50.0  # noise floor of every take, relative to its speech RMS

# espeak-ng voices: the Klatt variants sound less buzzy (pocketsphinx understands them far better); the plain
# ones are the default espeak sound. Speeds in words per minute (espeak's default is 175).
VOICES = [("en-us+klatt", 150), ("en-us+klatt4", 170), ("en-gb+klatt2", 140), ("en-us+klatt3", 190),
          ("en-gb-x-rp+klatt4", 160), ("en-us+klatt6", 135),
          ("en-us", 175), ("en-gb", 150), ("en+f3", 160)]  # fmt: skip

# kind -> the parameters cycled over its takes
KINDS = {
    "cut": [0.5, 0.6, 0.7, 0.8, 0.9],  # hard cut at this fraction of the speech
    "first_words": [0.5, 0.7, 0.9],  # only this fraction of the words spoken (ends cleanly)
    "other_similar": [1.0],  # another sentence's take, duration within 15 %
    "other_different": [1.0],  # another sentence's take, duration ratio < 0.6 or > 1.6
    "appended": [0.3],  # the take, this many seconds of floor, then another sentence (a hallucinated tail)
    "silence": [0.5, 1.0, 1.5, 2.0, 3.0],  # seconds of floor inserted inside the speech
    "stutter": [0.3, 0.6, 1.0],  # seconds of speech repeated
    "tempo": [0.5, 0.7, 1.5, 2.0],  # sox tempo factor (pitch kept)
    "noise_white": [20.0, 10.0, 5.0, 0.0],  # SNR dB against the speech RMS
    "noise_pink": [20.0, 10.0, 5.0, 0.0],
}


@dataclass
class Take:
    text: str
    voice: str
    speed: int
    audio: np.ndarray  # (S,) float32 at SR

    @property
    def seconds(self) -> float:
        return len(self.audio) / SR


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    """espeak-ng's speech of ``text``, at SR, no floor."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
        audio, sr = sf.read(path, dtype="float32")
    return resample_poly(audio, SR, sr).astype(np.float32) if sr != SR else audio


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink (1/f power) noise: white noise shaped by 1/sqrt(f) in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def speech_rms(audio: np.ndarray) -> float:
    """RMS of the samples that are not (near) silence."""
    loud = audio[np.abs(audio) > 1e-4]
    return float(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) if loud.size else 1e-4


def with_floor(audio: np.ndarray, rms: float, rng: np.random.Generator) -> np.ndarray:
    return (audio + pink(len(audio), rng) * rms * 10 ** (FLOOR_DB / 20)).astype(np.float32)


def floor(seconds: float, rms: float, rng: np.random.Generator) -> np.ndarray:
    return with_floor(np.zeros(int(seconds * SR), np.float32), rms, rng)


def good_take(text: str, voice: str, speed: int, seed: int) -> Take:
    audio = espeak(text, voice, speed)
    return Take(text, voice, speed, with_floor(audio, speech_rms(audio), np.random.default_rng(seed)))


def speech_span(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample of the speech (10 ms frames within 35 dB of the loudest), the bench's own measure."""
    n = SR // 100
    db = 10 * np.log10(np.mean(audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64) ** 2, 1) + 1e-12)
    loud = np.flatnonzero(db > db.max() - 35)
    return int(loud[0]) * n, (int(loud[-1]) + 1) * n


def tight_end(take: Take, tail: float) -> np.ndarray:
    """The good take ending ``tail`` seconds after its speech (espeak leaves ~0.4 s of silence after it)."""
    return take.audio[: speech_span(take.audio)[1] + int(tail * SR)]


def tempo(audio: np.ndarray, factor: float) -> np.ndarray:
    """sox's WSOLA tempo change (duration / factor, pitch kept)."""
    cmd = ["sox", "-t", "f32", "-r", str(SR), "-c", "1", "-", "-t", "f32", "-", "tempo", "-s", str(factor)]
    out = subprocess.run(cmd, input=audio.astype(np.float32).tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32).copy()


def make_bad(kind: str, param: float, take: Take, other: Take | None, seed: int) -> np.ndarray:
    """The bad take of ``kind`` made from ``take`` (and ``other``, for the kinds that need another sentence)."""
    rng = np.random.default_rng(seed)
    audio, rms = take.audio, speech_rms(take.audio)
    start, end = speech_span(audio)
    inside = int(start + rng.uniform(0.3, 0.7) * (end - start))  # a point inside the speech
    if kind == "cut":
        return audio[: start + int(param * (end - start))]
    if kind == "first_words":
        words = take.text.split()
        n = min(len(words) - 1, max(1, round(param * len(words))))
        return good_take(" ".join(words[:n]), take.voice, take.speed, seed).audio
    if kind in ("other_similar", "other_different"):
        return other.audio
    if kind == "appended":
        return np.concatenate([audio[:end], floor(param, rms, rng), other.audio])
    if kind == "silence":
        return np.concatenate([audio[:inside], floor(param, rms, rng), audio[inside:]])
    if kind == "stutter":
        chunk = audio[inside : inside + int(param * SR)]
        return np.concatenate([audio[: inside + len(chunk)], chunk, audio[inside + len(chunk) :]])
    if kind == "tempo":
        return tempo(audio, param)
    if kind.startswith("noise_"):
        noise = rng.standard_normal(len(audio)) if kind == "noise_white" else pink(len(audio), rng)
        return (audio + noise * rms * 10 ** (-param / 20)).astype(np.float32)
    raise ValueError(f"unknown kind {kind!r}; kinds: {list(KINDS)}")


def pick_other(kind: str, j: int, takes: list[Take], rng: np.random.Generator) -> Take | None:
    """The other sentence's take a bad take of ``kind`` made from ``takes[j]`` uses (None when it needs none)."""
    me = takes[j]
    candidates = [t for t in takes if t.text != me.text]
    if kind == "other_similar":
        return min(candidates, key=lambda t: abs(np.log(t.seconds / me.seconds)) + rng.uniform(0, 0.05))
    if kind == "other_different":
        far = [t for t in candidates if not 0.6 <= t.seconds / me.seconds <= 1.6] or candidates
        return far[rng.integers(len(far))]
    if kind == "appended":
        short = sorted(candidates, key=lambda t: t.seconds)[: max(1, len(candidates) // 3)]
        return short[rng.integers(len(short))]
    return None
