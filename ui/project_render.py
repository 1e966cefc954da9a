"""Rendering a project, or checking its takes, from the Projects tab: the checks' model, the job on the device in a
worker thread, and the progress display it streams. The tab (``ui.projects_tab``) maps the updates to its components.

Decisions:
* Rendering takes the engine's device lock (one device job at a time, like Generate) and the browser tab's one job
  (``Engine.submit``/``begin``); Cancel stops the take in flight at its next progress report (the pipeline's progress
  callback) and keeps every finished segment; the interrupted one stays pending with its planned seed, so rendering
  again makes the same take.
* A segment edited while it was being rendered gets the take of its old text: it is marked ``edited`` again as soon as
  that take is saved, so the next render makes it anew.
* Regenerating one rendered segment whose text did not change draws a new random seed (its planned seed, from an
  explicit project seed, would make the very same take again).
* With the checks on and their speech-recognition model missing (or transformers), nothing starts: the update says
  why and whether downloading the model fixes it, and the tab offers that or turning the checks off.
* "Check takes" (``CheckRequest``, :func:`tortoise.project.review.check_accepted`, as ``tortoise-tts project check``)
  is a job like a render: the same device queue, the tab's one job, Cancel (between takes; the checks made are saved)
  and progress (take i of n, no stage bars: nothing is synthesised). It needs the recogniser whether the project's
  checks are on or off; without it nothing starts and only the download is offered. With nothing to check (no take
  of its segment's current text) it says so before asking for the recogniser. A segment edited while its take is
  checked is marked ``edited`` again, as during a render.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from tortoise import devices
from tortoise.errors import InvalidInputError, ModelNotFoundError
from tortoise.options import new_seed
from tortoise.project.checks import default_transcriber
from tortoise.project.model import Project
from tortoise.project.render import RenderProgress, render, render_segment, select
from tortoise.project.review import check_accepted, reviewable
from tortoise.redaction import Wav2VecAligner

from . import alerts
from . import strings as S
from .engine import STAGES, Engine, Job, JobCancelled, Worker
from .projects import OpenProjects, SharedFolder, clock, segment_of
from .stages import stage_html


def checks_problem(project: Project) -> tuple[str, bool] | None:
    """Why a render's checks cannot run now, and whether downloading the recogniser fixes it; None when they can (or
    are off)."""
    if not project.defaults.checks.enabled or (missing := Wav2VecAligner().missing()) is None:
        return None
    return (S.CHECKS_NEED_TRANSFORMERS, False) if missing == "transformers" else (S.CHECKS_NEED_MODEL, True)


def download_recogniser() -> str:
    Wav2VecAligner().download()
    return S.RECOGNISER_DOWNLOADED


class Reporting:
    """The pipeline with the job's progress callback on every take: live stage bars, and Cancel stops a take at its
    next report rather than after it."""

    def __init__(self, tts, job: Job):
        self._tts, self._job = tts, job

    def __getattr__(self, name):
        return getattr(self._tts, name)

    def tts(self, text, voice, options=None):
        self._job.fractions = dict.fromkeys(STAGES, 0.0)
        return self._tts.tts(text, voice, options, progress=self._job.progress)


# ---- the jobs: what ``stream`` runs ---------------------------------------------------------------------------------
# Each request says what stops it before any work (``problem``: message, whether downloading the recogniser fixes it,
# whether turning the checks off does), does its work (``run``), and shows its progress and its cancellation.


@dataclass(frozen=True)
class RenderRequest:
    name: str
    chapter: int | None = None  # index, None: the whole book
    which: str = "pending"  # tortoise.project.render.WHICH
    segment: str | None = None  # one segment (regenerate): chapter and which are then ignored
    kind: ClassVar[str] = "render"

    def problem(self, folder: SharedFolder) -> tuple[str, bool, bool] | None:
        problem = checks_problem(folder.project)
        return None if problem is None else (*problem, True)

    def run(self, engine: Engine, projects: OpenProjects, job: Job) -> str:
        return render_request(engine, projects, self, job)

    def progress_html(self, job: Job) -> str:
        return progress_html(job)

    def cancelled(self, job: Job) -> str:
        return S.RENDER_CANCELLED.format(done=job.segment, total=job.segments)


@dataclass(frozen=True)
class CheckRequest:
    """Check the accepted takes of the book (or chapter index ``chapter``) without rendering them again."""

    name: str
    chapter: int | None = None  # index, None: the whole book
    kind: ClassVar[str] = "check"

    def problem(self, folder: SharedFolder) -> tuple[str, bool, bool] | None:
        with folder.lock:
            if not reviewable(folder, self.chapter):
                return None  # run() says there is nothing to check: no download asked for that
        missing = Wav2VecAligner().missing()  # looks in the cache only
        if missing == "transformers":
            return S.CHECK_NEEDS_TRANSFORMERS, False, False
        return (S.CHECK_NEEDS_MODEL, True, False) if missing else None

    def run(self, engine: Engine, projects: OpenProjects, job: Job) -> str:
        return check_request(engine, projects, self, job)

    def progress_html(self, job: Job) -> str:
        if not job.running:
            return note_html(S.WAITING_GPU)
        elapsed = clock(time.monotonic() - job.started)
        return note_html(S.CHECK_PROGRESS.format(done=job.segment, total=job.segments, elapsed=elapsed,
                                                 eta=clock(getattr(job, "eta", None))))  # fmt: skip

    def cancelled(self, job: Job) -> str:
        return S.CHECK_CANCELLED.format(done=job.segment, total=job.segments)


def _after_segment(folder: SharedFolder, job: Job, p: RenderProgress) -> None:
    job.segment, job.segments, job.eta = p.done, p.total, p.eta
    take = p.segment.accepted
    if take is not None and take.text != p.segment.text:  # edited while it was being rendered
        with folder.lock:
            p.segment.status, p.segment.next_seed = "edited", None
            folder.save()


def render_request(engine: Engine, projects: OpenProjects, req: RenderRequest, job: Job) -> str:
    """Render what ``req`` asks with the engine's pipeline; returns what was done (a sentence). Raises
    ``TortoiseError`` for what the user can fix; ``JobCancelled`` when Cancel stopped it (finished segments stay)."""
    folder = projects.get(req.name)
    if problem := checks_problem(folder.project):
        raise ModelNotFoundError(problem[0])
    missing = engine.missing_models()
    if missing:
        names = ", ".join(st.checkpoint.filename for st in missing)
        raise ModelNotFoundError(S.PROJECT_MISSING_MODELS.format(names=names))
    job.eta = None
    if req.segment is None:
        with folder.lock:
            job.segment, job.segments = 0, len(select(folder.project, chapter=req.chapter, which=req.which))
        if not job.segments:
            return S.NOTHING_TO_RENDER.format(which=S.WHICH_NAMES[req.which])
    with engine.gpu(job):
        folder.rendering = True
        try:
            tts = Reporting(engine.tts(), job)
            if req.segment is not None:
                return _render_one(folder, tts, req.segment, job)
            progress = lambda p: _after_segment(folder, job, p)  # noqa: E731
            summary = render(folder, tts, chapter=req.chapter, which=req.which, progress=progress, cancel=job.cancel)
        finally:
            folder.rendering = False
    with folder.lock:
        failed = "; ".join(f"{_number(folder.project, k)}: {v}" for k, v in summary.failed.items())
    return S.RENDERED.format(n=len(summary.rendered), bad=len(summary.bad), time=clock(summary.seconds)) + (
        " " + S.RENDER_FAILED.format(failed=failed) if failed else ""
    )


def check_request(engine: Engine, projects: OpenProjects, req: CheckRequest, job: Job) -> str:
    """Check the accepted takes ``req`` asks for with the wav2vec2 recogniser on the app's device; returns what was
    found (a sentence). ``ChecksUnavailableError`` without the recogniser; ``JobCancelled`` when Cancel stopped it
    (the checks made so far are saved)."""
    folder = projects.get(req.name)
    with folder.lock:
        job.segment, job.segments, job.eta = 0, len(reviewable(folder, req.chapter)), None
    if not job.segments:
        return S.NOTHING_TO_CHECK
    with engine.gpu(job):
        folder.rendering = True  # (the app keeps this copy: its changes are the ones saved)
        try:
            transcriber = default_transcriber(devices.pick(engine.settings.device_preference))
            progress = lambda p: _after_segment(folder, job, p)  # noqa: E731
            summary = check_accepted(folder, transcriber, chapter=req.chapter, progress=progress, cancel=job.cancel)
        finally:
            folder.rendering = False
    if summary.cancelled:
        raise JobCancelled
    advice = S.CHECKED_BAD if summary.bad else S.CHECKED_NONE_BAD
    return S.TAKES_CHECKED.format(n=len(summary.checked), bad=len(summary.bad), time=clock(summary.seconds)) + advice


def _number(project: Project, segment_id: str) -> str:
    """The words "segment N", N as the table numbers it (the id when it is gone: merged away meanwhile)."""
    try:
        return S.SEGMENT_NUMBER.format(n=segment_of(project, segment_id)[1] + 1)
    except InvalidInputError:
        return segment_id


def _render_one(folder: SharedFolder, tts, segment_id: str, job: Job) -> str:
    project = folder.project
    _, position, segment = segment_of(project, segment_id)
    tts.check_voice(segment.voice or project.defaults.voice)
    checks = replace(project.defaults.checks)  # the thresholds now, whatever is changed while it runs
    transcriber = default_transcriber(tts.device) if checks.enabled else None
    job.segment, job.segments = 0, 1
    with folder.lock:
        if segment.status in ("done", "bad") and segment.next_seed is None and segment.seed is None:
            segment.next_seed = new_seed()  # a new take, not the planned seed's take again
            folder.save()
    text = segment.text
    try:
        check = render_segment(folder, tts, position, segment, transcriber, checks)
    except InvalidInputError as e:
        with folder.lock:
            segment.status, segment.error = "failed", str(e)
            folder.save()
        raise
    if segment.text != text:  # edited meanwhile
        with folder.lock:
            segment.status, segment.next_seed = "edited", None
            folder.save()
    job.segment = 1
    verdict = "" if check is None else (S.TAKE_PASSED if check.passed else S.TAKE_FAILED)
    return S.REGENERATED.format(n=position + 1, takes=len(segment.takes), verdict=verdict)


# ---- the stream the tab shows -------------------------------------------------------------------------------------
def note_html(text: str) -> str:
    """A line in the progress area (no stage bars: nothing is running)."""
    return f'<div class="tts-progress">{html.escape(text)}</div>'


def progress_html(job: Job) -> str:
    """Segment i of n with the stage bars of the take in flight, the time so far and the time left (ETA)."""
    if not job.running:
        return note_html(S.WAITING_GPU)
    line = S.RENDER_PROGRESS.format(elapsed=clock(time.monotonic() - job.started), eta=clock(getattr(job, "eta", None)))
    return stage_html(job) + note_html(line)


def refuse(engine: Engine, session: str, message: str) -> Iterator[dict]:
    """End the tab's submitted job at once, saying why nothing started."""
    job = engine.begin(session)
    if job is not None:
        engine.end(session, job)
    yield {"progress": alerts.error_html(message)}


def stream(
    engine: Engine,
    projects: OpenProjects,
    req: RenderRequest | CheckRequest,
    session: str,
    progress: Callable[..., object] | None = None,
    *,
    poll: float = 0.25,
) -> Iterator[dict]:
    """Run one render or check for a browser tab, yielding updates by name: ``progress`` (HTML), and ``checks``
    (message, can download, can turn the checks off) when the recogniser it needs is missing, before any work. Errors
    end it with their message in ``progress``."""
    job = engine.begin(session)
    if job is None:
        yield {"progress": alerts.error_html(S.ALREADY_RUNNING)}
        return
    try:
        problem = req.problem(projects.get(req.name))
    except Exception as e:
        engine.end(session, job)
        yield {"progress": alerts.error_html(e)}
        return
    if problem is not None:
        engine.end(session, job)
        yield {"progress": "", "checks": problem}
        return
    worker = Worker(lambda: req.run(engine, projects, job), job, name=f"tortoise-project-{req.kind}")
    try:
        for _ in worker.polling(poll):
            if progress is not None and job.running:
                progress(job.overall(), desc=f"Segment {job.segment + 1}/{job.segments}")
            yield {"progress": req.progress_html(job)}
    finally:
        engine.end(session, job)
    if isinstance(worker.error, JobCancelled):
        yield {"progress": note_html(req.cancelled(job))}
    elif worker.error is not None:
        yield {"progress": alerts.error_html(worker.error)}
    else:
        yield {"progress": note_html(worker.result())}
