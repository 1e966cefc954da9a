"""The Generate tab's work (the tab is ``ui.generate_tab``): widget values -> one ``GenerationOptions`` ->
``generate_long`` into a new output folder.

Decisions:
* Every generation goes through ``tortoise.longform.generate_long``, short text too: one code path, a folder per
  generation with a file per segment (written as each finishes, so Cancel keeps them), ``combined.wav``, and the
  settings in every file's metadata. The folder becomes a History entry.
* The pipeline runs in a worker thread; ``stream`` polls it and yields the per-stage progress display, so the
  browser sees live bars and Cancel takes effect at the pipeline's next progress report.
* The preset fills the advanced fields; whatever they show is what runs (``preset(name, **overrides)``), so the
  settings shown, stored and reused are always the ones used.
* ``[bracketed]`` text is checked before any work: unbalanced brackets are refused, and when the aligner that cuts
  them is not in the Hugging Face cache (or transformers is missing) nothing starts and the tab offers the choices
  (download it, or speak the brackets: ``redact`` off). Downloading it in the middle of a job, or failing after every
  stage had run, lost the work.
* The download format and speaking rate make a file beside ``combined.wav`` once it is done (``ui.export``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tortoise.errors import InvalidInputError, ModelNotFoundError, TortoiseError
from tortoise.longform import COMBINED, PLAN, generate_long, segment_file
from tortoise.options import PRESETS
from tortoise.options import preset as preset_options
from tortoise.redaction import Wav2VecAligner, has_redaction
from tortoise.text import split_text

from . import export
from . import strings as S
from .engine import Engine, Job, JobCancelled, Worker
from .history import CANCELLED, DONE, Entry, new_folder, timings_markdown
from .stages import stage_html

MAX_PLAYERS = 4
# Generate widgets, by name: what the Generate tab (generate_tab.py) reads and what "reuse these settings" fills.
FIELDS = (
    "text", "voices", "preset", "candidates", "seed", "samples", "sampler", "steps",
    "temperature", "top_p", "repetition_penalty", "cond_free_k", "vocoder", "precision", "voicefixer", "regenerate",
    "redact", "format", "speed",
)  # fmt: skip
# advanced widget -> GenerationOptions field
OPTION_FIELDS = {
    "samples": "num_autoregressive_samples",
    "candidates": "candidates",
    "sampler": "sampler",
    "steps": "diffusion_steps",
    "temperature": "temperature",
    "top_p": "top_p",
    "repetition_penalty": "repetition_penalty",
    "cond_free_k": "cond_free_k",
    "vocoder": "vocoder",
    "voicefixer": "voicefixer",
}


@dataclass(frozen=True)
class Request:
    text: str
    voice: str
    preset: str
    options: object  # GenerationOptions
    precision: str | None = None
    regenerate: str = ""
    folder: Path | None = None  # an earlier result's folder (regenerating segments of it)
    redact: bool = True  # cut the audio of [bracketed] text (False: speak it)
    format: str = "wav"  # of the result file (``export.FORMATS``)
    speed: float = 1.0  # speaking rate of the result file


@dataclass
class Outcome:
    entry: Entry
    status: str
    done: int
    download: str | None = None  # the result in the format and rate asked for (None: combined.wav is it)


def voice_spec(selected) -> str:
    """Dropdown value(s) -> the library's voice string (several are mixed with ``&``)."""
    names = [selected] if isinstance(selected, str) else list(selected or [])
    return "&".join(n.strip() for n in names if n and n.strip())


def text_info(text: str, splitter: str = "ours") -> str:
    """Character count and the segments the text will be split into by ``splitter`` (markdown)."""
    text = text or ""
    if not text.strip():
        return S.TEXT_EMPTY
    segments = split_text(text, splitter=splitter)
    head = S.TEXT_INFO.format(chars=len(text), n=len(segments), s="" if len(segments) == 1 else "s")
    if len(segments) < 2:
        return head
    shown = "\n".join(f"{i}. {html.escape(s[:80])}{'...' if len(s) > 80 else ''}" for i, s in enumerate(segments, 1))
    return f"{head}:\n\n{shown}"


def preset_values(name: str) -> dict:
    """The advanced fields' values for preset ``name``."""
    o = PRESETS[name]
    return {w: getattr(o, f) for w, f in OPTION_FIELDS.items() if w not in ("candidates", "voicefixer")}


def make_options(values: dict):
    """Widget values -> verified ``GenerationOptions`` (raises ``InvalidInputError`` naming the bad value)."""
    overrides = {}
    for widget, field in OPTION_FIELDS.items():
        v = values.get(widget)
        if v is None or v == "":
            continue
        if field == "voicefixer":
            v = bool(v)
        elif field in ("num_autoregressive_samples", "candidates", "diffusion_steps"):
            if float(v) != int(v):
                raise InvalidInputError(f"{field}={v!r} must be a whole number")
            v = int(v)
        overrides[field] = v
    seed = values.get("seed")
    if seed not in (None, "") and float(seed) != -1:  # -1 or empty: a new random seed
        if float(seed) != int(seed) or int(seed) < 0:
            raise InvalidInputError(f"seed={seed!r} must be a whole number >= 0 (or -1 for a random one)")
        overrides["seed"] = int(seed)
    return preset_options(values.get("preset") or "fast", **overrides)


def make_request(values: dict, last: dict | None = None) -> Request:
    """Widget values (by ``FIELDS`` name) and the tab's last result -> a ``Request``."""
    text = (values.get("text") or "").strip()
    if not text:
        raise InvalidInputError(S.NO_TEXT)
    voice = voice_spec(values.get("voices"))
    if not voice:
        raise InvalidInputError(S.NO_VOICE)
    regenerate = (values.get("regenerate") or "").strip()
    folder = None
    if regenerate:
        if not last or not last.get("folder") or not Path(last["folder"]).is_dir():
            raise InvalidInputError(S.NO_LAST_RESULT)
        if last.get("text") != text or last.get("voice") != voice:
            raise InvalidInputError("the text or voice changed since the last result; clear the segment numbers")
        folder = Path(last["folder"])
    redact = values.get("redact") is not False
    if redact:
        has_redaction(text)  # unbalanced or nested brackets: refused here, before any work
    precision = values.get("precision")
    fmt, speed = export.checked(values.get("format"), values.get("speed"))
    return Request(
        text=text,
        voice=voice,
        preset=values.get("preset") or "fast",
        options=make_options(values),
        precision=None if precision in (None, "", S.PRECISION_SETTINGS) else precision,
        regenerate=regenerate,
        folder=folder,
        redact=redact,
        format=fmt,
        speed=speed,
    )


def redaction_problem(text: str, redact: bool = True) -> tuple[str, bool] | None:
    """Why the ``[bracketed]`` parts of ``text`` cannot be cut from the audio on this machine now, and whether
    downloading the aligner would fix it; None when they can (or there is nothing to cut). Looks, loads nothing."""
    if not redact or not has_redaction(text):
        return None
    missing = Wav2VecAligner().missing()  # the aligner the pipeline makes (default model, Hugging Face cache)
    if missing == "transformers":
        return S.REDACTION_NEEDS_TRANSFORMERS, False
    return (S.REDACTION_NEEDS_MODEL, True) if missing else None


def download_aligner() -> str:
    """Fetch the redaction aligner's files into the Hugging Face cache (raises ``ModelNotFoundError`` on failure)."""
    Wav2VecAligner().download()
    return S.ALIGNER_DOWNLOADED


def _seconds(path: Path) -> float:
    import soundfile as sf

    try:
        return sf.info(str(path)).duration
    except Exception:  # a file being replaced: count nothing
        return 0.0


def run(engine: Engine, req: Request, job: Job) -> Outcome:
    """Generate ``req`` into its folder and record it in the history. Cancelling keeps finished segments.

    Raises ``TortoiseError`` for what the user can fix (missing models, unknown voice, bad text).
    """
    missing = engine.missing_models(vocoder=req.options.vocoder)
    if missing:
        names = ", ".join(st.checkpoint.filename for st in missing)
        raise ModelNotFoundError(
            f"the model files {names} are missing from {engine.settings.resolved_models_dir()}; download them "
            "(Generate or Settings tab) or import them from a folder in Settings"
        )
    tts = engine.tts(req.precision)
    tts.check_voice(req.voice)
    history = engine.history()
    folder = req.folder or new_folder(history.root, req.voice)
    status, result = DONE, None
    try:
        with engine.gpu(job, who="generation"), redaction(tts, req.redact):
            result = generate_long(
                tts,
                req.text,
                req.voice,
                req.options,
                folder,
                regenerate=req.regenerate or None,
                splitter=engine.settings.splitter,
                on_segment=job.on_segment,
                progress=job.progress,
            )
    except JobCancelled:
        status = CANCELLED
    except BaseException:
        if req.folder is None and not any(folder.glob("[0-9]*.wav")):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    plan = json.loads((folder / PLAN).read_text()) if (folder / PLAN).is_file() else {"segments": [], "seed": None}
    n = len(plan["segments"])
    files = [segment_file(folder, i) for i in range(n)]
    done = [f for f in files if f.is_file()]
    if status == CANCELLED and not done and req.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
        return Outcome(Entry("", "", CANCELLED, req.text, req.voice, folder=str(folder), segments=n), CANCELLED, 0)
    timings = dict(result.timings) if result else {}
    generated = sum(_seconds(files[i]) for i in result.generated) if result else 0.0
    combined = folder / COMBINED
    entry = Entry(
        id=folder.name,
        created=time.strftime("%Y-%m-%d %H:%M:%S"),
        status=status,
        text=req.text,
        voice=req.voice,
        preset=req.preset,
        options=dataclasses.asdict(req.options),
        seed=plan.get("seed"),
        folder=str(folder),
        combined=str(combined) if combined.is_file() and status == DONE else None,
        files=[str(f) for f in done],
        candidates=[str(p) for c in range(req.options.candidates) if (p := segment_file(folder, 0, c)).is_file()],
        segments=n,
        timings=timings,
        audio_seconds=sum(_seconds(f) for f in done),
        rtf=(sum(timings.values()) / generated) if generated > 0 else None,
        device=str(tts.device),
        precision=str(tts.dtype).replace("torch.", ""),
        message="; ".join(f"segment {i + 1}: {m}" for i, m in result.failed.items()) if result else "",
    )
    history.add(entry)
    made = None
    if entry.combined is not None:  # the generation is recorded first: a failed conversion loses nothing
        made = export.export(Path(entry.combined), text=req.text, voice=req.voice, fmt=req.format, speed=req.speed)
    return Outcome(entry, status, len(done), str(made) if made else None)


@contextlib.contextmanager
def redaction(tts, redact: bool) -> Iterator[None]:
    """This job's [bracket] choice on the shared pipeline, during the job only (API requests expect the default)."""
    tts.enable_redaction = redact
    try:
        yield
    finally:
        tts.enable_redaction = True


# ---- display ----------------------------------------------------------------------------------------------------
def players(e: Entry) -> list[tuple[str, str | None]]:
    """(label, file) for each of the ``MAX_PLAYERS`` players: the candidates of a one-segment text, else segments."""
    if e.segments <= 1:
        items = [(S.CANDIDATE.format(i=i + 1), f) for i, f in enumerate(e.candidates)]
    else:
        items = [(S.SEGMENT.format(i=i + 1), f) for i, f in enumerate(e.files)]
    items = items[:MAX_PLAYERS]
    return items + [("", None)] * (MAX_PLAYERS - len(items))


def all_files(e: Entry) -> list[str]:
    folder = Path(e.folder)
    return sorted(str(p) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def cancelled_note(out: Outcome) -> str:
    if not out.done:
        return S.CANCELLED_EARLY
    return S.CANCELLED.format(done=out.done, total=out.entry.segments, folder=out.entry.folder)


def cancel(engine: Engine, session: str, *, wait: float = 10.0, job: Job | None = None) -> str:
    """Stop the tab's generation (or ``job``, already cancelled); waits up to ``wait`` s for it to stop and says
    what was kept (status HTML)."""
    job = job or engine.cancel(session)
    if job is None:
        return stage_html(None, S.NOTHING_TO_CANCEL)
    if not job.finished.wait(wait) or job.outcome is None:
        return stage_html(None, S.CANCEL_REQUESTED)
    return stage_html(None, cancelled_note(job.outcome))


def reuse_values(text: str, voice: str, preset: str, options: dict, seed) -> dict:
    """Generate widget values (by ``FIELDS`` name) that repeat a generation's settings."""
    values = {"text": text, "voices": [v for v in voice.split("&") if v], "seed": seed, "regenerate": ""}
    values["preset"] = preset if preset in PRESETS else "fast"
    for widget, field in OPTION_FIELDS.items():
        if field in options:
            values[widget] = options[field]
    return values


def last_state(e: Entry) -> dict:
    """What the tab remembers of its last result (for "reuse last seed" and regenerating segments)."""
    return {"folder": e.folder, "text": e.text, "voice": e.voice, "seed": e.seed}


def stream(
    engine: Engine,
    values: dict,
    last: dict | None,
    session: str,
    progress: Callable[..., object] | None = None,
    *,
    poll: float = 0.25,
) -> Iterator[dict]:
    """Run one generation for a browser tab, yielding display updates by name (status, combined, players, files,
    timings, last, and ``redaction``: (message, can download) when the text's [brackets] cannot be cut, before any
    work). Library errors become ``gr.Error``; cancelling yields a final status."""
    import gradio as gr

    job = engine.begin(session)  # first: a job submitted for this tab is consumed even when the request is bad
    if job is None:
        raise gr.Error(S.ALREADY_RUNNING)
    try:
        req = make_request(values, last)
        problem = redaction_problem(req.text, req.redact)
    except TortoiseError as e:
        engine.end(session, job)
        raise gr.Error(str(e)) from e
    if problem is not None:
        engine.end(session, job)
        yield {"status": f'<div class="tts-progress">{html.escape(S.NOT_STARTED)}</div>', "redaction": problem}
        return

    def work() -> Outcome:
        job.outcome = run(engine, req, job)
        return job.outcome

    worker = Worker(work, job, name="tortoise-generate")
    try:
        for _ in worker.polling(poll):
            note = S.WAITING_GPU if not job.running else ""
            if progress is not None and job.running:
                stage = S.STAGE_NAMES.get(job.stage or "", "")
                progress(job.overall(), desc=f"Segment {job.segment + 1}/{job.segments}: {stage}")
            yield {"status": stage_html(job, note)}
    finally:
        engine.end(session, job)
    if worker.error is not None:
        e = worker.error
        if isinstance(e, TortoiseError):
            raise gr.Error(str(e)) from e
        traceback.print_exception(e, file=sys.stderr)  # the details the message points to
        raise gr.Error(f"unexpected error ({type(e).__name__}: {e}); see the terminal for details") from e
    out = worker.result()
    if out.status == CANCELLED:
        note = cancelled_note(out)
        yield {"status": stage_html(None, note), "timings": note}
        return
    e = out.entry
    yield {
        "status": stage_html(job, "Done"),
        "combined": out.download or e.combined,
        "players": players(e),
        "files": all_files(e),
        "timings": timings_markdown(e),
        "last": last_state(e),
    }
