"""The vocoders (mel spectrogram -> 24 kHz waveform) a generation may use: the one table every other module reads.

``GenerationOptions.vocoder`` names a row; the row says which checkpoint runs it. The options check, the CLI's
``--vocoder`` choices and help, the app's dropdown and its missing-weights check, the pipeline and the take's
metadata all read this table. Adding a vocoder: its model file in ``tortoise/models/``, its checkpoint where every
checkpoint is registered (``weights.CHECKPOINTS``: where to download it; ``model_zoo.SPECS``: which class loads it),
and one row here. Every vocoder takes the 100-band mel of :func:`tortoise.audio.vocoder_mel` and returns audio at
``audio.OUTPUT_SAMPLE_RATE``. No torch here: the CLI builds its parser without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vocoder:
    checkpoint: str  # its weights' name in weights.CHECKPOINTS and model_zoo.SPECS
    about: str  # a few words for the CLI's --vocoder help


VOCODERS: dict[str, Vocoder] = {
    "univnet": Vocoder("vocoder", "the original's"),
    "bigvgan": Vocoder("bigvgan_base_24khz_100band", "needs its weights"),
}
