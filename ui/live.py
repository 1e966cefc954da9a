"""Listening while speech is made (the Generate tab's "Listen while it is made"): fast mode, chunk by chunk.

Nothing is saved: Generate makes the files and the History entry.
"""

from __future__ import annotations

import dataclasses
import shutil

from tortoise.audio import OUTPUT_SAMPLE_RATE
from tortoise.errors import InvalidInputError, TortoiseError
from tortoise.speed import change_speed

from . import export
from .engine import Engine
from .generate import make_options, redaction, redaction_problem, voice_spec


def stream_fast(engine: Engine, values: dict, *, chunk_tokens: int = 40, first_chunk_tokens: int = 60):
    """Yield ``(24 kHz, samples)`` chunks for Gradio's streaming audio: fast mode (one take, HiFi-GAN decoder).

    The text and voice and the sampling settings come from the Generate tab; nothing is saved (use Generate for
    files and history). Raises ``TortoiseError`` for bad input or missing models.
    """
    text = (values.get("text") or "").strip()
    if not text:
        raise InvalidInputError("type some text to speak first")
    redact = values.get("redact") is not False
    if problem := redaction_problem(text, redact):
        raise TortoiseError(problem[0])
    if shutil.which("ffmpeg") is None:  # Gradio encodes streamed audio with the ffmpeg program
        raise TortoiseError(
            "listening while it is made needs FFmpeg: install it (sudo apt install ffmpeg, or conda install ffmpeg) "
            "and restart the app; Generate works without it"
        )
    _, speed = export.checked(None, values.get("speed"))
    options = dataclasses.replace(make_options(values), mode="fast", num_autoregressive_samples=1, candidates=1)
    voice = voice_spec(values.get("voices")) or "random"
    with engine.gpu(who="live stream"):
        tts = engine.tts()
        with redaction(tts, redact):
            chunks = tts.stream(text, voice, options, chunk_tokens=chunk_tokens, first_chunk_tokens=first_chunk_tokens)
            for chunk in chunks:
                yield OUTPUT_SAMPLE_RATE, change_speed(chunk, speed)
