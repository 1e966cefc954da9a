"""Rendering a project: the chosen segments, one ``TextToSpeech.tts`` call per take, saved after every segment.

Which segments: ``pending`` (new, edited or failed: what a resumed render still has to make), ``bad`` (marked bad,
by the user or by the checks) or ``all``; optionally of one chapter. A cancel (``cancel.set()``, Ctrl-C) or a
crash keeps every finished segment: run again to go on.

Seeds, as in :mod:`tortoise.longform`: a segment's explicit seed wins; else the project's explicit seed gives the
segment at position i (from 0, in the book) ``seed + i``; else a new random seed. The seed is planned and saved
before the segment is made, so a resumed render makes the audio the uninterrupted one would have. When the checks
reject a take, the next take gets a new seed (an explicit seed s gives ``s + k * 2**32`` for retry k) until one
passes or ``max_takes`` are made; the best is accepted and the others are kept, to compare and choose. A render
keeps the check thresholds it started with (a copy): changing them meanwhile applies to the next render.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..audio_io import save_audio
from ..errors import InvalidInputError, ModelNotFoundError, TortoiseError
from ..options import MAX_SEED, GenerationOptions, new_seed, preset
from ..redaction import has_redaction
from .checks import TakeCheck, Transcriber, check_take, default_transcriber
from .model import PENDING, CheckSettings, Project, Segment, Take
from .store import ProjectFolder

if TYPE_CHECKING:
    from torch import Tensor

WHICH = ("pending", "bad", "all")
RETRY_STRIDE = 2**32  # retry k of an explicit seed s uses s + k * 2**32: never another segment's seed + i


@dataclass
class RenderProgress:
    """Reported after each segment: ``done`` of ``total`` segments, and the estimated seconds left."""

    done: int
    total: int
    segment: Segment
    elapsed: float
    eta: float | None


@dataclass
class RenderSummary:
    """What a render did, kept up to date as segments finish (by :func:`render` and the cluster's driver)."""

    rendered: list[str] = field(default_factory=list)  # segment ids given a new accepted take
    bad: list[str] = field(default_factory=list)  # of those, the ones whose best take failed the checks
    failed: dict[str, str] = field(default_factory=dict)  # id -> error
    cancelled: bool = False
    seconds: float = 0.0

    def accepted(self, segment: Segment, check: TakeCheck | None) -> None:
        self.rendered.append(segment.id)
        if check is not None and not check.passed:
            self.bad.append(segment.id)

    def refused(self, folder: ProjectFolder, segment: Segment, error: str) -> None:
        """``segment`` cannot be made (its text, or it brought down the workers): marked failed, saved."""
        segment.status, segment.error, self.failed[segment.id] = "failed", error, error
        folder.save()


class ProgressClock:
    """Calls ``progress`` after each segment with the time spent and the ETA over the characters left."""

    def __init__(self, texts: list[str], progress: Callable[[RenderProgress], None] | None):
        self.total, self.progress, self.start = len(texts), progress, time.perf_counter()
        self.chars_left, self.chars_done = sum(len(t) for t in texts), 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def finished(self, done: int, segment: Segment) -> None:
        """``segment`` (the ``done``-th) is finished, made or not."""
        self.chars_done += len(segment.text)
        self.chars_left -= len(segment.text)
        if self.progress is not None:
            elapsed = self.elapsed()
            eta = elapsed / self.chars_done * self.chars_left if self.chars_done else None
            self.progress(RenderProgress(done, self.total, segment, elapsed, eta))


def select(project: Project, *, chapter: int | None = None, which: str = "pending") -> list[tuple[int, Segment]]:
    """(position in the book, segment) of the segments a render makes; ``chapter`` is an index (from 0)."""
    if which not in WHICH:
        raise InvalidInputError(f"which={which!r} is unknown; choose one of {', '.join(WHICH)}")
    wanted = {"pending": PENDING, "bad": ("bad",), "all": None}[which]
    return [(pos, s) for _, pos, s in project.segments(chapter) if wanted is None or s.status in wanted]


def segment_options(project: Project, segment: Segment) -> GenerationOptions:
    """The project's preset and option overrides, then the segment's; one candidate (a take is one audio)."""
    d = project.defaults
    return preset(d.preset, **{**d.options, **segment.options, "candidates": 1, "seed": None})


def planned_seed(project: Project, position: int, segment: Segment) -> int:
    if segment.seed is not None:
        return segment.seed
    if project.defaults.seed is not None:
        return project.defaults.seed + position
    return new_seed()


def retry_seed(first: int, k: int, *, explicit: bool) -> int:
    """Take k (from 0) of a segment whose first take used ``first``."""
    if k == 0:
        return first
    return (first + k * RETRY_STRIDE) % MAX_SEED if explicit else new_seed()


@dataclass(frozen=True)
class TakeJob:
    """Everything a segment's takes depend on, without the project: what a cluster worker is sent."""

    segment_id: str
    text: str
    voice: str
    options: GenerationOptions
    first_seed: int
    explicit_seed: bool  # retries: first + k * RETRY_STRIDE, else new random seeds
    checks: CheckSettings


@dataclass
class MadeTake:
    """One take, not yet in the project: the audio (T,), its seed and its check (None when the checks are off)."""

    audio: Tensor
    sample_rate: int
    seed: int
    check: TakeCheck | None


def plan(project: Project, position: int, segment: Segment, checks: CheckSettings | None = None) -> TakeJob:
    """The segment's next takes; plans its first seed into ``segment.next_seed`` (save the project before making
    them, so a resume makes the same takes). ``checks``: the thresholds (default: the project's now)."""
    if segment.next_seed is None:
        segment.next_seed = planned_seed(project, position, segment)
    explicit = segment.seed is not None or project.defaults.seed is not None
    voice = segment.voice or project.defaults.voice
    options = segment_options(project, segment)
    checks = project.defaults.checks if checks is None else checks
    return TakeJob(segment.id, segment.text, voice, options, segment.next_seed, explicit, checks)


def make_takes(tts, job: TakeJob, transcriber: Transcriber | None, *, latents=None) -> list[MadeTake]:
    """Takes of one segment until one passes the checks (or ``max_takes``). Touches no file: the caller records them.

    ``latents``: the voice's conditioning latents made before (``TextToSpeech.voice_latents``), or None.
    """
    settings, takes = job.checks, []
    extra = {} if latents is None else {"latents": latents}
    for k in range(settings.max_takes if settings.enabled else 1):
        seed = retry_seed(job.first_seed, k, explicit=job.explicit_seed)
        out = tts.tts(job.text, job.voice, dataclasses.replace(job.options, seed=seed), **extra)
        audio = out.audio[0]
        check = check_take(audio, out.sample_rate, job.text, settings, transcriber) if settings.enabled else None
        takes.append(MadeTake(audio, out.sample_rate, out.seed, check))
        if check is None or check.passed:
            break
    return takes


def record(folder: ProjectFolder, segment: Segment, job: TakeJob, takes: list[MadeTake]) -> TakeCheck | None:
    """Write the takes' files, then name them in the project, accept the best, save. Returns the accepted check."""
    first = len(segment.takes)
    for made in takes:
        path = folder.take_path(segment.id, len(segment.takes) + 1)
        meta = {"text": job.text, "voice": job.voice, "seed": made.seed, "segment": segment.id}
        save_audio(path, made.audio, made.sample_rate, metadata=meta | {"options": dataclasses.asdict(job.options)})
        seconds = made.audio.shape[-1] / made.sample_rate
        take = Take(path.relative_to(folder.path).as_posix(), made.seed, job.text, seconds)
        take.checks = made.check.to_dict() if made.check else {}
        segment.takes.append(take)
    best = min(range(len(takes)), key=lambda i: (takes[i].check.score if takes[i].check else 0.0, i))
    check = takes[best].check
    segment.take, segment.next_seed, segment.error = first + best, None, None
    segment.status = "done" if check is None or check.passed else "bad"
    folder.save()
    return check


def check_brackets(project: Project, todo: list[tuple[int, Segment]], aligner) -> None:
    """Refuse, before any work, to render [bracketed] text whose aligner (which cuts it from the audio) is not on
    this machine; looks only. Unbalanced brackets are left to the render (that segment fails alone)."""
    bracketed = []
    for _, segment in todo:
        try:
            if has_redaction(segment.text):
                bracketed.append(segment)
        except InvalidInputError:
            continue
    missing = aligner.missing() if bracketed else None
    if missing is None:
        return
    segment = bracketed[0]
    chapter = next(c for c, _, s in project.segments() if s is segment)
    number = project.chapters[chapter].segments.index(segment)
    get = "run `tortoise-tts models download --redaction` once"
    if missing == "transformers":
        get = "run `pip install 'tortoise-tts-oneapi[redaction]'`, then " + get
    raise ModelNotFoundError(
        f"{len(bracketed)} segment(s) have [bracketed] text (first: chapter {chapter + 1}, segment {number + 1}: "
        f"{segment.text[:50]!r}), which is cut from the audio with the wav2vec2 aligner (about 1.3 GB), not on this "
        f"machine: {get}, or take the brackets out of those segments. Nothing was rendered."
    )


def render_segment(
    folder: ProjectFolder,
    tts,
    position: int,
    segment: Segment,
    transcriber: Transcriber | None,
    checks: CheckSettings | None = None,
) -> TakeCheck | None:
    """Make takes of one segment until one passes (or the limit), accept the best, save. Returns its check."""
    planned = segment.next_seed is None
    job = plan(folder.project, position, segment, checks)
    if planned:  # saved first: a resume makes the same take
        folder.save()
    return record(folder, segment, job, make_takes(tts, job, transcriber))


def render(
    folder: ProjectFolder,
    tts,
    *,
    chapter: int | None = None,
    which: str = "pending",
    transcriber: Transcriber | None = None,
    progress: Callable[[RenderProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> RenderSummary:
    """Render a project's segments with ``tts`` (a :class:`tortoise.api.TextToSpeech`); see the module docstring.

    Parameters
    ----------
    chapter : a chapter index (from 0), or None for the whole book.
    which : "pending" (new, edited, failed), "bad" or "all".
    transcriber : what the checks transcribe with (default: the wav2vec2 recogniser, loaded before any work; a
        ``ChecksUnavailableError`` says what to download). Unused when the project's checks are off.
    progress : called after every segment with a :class:`RenderProgress` (ETA over the characters left).
    cancel : set it to stop after the segment in flight.

    Raises
    ------
    TortoiseError when the models, voice or device fail (the finished segments are kept). A segment whose text is
    refused is marked ``failed`` with the reason, and the others go on.
    """
    project = folder.project
    todo = select(project, chapter=chapter, which=which)
    checks = dataclasses.replace(project.defaults.checks)  # a render keeps the thresholds it started with
    if checks.enabled and transcriber is None and todo:
        transcriber = default_transcriber(getattr(tts, "device", None))
    for voice in {s.voice or project.defaults.voice for _, s in todo}:
        tts.check_voice(voice)  # fail before any work, not once per segment
    if getattr(tts, "enable_redaction", False):
        check_brackets(project, todo, tts.aligner())
    summary, clock = RenderSummary(), ProgressClock([s.text for _, s in todo], progress)
    for done, (position, segment) in enumerate(todo, 1):
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        try:
            check = render_segment(folder, tts, position, segment, transcriber, checks)
        except InvalidInputError as e:  # this segment's text: note it and go on with the others
            summary.refused(folder, segment, str(e))
        except TortoiseError as e:  # models, voice, device: the next segment would fail the same way
            raise type(e)(f"{e} ({len(summary.rendered)} segments were rendered and saved; rerun to resume)") from e
        else:
            summary.accepted(segment, check)
        clock.finished(done, segment)
    summary.seconds = clock.elapsed()
    return summary
