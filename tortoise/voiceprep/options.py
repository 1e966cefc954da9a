"""``PrepOptions``: every preparation step's switch and parameters, validated once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import InvalidInputError


def _check(ok: bool, what: str, value) -> None:
    if not ok:
        raise InvalidInputError(f"{what} (got {value!r})")


@dataclass(frozen=True, kw_only=True)
class PrepOptions:
    """How recordings become voice clips. Every field has a default that suits speech recorded at home.

    Steps run in this order: mono mix-down -> DC removal / high-pass -> resample to 22.05 kHz -> noise reduction ->
    edge trimming -> slicing into clips -> loudness normalisation of each clip. Mix-down and resampling always run
    (a voice folder holds 22.05 kHz mono clips) and are reported; the other steps can be switched off.

    Parameters
    ----------
    channel : None averages all channels; an index (0 = left) keeps only that channel.
    remove_dc : subtract the mean (a DC offset wastes headroom and skews the level statistics).
    highpass_hz : cut-off of a zero-phase 4th-order Butterworth high-pass (rumble, handling noise, most mains hum),
        or None for no filter. 70 Hz leaves the lowest male fundamentals intact.
    denoise : spectral-gating noise reduction with a stationary noise profile.
    denoise_strength : 0..1, the fraction of the noise removed (0.85 lowers the noise floor by ~16 dB while keeping
        artefacts mild; 1.0 removes all of it and can sound watery).
    noise_region : (start_s, end_s) of noise only (e.g. a silent lead-in), in seconds of each source's own timeline;
        None takes the quietest 10 % of the recording. A source shorter than the region falls back to the automatic
        profile, with a warning.
    trim : cut silence at the edges of each recording and each clip.
    trim_db : how far below the speech level (dB) counts as silence; the noise floor + 6 dB is used when higher.
    trim_padding_s : silence kept before the first and after the last sound, so soft onsets are not clipped.
    normalize : loudness-normalise each clip (ITU-R BS.1770 / EBU R128 integrated loudness).
    target_lufs : the loudness target. -20 LUFS matches TorToiSe's built-in voices (-18.4 to -21.4 LUFS).
    true_peak_db : ceiling for the true (4x oversampled) peak, dBTP; a look-ahead limiter holds louder peaks.
    slice : cut recordings longer than ``max_clip_s`` into clips at pauses, so that each clip is whole phrases.
    min_clip_s, max_clip_s : wanted clip length, seconds (TorToiSe conditions on 6 s crops; 3-11 s works well).
    keep_rejected : also save clips that failed validation (they stay marked as rejected in voice.json).
    """

    channel: int | None = None
    remove_dc: bool = True
    highpass_hz: float | None = 70.0
    denoise: bool = True
    denoise_strength: float = 0.85
    noise_region: tuple[float, float] | None = None
    trim: bool = True
    trim_db: float = 40.0
    trim_padding_s: float = 0.15
    normalize: bool = True
    target_lufs: float = -20.0
    true_peak_db: float = -1.0
    slice: bool = True
    min_clip_s: float = 3.0
    max_clip_s: float = 11.0
    keep_rejected: bool = False

    def __post_init__(self) -> None:
        _check(
            self.channel is None or (isinstance(self.channel, int) and self.channel >= 0),
            "channel must be None (average) or a channel index >= 0",
            self.channel,
        )
        _check(
            self.highpass_hz is None or 10.0 <= self.highpass_hz <= 300.0,
            "highpass_hz must be None or between 10 and 300 Hz",
            self.highpass_hz,
        )
        _check(0.0 <= self.denoise_strength <= 1.0, "denoise_strength must be between 0 and 1", self.denoise_strength)
        if self.noise_region is not None:
            ok = len(self.noise_region) == 2 and all(math.isfinite(float(v)) for v in self.noise_region)
            _check(
                ok and 0 <= self.noise_region[0] < self.noise_region[1],
                "noise_region must be (start_s, end_s) with 0 <= start < end",
                self.noise_region,
            )
            _check(
                self.noise_region[1] - self.noise_region[0] >= 0.1,
                "noise_region must be at least 0.1 s long",
                self.noise_region,
            )
        _check(10.0 <= self.trim_db <= 80.0, "trim_db must be between 10 and 80 dB", self.trim_db)
        _check(0.0 <= self.trim_padding_s <= 1.0, "trim_padding_s must be between 0 and 1 s", self.trim_padding_s)
        _check(-40.0 <= self.target_lufs <= -10.0, "target_lufs must be between -40 and -10 LUFS", self.target_lufs)
        _check(-12.0 <= self.true_peak_db <= 0.0, "true_peak_db must be between -12 and 0 dBTP", self.true_peak_db)
        _check(
            self.true_peak_db > self.target_lufs + 3.0,
            "true_peak_db must be at least 3 dB above target_lufs",
            (self.target_lufs, self.true_peak_db),
        )
        _check(1.0 <= self.min_clip_s <= 30.0, "min_clip_s must be between 1 and 30 s", self.min_clip_s)
        _check(
            self.max_clip_s >= 2 * self.min_clip_s and self.max_clip_s <= 60.0,
            "max_clip_s must be at least twice min_clip_s and at most 60 s",
            (self.min_clip_s, self.max_clip_s),
        )

    def to_dict(self) -> dict:
        """The options as plain JSON-ready values (recorded in voice.json)."""
        d = dataclasses.asdict(self)
        if d["noise_region"] is not None:
            d["noise_region"] = list(d["noise_region"])
        return d
