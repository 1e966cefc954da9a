"""The CLI's finished files in the format and speaking rate asked for (``--format``, ``--speed``).

Generation always writes float32 WAV segments and ``combined.wav`` (what resume and regenerate reuse); the file the
user asked for is made from those at the end. The format is ``--format`` if given, else the one the output's
extension names (``.mp3``, ``.opus``/``.ogg``, ``.aac``, ``.m4a``, ``.flac``, ``.wav``, ``.pcm``); ``-o out.wav
--format mp3`` is a contradiction and an error, and an output name without an audio extension gets the format's
(``-o speech --format mp3`` writes ``speech.mp3``). WAV stays float32 (the model's samples unrounded), with the
settings in its comment tag; the other formats carry title, voice and settings where their container has tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from torch import Tensor

from .audio import OUTPUT_SAMPLE_RATE
from .encode import FORMATS, StreamEncoder, format_for_path, get_format, write_file
from .errors import InvalidInputError
from .speed import change_speed, check_speed, stretch_available


def check_output(
    output: Path | None, fmt: str | None, speed: float, *, stream: bool = False
) -> tuple[Path | None, str | None]:
    """Before any work: the output path and format to write (None: float WAV), or ``InvalidInputError``."""
    check_speed(speed)
    if speed != 1.0 and not stretch_available():
        raise InvalidInputError("--speed needs pedalboard: pip install pedalboard (or leave --speed at 1)")
    named = format_for_path(output) if output is not None else None
    if fmt is not None:
        fmt = get_format(fmt).name
        if named is not None and named.name != fmt:
            raise InvalidInputError(
                f"-o {output.name} names {named.name} but --format is {fmt}: change the extension or the format"
            )
        if output is not None and named is None:
            output = output.with_name(output.name + FORMATS[fmt].extension)
    elif named is not None:
        fmt = named.name
    if stream and fmt is not None and not FORMATS[fmt].streams:
        raise InvalidInputError(f"--stream cannot write {fmt} (its index comes at the end); use mp3, opus or aac")
    return output, (None if fmt == "wav" else fmt)


def finish(src: Path, dst: Path, fmt: str | None, speed: float, *, tags: dict) -> Path:
    """``dst`` made from the float WAV ``src``: its samples at ``speed``, in ``fmt`` (None: float WAV)."""
    import shutil

    from .audio_io import atomic_write, load_audio, save_audio

    if fmt is None and speed == 1.0:
        return atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
    audio = change_speed(load_audio(src, OUTPUT_SAMPLE_RATE, allow_silent=True), speed)
    if fmt is None:
        return save_audio(dst, audio, OUTPUT_SAMPLE_RATE, metadata=tags.get("comment"))
    return write_file(dst, audio, fmt, sample_rate=OUTPUT_SAMPLE_RATE, tags=tags)


def converted_name(path: Path, fmt: str | None, speed: float) -> Path:
    """``-O``: where the converted combined file goes beside ``combined.wav`` (``combined_1.5x.mp3``)."""
    stem = path.stem if speed == 1.0 else f"{path.stem}_{speed:g}x"
    return path.with_name(stem + (FORMATS[fmt].extension if fmt else path.suffix))


def file_tags(src: Path, text: str, voice: str) -> dict:
    """Title (the text, shortened), artist (the voice) and comment (the settings ``src`` records)."""
    from .audio_io import read_metadata

    title = text if len(text) <= 200 else text[:197] + "..."
    return {"title": title, "artist": voice, "comment": read_metadata(src) or None}


def stream_to_file(chunks: Iterable[Tensor], output: Path, fmt: str, speed: float, *, tags: dict) -> Iterable[int]:
    """Encode ``chunks`` into ``output`` as they come (flushed after each); yields the samples written so far."""
    encoder = StreamEncoder(fmt, sample_rate=OUTPUT_SAMPLE_RATE, tags=tags)
    output.parent.mkdir(parents=True, exist_ok=True)
    samples = 0
    with output.open("wb") as f:
        for chunk in chunks:
            audio = change_speed(chunk, speed)
            f.write(encoder.push(audio))
            f.flush()
            samples += audio.size
            yield samples
        f.write(encoder.finish())
