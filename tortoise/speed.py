"""Speaking rate: make speech faster or slower without changing its pitch.

The time stretch is Rubber Band's, through ``pedalboard.time_stretch`` (Spotify's pedalboard; its wheels carry the
library, so nothing else is installed). Quality and cost are measured by ``bench/bench_speed.py`` (numbers in the
README): the pitch of a harmonic tone stays within 0.1% and the length is 1/speed within 2% from 0.25 to 4.0.
A stream is stretched chunk by chunk; each chunk keeps its own length ratio, and the seams (a few ms) are not
cross-faded, as the chunks are long (seconds).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from .audio import OUTPUT_SAMPLE_RATE
from .errors import InvalidInputError

MIN_SPEED, MAX_SPEED = 0.25, 4.0  # OpenAI's range for ``speed``


def check_speed(speed: float) -> float:
    """``speed`` as a float, or ``InvalidInputError`` unless it is a number from 0.25 to 4.0."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidInputError(f"speed={speed!r} is out of range; valid: {MIN_SPEED} .. {MAX_SPEED} (1.0 = unchanged)")
    return float(speed)


def stretch_available() -> bool:
    """Whether the time-stretch library (pedalboard) is installed."""
    try:
        import pedalboard  # noqa: F401
    except ImportError:
        return False
    return True


def change_speed(audio: Tensor | np.ndarray, speed: float, *, sample_rate: int = OUTPUT_SAMPLE_RATE) -> np.ndarray:
    """``audio`` ((T,) float) spoken ``speed`` times as fast, same pitch: returns (about T / speed,) float32.

    Parameters
    ----------
    audio : mono samples in [-1, 1], (T,) or (1, T).
    speed : 0.25 .. 4.0; 2.0 halves the duration, 0.5 doubles it; 1.0 returns the samples unchanged.
    sample_rate : Hz of ``audio``.

    Raises
    ------
    InvalidInputError : speed out of range, or pedalboard not installed while speed is not 1.
    """
    speed = check_speed(speed)
    if isinstance(audio, Tensor):
        audio = audio.detach().float().cpu().numpy()
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1))
    if speed == 1.0 or x.size == 0:
        return x
    try:
        from pedalboard import time_stretch
    except ImportError:
        raise InvalidInputError(
            "changing the speaking rate needs pedalboard: pip install pedalboard (or keep speed at 1.0)"
        ) from None
    # high_quality: Rubber Band's finer engine; preserve_formants keeps the voice's timbre
    y = time_stretch(x[None, :], float(sample_rate), stretch_factor=speed, high_quality=True)  # (1, T')
    return np.ascontiguousarray(y.reshape(-1), dtype=np.float32)
