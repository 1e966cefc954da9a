"""Synthetic test audio written in many formats (shared by the audio, voice-prep and reliability tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tone(seconds: float = 1.0, sr: int = 22050, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    """A harmonic tone with a slow amplitude envelope: speech-like enough for level and rate checks."""
    t = np.arange(int(seconds * sr)) / sr
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return (amp * env * x / 1.84).astype(np.float32)


def write_with_av(path: Path, mono: np.ndarray, sr: int, codec: str, channels: int = 1) -> Path:
    """Encode with FFmpeg through PyAV (m4a/aac, webm/opus, ...)."""
    import av

    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=sr, layout=layout)
        fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
        data = np.tile(mono[None, :], (channels, 1)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            data if fmt.endswith("p") else data.T.reshape(1, -1),
            format="fltp" if fmt.endswith("p") else "flt",
            layout=layout,
        )
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
