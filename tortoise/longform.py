"""Long text: split into segments, generate each into its own file, combine; resume and regenerate chosen segments.

An output folder holds ``segments.json`` (the plan: voice, each segment's text, seed and file), one file per segment and
candidate (``01.wav``, ``01_c2.wav`` ...: segments and candidates are numbered from 1, as in ``--regenerate``, the
messages and the app), and ``combined.wav`` (each segment's best candidate, in order). Every file is written
atomically as soon as it is done, so a failure or a cancel keeps every finished segment; running again with
``skip_existing`` resumes where it stopped, and ``regenerate`` redoes only the segments named.

Seeds: an explicit seed always wins (segment n, from 1, uses seed + n - 1). Without one, every run draws a new
seed, and so does every regenerated segment: a rerun is a new take. The stored plan's seeds are used only for
segments that a resume (``skip_existing``, or the segments not named by ``regenerate``) still has to make, so a
resumed job gives the audio the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio_io import atomic_write, read_audio, read_metadata, save_audio
from .errors import InvalidInputError, TortoiseError
from .options import MAX_SEED, GenerationOptions, new_seed
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
    """The file of segment ``index`` and candidate ``candidate`` (both 0-based here): ``01.wav``, ``01_c2.wav`` ..."""
    n = index + 1
    return folder / (f"{n:02d}.wav" if candidate == 0 else f"{n:02d}_c{candidate + 1}.wav")


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


def _read_plan(folder: Path) -> dict | None:
    try:
        plan = json.loads((folder / PLAN).read_text())
    except (OSError, ValueError):  # none yet, or unreadable: start a new plan
        return None
    return plan if isinstance(plan, dict) else None


def _stored_seeds(plan: dict | None, segments: list[str], voice: str) -> tuple[int, list[int]] | None:
    """(take seed, each segment's seed) of a stored plan for these same segments and voice, or None. Older plans kept
    one seed: segment i used seed + i."""
    if plan is None or plan.get("segments") != segments or plan.get("voice") != voice:
        return None
    seed, seeds = plan.get("seed"), plan.get("seeds")
    if not (isinstance(seeds, list) and len(seeds) == len(segments) and all(isinstance(x, int) for x in seeds)):
        seeds = [seed + i for i in range(len(segments))] if isinstance(seed, int) else None
    if seeds is None:
        return None
    return (seed if isinstance(seed, int) else seeds[0]), seeds


def _write_plan(folder: Path, plan: dict) -> None:
    atomic_write(folder / PLAN, lambda tmp: tmp.write_text(json.dumps(plan, indent=1)))


def _plan_seeds(
    stored: tuple[int, list[int]] | None, n: int, seed: int | None, redo: set[int], resuming: bool
) -> tuple[int, list[int]]:
    """(the take's seed, each segment's seed): explicit ``seed`` -> seed + i; resuming a stored plan -> its seeds,
    with a new seed for each segment in ``redo``; otherwise a new seed for the whole take."""
    if seed is not None:
        return seed, [seed + i for i in range(n)]
    if resuming and stored is not None:
        take_seed, seeds = stored
        return take_seed, [new_seed() if i in redo else s for i, s in enumerate(seeds)]
    base = new_seed()
    return base, [base + i for i in range(n)]


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
    """Generate ``text`` segment by segment into ``folder`` (see the module docstring for files and seeds).

    ``on_segment(i, n, text)`` is called before each segment (``i`` from 0); ``progress`` is passed to ``tts.tts``.
    A segment whose text is refused is recorded in ``failed`` and the next segment goes on (unless
    ``stop_on_error``); any other error stops the run, keeping the finished files. The combined file is written only
    when every segment has audio. Every file's metadata records what determines its audio (``provenance.describe``).
    """
    from .provenance import describe

    segments = split_text(text, desired_length=desired_length, max_length=max_length, splitter=splitter)
    if not segments:
        raise InvalidInputError("the text has nothing to speak")
    n, folder = len(segments), Path(folder)
    kept, take_seed, seeds = _plan(folder, segments, voice, options.seed, regenerate, skip_existing)
    engine = describe(tts, voice, options)
    folder.mkdir(parents=True, exist_ok=True)
    files = [segment_file(folder, i).name for i in range(n)]  # the i-th text, seed and file: segment i + 1
    _write_plan(folder, {"voice": voice, "seed": take_seed, "segments": segments, "seeds": seeds, "files": files})
    result = LongResult(folder, segments, [segment_file(folder, i) for i in range(n)], None)
    for i, segment in enumerate(segments):
        if i in kept:
            continue
        if on_segment is not None:
            on_segment(i, n, segment)
        seg_options = dataclasses.replace(options, seed=seeds[i])
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
            raise type(e)(f"{e} ({done} of {n} segments are done in {folder}; rerun to resume)") from e
        for c, audio in enumerate(out.audio):
            meta = {"text": segment, "voice": voice, "segment": i + 1, "candidate": c + 1, "seed": out.seed}
            meta |= {"options": dataclasses.asdict(seg_options), "engine": engine}
            save_audio(segment_file(folder, i, c), audio, out.sample_rate, metadata=meta)
        for stage, seconds in out.timings.items():
            result.timings[stage] = result.timings.get(stage, 0.0) + seconds
        result.generated.append(i)
    if all(f.is_file() for f in result.files):
        meta = {"text": text, "voice": voice, "seed": take_seed, "seeds": seeds, "segments": n, "engine": engine}
        meta["options"] = dataclasses.asdict(dataclasses.replace(options, seed=take_seed))  # segment i: seeds[i]
        result.combined = combine(result.files, folder / COMBINED, metadata=meta)
    return result


def _plan(
    folder: Path, segments: list[str], voice: str, seed: int | None, regenerate: str | None, skip_existing: bool
) -> tuple[dict[int, dict], int, list[int]]:
    """(kept files' metadata by index, the run's seed, each segment's seed) for ``generate_long``."""
    n = len(segments)
    redo = parse_regenerate(regenerate, n)
    if seed is not None and seed + n - 1 > MAX_SEED:
        raise InvalidInputError(f"seed={seed} is too large for {n} segments (each uses seed + its index)")
    resuming = skip_existing or bool(regenerate)
    kept = _reusable(folder, segments, redo) if resuming else {}
    stored = _stored_seeds(_read_plan(folder), segments, voice)
    take_seed, seeds = _plan_seeds(stored, n, seed, redo, resuming)
    for i, meta in kept.items():  # a kept file's seed is the one it was made with
        seeds[i] = meta["seed"] if isinstance(meta.get("seed"), int) else seeds[i]
    return kept, take_seed, seeds


def _reusable(folder: Path, segments: list[str], redo: set[int]) -> dict[int, dict]:
    """{index: metadata} of the segment files a resume keeps: made from the same text, not named for redoing."""
    kept = {}
    for i, segment in enumerate(segments):
        path = segment_file(folder, i)
        if i in redo or not path.is_file():
            continue
        try:
            meta = read_metadata(path)
        except Exception:  # unreadable (truncated, not ours): make it again
            continue
        if meta.get("text") == segment:  # after an edit, old files must not be reused
            kept[i] = meta
    return kept


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
