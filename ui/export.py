"""The result file in the format and speaking rate asked for in Generate, made as the CLI's ``-O --format --speed``
makes it (``tortoise.output``).

Decisions:
* The segment files and ``combined.wav`` stay float WAV at speed 1 (regenerating and resuming reuse them); the file
  asked for is made from ``combined.wav`` beside it (``combined.mp3``, ``combined_1.5x.mp3``; wav at speed 1 is
  ``combined.wav`` itself), with the text (title), voice (artist) and settings (comment) in its tags where the
  format has them. The result player plays it, so what is heard is what is downloaded.
* A rate other than 1 without pedalboard is refused before any work, naming the extra to install.
* A conversion that fails keeps the generation (in its folder and in the history) and says so.
"""

from __future__ import annotations

from pathlib import Path

from tortoise.errors import InvalidInputError, TortoiseError
from tortoise.output import converted_name, file_tags, finish
from tortoise.speed import check_speed, stretch_available

from . import strings as S

FORMATS = ("wav", "mp3", "opus", "aac", "m4a", "flac")  # tortoise.encode's file formats but raw pcm and m4b (books)


def checked(fmt: str | None, speed) -> tuple[str, float]:
    """The widgets' format and rate, or ``InvalidInputError`` (before any work: also without pedalboard)."""
    fmt, speed = fmt or "wav", check_speed(float(speed or 1.0))
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown download format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if speed != 1.0 and not stretch_available():
        raise InvalidInputError(S.SPEED_NEEDS_EXTRA)
    return fmt, speed


def export(combined: Path, *, text: str, voice: str, fmt: str, speed: float) -> Path | None:
    """``combined`` (a finished generation's ``combined.wav``) in ``fmt`` at ``speed``, beside it; None when
    ``combined`` is already that. ``TortoiseError`` saying the generation is kept when the conversion fails."""
    if fmt == "wav" and speed == 1.0:
        return None
    out = None if fmt == "wav" else fmt  # wav: float, as combined.wav
    try:
        tags = file_tags(combined, text, voice)
        return finish(combined, converted_name(combined, out, speed), out, speed, tags=tags)
    except Exception as error:
        raise TortoiseError(S.CONVERT_FAILED.format(folder=combined.parent, fmt=fmt, error=error)) from error
