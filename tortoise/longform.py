"""Long text: split into segments, generate each into its own file, combine; resume and regenerate chosen segments.

An output folder holds ``segments.json`` (the plan: texts, voice, seeds), one file per segment and candidate
(``NN.wav``, ``NN_c2.wav`` ...), and ``combined.wav`` (each segment's best candidate, in order). Every file is written
atomically as soon as it is done, so a failure or a cancel keeps every finished segment; running again with
``skip_existing`` resumes where it stopped, and ``regenerate`` redoes only the segments named.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio_io import atomic_write, read_audio, read_metadata, save_audio
from .errors import InvalidInputError, TortoiseError
from .options import GenerationOptions
from .text import split_text

PLAN = "segments.json"
COMBINED = "combined.wav"


@dataclass
class LongResult:
    folder: Path
    segments: list[str]
    files: list[Path]  # best candidate of each segment
    combined: Path | None
    generated: list[int] = field(default_factory=list)  # segment indices generated in this run (others reused)
    failed: dict[int, str] = field(default_factory=dict)  # index -> error message
    timings: dict[str, float] = field(default_factory=dict)


def segment_file(folder: Path, index: int, candidate: int = 0) -> Path:
    return folder / (f"{index:02d}.wav" if candidate == 0 else f"{index:02d}_c{candidate + 1}.wav")


def parse_regenerate(spec: str | None, count: int) -> set[int]:
    """``"1,3-4"`` -> {1, 3, 4} (segment numbers as printed, starting at 1) -> zero-based indices."""
    if not spec:
        return set()
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        try:
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InvalidInputError(f"--regenerate {spec!r}: use segment numbers like 2 or 1,3-5") from None
        if not 1 <= first <= last <= count:
            raise InvalidInputError(f"--regenerate {part!r}: segments are numbered 1 to {count}")
        out.update(range(first - 1, last))
    return out


def _plan(folder: Path, segments: list[str], voice: str, seed: int) -> dict:
    path = folder / PLAN
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("segments") == segments and old.get("voice") == voice:
            return old  # same job: keep its seed so regenerating a segment stays reproducible
    plan = {"voice": voice, "seed": seed, "segments": segments}
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(plan, indent=1)))
    return plan


def generate_long(
    tts,
    text: str,
    voice: str,
    options: GenerationOptions,
    folder: Path,
    *,
    desired_length: int = 200,
    max_length: int = 300,
    splitter: str = "ours",
    regenerate: str | None = None,
    skip_existing: bool = False,
    on_segment: Callable[[int, int, str], None] | None = None,
    progress=None,
    stop_on_error: bool = False,
) -> LongResult:
    """Generate ``text`` segment by segment into ``folder`` (see the module docstring).

    Segment ``i`` uses seed ``plan_seed + i``: rerunning or regenerating it alone gives the same audio as in a full
    run. ``on_segment(i, n, text)`` is called before each segment; ``progress`` is passed to ``tts.tts``. A segment
    whose text is refused is recorded in ``failed`` and the next segment goes on (unless ``stop_on_error``); any
    other error stops the run, keeping the finished files. The combined file is written only when every segment has
    audio.
    """
    segments = split_text(text, desired_length=desired_length, max_length=max_length, splitter=splitter)
    if not segments:
        raise InvalidInputError("the text has nothing to speak")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base_seed = options.seed if options.seed is not None else int(torch.randint(0, 2**31, (1,)).item())
    plan = _plan(folder, segments, voice, base_seed)
    redo = parse_regenerate(regenerate, len(segments))
    result = LongResult(folder, segments, [segment_file(folder, i) for i in range(len(segments))], None)
    for i, segment in enumerate(segments):
        best = segment_file(folder, i)
        if best.is_file() and i not in redo and (skip_existing or regenerate) and _holds(best, segment):
            continue
        if on_segment is not None:
            on_segment(i, len(segments), segment)
        seg_options = dataclasses.replace(options, seed=plan["seed"] + i)
        try:
            out = tts.tts(segment, voice, seg_options, progress=progress)
        except InvalidInputError as e:  # this segment's text: note it and go on with the others
            result.failed[i] = str(e)
            if stop_on_error:
                raise
            continue
        except TortoiseError as e:  # models, voice, device: the next segment would fail the same way
            done = sum(f.is_file() for f in result.files)
            if not done:
                raise
            raise type(e)(f"{e} ({done} of {len(segments)} segments are done in {folder}; rerun to resume)") from e
        for c, audio in enumerate(out.audio):
            meta = {"text": segment, "voice": voice, "segment": i + 1, "candidate": c + 1, "seed": out.seed}
            meta["options"] = dataclasses.asdict(seg_options)
            save_audio(segment_file(folder, i, c), audio, out.sample_rate, metadata=meta)
        for stage, seconds in out.timings.items():
            result.timings[stage] = result.timings.get(stage, 0.0) + seconds
        result.generated.append(i)
    if all(f.is_file() for f in result.files):
        meta = {"text": text, "voice": voice, "seed": plan["seed"], "segments": len(segments)}
        meta["options"] = dataclasses.asdict(dataclasses.replace(options, seed=plan["seed"]))  # segment i: seed + i
        result.combined = combine(result.files, folder / COMBINED, metadata=meta)
    return result


def _holds(path: Path, segment: str) -> bool:
    """Whether a segment file was made from this text (after an edit, old files must not be reused)."""
    try:
        return read_metadata(path).get("text") == segment
    except Exception:  # unreadable (truncated, not ours): make it again
        return False


def combine(files: list[Path], out: Path, *, metadata: dict | None = None) -> Path:
    """Concatenate mono files of one sample rate into ``out`` (atomically)."""
    parts, rate = [], None
    for f in files:
        data, sr = read_audio(f)
        if rate is not None and sr != rate:
            raise InvalidInputError(f"{f.name} is {sr} Hz but the other segments are {rate} Hz")
        rate = sr
        parts.append(data.mean(axis=0))
    if rate is None:
        raise InvalidInputError("no segment files to combine")
    return save_audio(out, np.concatenate(parts), rate, metadata=metadata)
