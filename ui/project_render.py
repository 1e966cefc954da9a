"""Rendering a project from the Projects tab: the checks' model, the render on the device in a worker thread, and
the progress display it streams. The tab (``ui.projects_tab``) maps the updates to its components.

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
"""

from __future__ import annotations

import html
import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tortoise.errors import InvalidInputError, ModelNotFoundError
from tortoise.options import new_seed
from tortoise.project.checks import default_transcriber
from tortoise.project.model import Project
from tortoise.project.render import RenderProgress, render, render_segment, select
from tortoise.redaction import Wav2VecAligner

from . import alerts
from . import strings as S
from .engine import STAGES, Engine, Job, JobCancelled, Worker
from .projects import OpenProjects, SharedFolder, clock, segment_of
from .stages import stage_html


def checks_problem(project: Project) -> tuple[str, bool] | None:
    """Why the checks cannot run now, and whether downloading the recogniser fixes it; None when they can (or are
    off). Looks at the Hugging Face cache only; loads nothing."""
    if not project.defaults.checks.enabled:
        return None
    if importlib.util.find_spec("transformers") is None:
        return S.CHECKS_NEED_TRANSFORMERS, False
    if not Wav2VecAligner().cached():
        return S.CHECKS_NEED_MODEL, True
    return None


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


@dataclass(frozen=True)
class RenderRequest:
    name: str
    chapter: int | None = None  # index, None: the whole book
    which: str = "pending"  # tortoise.project.render.WHICH
    segment: str | None = None  # one segment (regenerate): chapter and which are then ignored


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
    transcriber = default_transcriber(tts.device) if project.defaults.checks.enabled else None
    job.segment, job.segments = 0, 1
    with folder.lock:
        if segment.status in ("done", "bad") and segment.next_seed is None and segment.seed is None:
            segment.next_seed = new_seed()  # a new take, not the planned seed's take again
            folder.save()
    text = segment.text
    try:
        check = render_segment(folder, tts, position, segment, transcriber)
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
    req: RenderRequest,
    session: str,
    progress: Callable[..., object] | None = None,
    *,
    poll: float = 0.25,
) -> Iterator[dict]:
    """Run one render for a browser tab, yielding updates by name: ``progress`` (HTML), and ``checks`` (message, can
    download) when the checks cannot run, before any work. Errors end it with their message in ``progress``."""
    job = engine.begin(session)
    if job is None:
        yield {"progress": alerts.error_html(S.ALREADY_RUNNING)}
        return
    try:
        problem = checks_problem(projects.get(req.name).project)
    except Exception as e:
        engine.end(session, job)
        yield {"progress": alerts.error_html(e)}
        return
    if problem is not None:
        engine.end(session, job)
        yield {"progress": "", "checks": problem}
        return
    worker = Worker(lambda: render_request(engine, projects, req, job), job, name="tortoise-project-render")
    try:
        for _ in worker.polling(poll):
            if progress is not None and job.running:
                progress(job.overall(), desc=f"Segment {job.segment + 1}/{job.segments}")
            yield {"progress": progress_html(job)}
    finally:
        engine.end(session, job)
    if isinstance(worker.error, JobCancelled):
        yield {"progress": note_html(S.RENDER_CANCELLED.format(done=job.segment, total=job.segments))}
    elif worker.error is not None:
        yield {"progress": alerts.error_html(worker.error)}
    else:
        yield {"progress": note_html(worker.result())}
