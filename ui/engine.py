"""The app's one pipeline and what goes with it: settings, the GPU lock, running jobs, history.

Decisions:
* One ``Engine`` per app, made by the launcher and handed to ``build_app``: no module globals. It owns one
  ``TextToSpeech``, built lazily on the first job (so the app starts without weights and without touching the GPU)
  and rebuilt when device, precision, batch size, offload, models or voice folders change. Building it loads nothing;
  models load on first use.
* One job on the device at a time: Gradio's queue serialises the GPU events (``concurrency_id="gpu"``, limit 1) and
  shows everyone else their place; ``gpu()`` takes a turn on the device queue behind it (``DeviceTurns``), which the
  speech API mounted on the app (``ui.api``) shares: app jobs and API requests run one at a time, first come first
  served, and each turn is one line on the terminal when it starts and when it ends.
* Memory is freed after every job (the device allocator's cache; with "keep models loaded" off, the models too).
* A running generation is a ``Job`` registered under the browser tab's session; Cancel sets its flag, and the
  pipeline's progress callback raises ``JobCancelled`` at its next report, so the segments already written stay.
  A tab has one job at a time: Generate is refused (never queued over or cancelling it) until the job has ended.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tortoise import devices, weights
from tortoise.api import STAGES, TextToSpeech
from tortoise.server.jobs import Cancelled, DeviceQueue
from tortoise.vocoders import VOCODERS
from tortoise.voices import VoiceLibrary

from .history import History
from .state import Settings, save

# rough share of a segment's time per stage, for the overall progress bar
STAGE_WEIGHTS = {"conditioning": 0.05, "autoregressive": 0.45, "clvp": 0.05, "latents": 0.05, "diffusion": 0.3}
STAGE_WEIGHTS["vocoder"] = 0.1


class JobCancelled(Exception):
    """The user pressed Cancel."""


class Job:
    """Progress and cancel flag of one generation: stage fractions of the current segment, segment i of n."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.segment, self.segments = 0, 1
        self.stage: str | None = None
        self.fractions = dict.fromkeys(STAGES, 0.0)
        self.started = time.monotonic()
        self.taken = False  # True once a generation runs it (``Engine.begin``); before that it waits in the queue
        self.running = False  # True once the device lock is held
        self.finished = threading.Event()  # set by the worker when the job ended, however it ended
        self.outcome = None  # what the worker produced (ui.generate.Outcome), when it ended normally

    def progress(self, stage: str, fraction: float) -> None:
        """The pipeline's ``progress(stage, fraction)`` callback; raises ``JobCancelled`` once Cancel was pressed."""
        if self.cancel.is_set():
            raise JobCancelled
        self.stage = stage
        self.fractions[stage] = fraction

    def on_segment(self, index: int, count: int, text: str) -> None:
        if self.cancel.is_set():
            raise JobCancelled
        self.segment, self.segments = index, count
        self.fractions = dict.fromkeys(STAGES, 0.0)

    def overall(self) -> float:
        """0..1 over the whole job (segments weigh the same; stages by ``STAGE_WEIGHTS``)."""
        within = sum(STAGE_WEIGHTS.get(s, 0.0) * f for s, f in self.fractions.items())
        return min(1.0, (self.segment + within) / max(self.segments, 1))


class Worker:
    """``work()`` run in a background thread for a job, so the handler can stream progress while it runs; the job's
    ``finished`` is set however it ends. ``result()`` gives its return value or raises its exception."""

    def __init__(self, work: Callable[[], object], job: Job, *, name: str):
        self._work, self._job = work, job
        self._value: object = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as e:  # handed to the handler's thread by result()
            self.error = e
        finally:
            self._job.finished.set()

    def polling(self, every: float) -> Iterator[None]:
        """Yield every ``every`` seconds while the work runs."""
        while self._thread.is_alive():
            self._thread.join(every)
            yield

    def result(self) -> object:
        if self.error is not None:
            raise self.error
        return self._value


class DeviceTurns(DeviceQueue):
    """The app's device queue: its jobs (``Engine.gpu``) and the mounted API's requests (which call ``turn`` without
    ``who``) take turns, first come first served. After each turn ``after`` frees the memory it used; each turn's
    start (and how long it waited) and end (and how long it ran) are printed on the terminal."""

    def __init__(self, after: Callable[[], None], max_waiting: int = 16):
        super().__init__(max_waiting)
        self._after = after

    @contextlib.contextmanager
    def turn(self, cancelled=None, *, bounded: bool = True, who: str = "API request") -> Iterator[None]:
        asked = time.monotonic()
        with super().turn(cancelled, bounded=bounded):
            started = time.monotonic()
            _say(f"device: {who} started (waited {started - asked:.1f} s)")
            try:
                yield
            finally:
                try:
                    self._after()
                finally:
                    _say(f"device: {who} finished ({time.monotonic() - started:.1f} s)")


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


class Engine:
    """Settings, the one ``TextToSpeech``, the device lock, running jobs and the history of one app.

    Parameters
    ----------
    settings : the settings to start with (the saved file with command-line overrides applied).
    config_file : where ``apply`` saves settings (default: ``state.config_path()``).
    """

    def __init__(self, settings: Settings, *, config_file: Path | None = None):
        self._settings = settings
        self.config_file = config_file
        self._tts = None
        self._tts_key: tuple | None = None
        self.queue = DeviceTurns(lambda: self.free(unload=not self._settings.keep_models_loaded))
        self._state = threading.Lock()  # guards _tts, _jobs, _histories
        self._jobs: dict[str, Job] = {}
        self._histories: dict[Path, object] = {}

    # ---- settings ---------------------------------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def apply(self, new: Settings, *, persist: bool = True) -> tuple[Path | None, bool]:
        """Use ``new`` from now on (saved first when ``persist``). Returns (saved file, whether the pipeline changes).

        A changed device/precision/models folder drops the current pipeline; the next job builds the new one, so
        nothing needs a restart.
        """
        new.checked()
        path = save(new, self.config_file) if persist else None
        with self._state:
            changed = new.engine_key() != self._settings.engine_key()
            self._settings = new
            if changed and self._tts is not None and not self.queue.busy:
                self._tts.unload()
                self._tts, self._tts_key = None, None
        return path, changed

    # ---- library objects --------------------------------------------------------------------------------------------
    def library(self):

        return VoiceLibrary(extra_dirs=list(self._settings.voices_dirs))

    def tts(self, precision: str | None = None):
        """The pipeline for the current settings (``precision`` overrides the setting for this job)."""
        s = self._settings
        precision = precision or s.precision
        key = (*s.engine_key(), precision)
        with self._state:
            if self._tts is None or self._tts_key != key:
                if self._tts is not None and not self.queue.busy:  # one in use is left to its job (then collected)
                    self._tts.unload()
                self._tts = TextToSpeech(
                    models_dir=s.resolved_models_dir(),
                    device=s.device_preference,
                    precision=precision,
                    batch_size=s.batch_size or None,
                    offload=s.offload,
                    voices=self.library(),
                )
                self._tts_key = key
            return self._tts

    def missing_models(self, *, vocoder: str = "univnet") -> list:
        """``CheckpointStatus`` of every checkpoint a generation needs that is missing or damaged."""
        needed = VOCODERS[vocoder].checkpoint
        return [
            st
            for st in weights.status(self._settings.resolved_models_dir())
            if (st.checkpoint.required or st.name == needed) and st.state in ("missing", "bad")
        ]

    def model_identity(self) -> str | None:
        """What the latent cache is keyed on for the current models, or None without models.

        ``TextToSpeech.model_identity``; the voices table compares it with each voice's cache entries.
        """
        if self.missing_models():
            return None
        try:
            return self.tts().model_identity()
        except Exception:  # a bad models folder: "unknown" is the honest answer in a listing
            return None

    def warm_up_in_background(self):
        """Load the models and run each once while the page opens (XPU compiles its kernels on first use).

        Returns the thread, or None when the models are missing. A job started meanwhile waits for it (same lock).
        """
        if self.missing_models():
            return None

        def work() -> None:
            try:
                with self.gpu(who="warm-up"):
                    seconds = self.tts().warm_up()
                print(f"models warmed up in {seconds:.1f} s", file=sys.stderr)
            except Exception as e:  # the first job will load the models (and report any real problem) itself
                print(f"warning: warm-up failed ({e}); the first generation loads the models", file=sys.stderr)

        thread = threading.Thread(target=work, name="tortoise-warm-up", daemon=True)
        thread.start()
        return thread

    # ---- device work ------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def gpu(self, job: Job | None = None, *, who: str = "app job") -> Iterator[None]:
        """Hold the device for one job (waiting for the jobs and API requests before it); afterwards free the memory
        it used. ``JobCancelled`` when ``job`` is cancelled while it waits."""
        with contextlib.ExitStack() as stack:
            try:  # unbounded: Gradio's queue already bounds the app's jobs
                stack.enter_context(self.queue.turn(job.cancel if job else None, bounded=False, who=who))
            except Cancelled:
                raise JobCancelled from None
            if job is not None:
                job.running = True
            yield

    def free(self, *, unload: bool = True) -> None:
        """Release device memory: the allocator's cache always, the loaded models when ``unload``."""
        tts = self._tts
        if tts is not None:
            if unload:
                tts.unload()
            else:
                devices.empty_cache(tts.device)
        gc.collect()

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def submit(self, session: str) -> Job | None:
        """A Generate click: register the tab's next job at once, while its generation may still wait in the device
        queue, so that Cancel reaches it there too. None when the tab already has a job (waiting or running): a
        second click never replaces or cancels work."""
        with self._state:
            if session in self._jobs:
                return None
            job = self._jobs[session] = Job()
        return job

    def begin(self, session: str) -> Job | None:
        """The job a generation runs: the one ``submit`` registered for the tab (cancelled if Cancel was pressed
        while it waited), else a new one (API calls that skip ``submit``). None when another generation of the tab
        already runs it."""
        with self._state:
            job = self._jobs.get(session)
            if job is None:
                job = self._jobs[session] = Job()
            elif job.taken:
                return None
            job.taken = True
            return job

    def end(self, session: str, job: Job) -> None:
        with self._state:
            if self._jobs.get(session) is job:
                del self._jobs[session]

    def cancel(self, session: str) -> Job | None:
        """Ask the tab's running generation to stop; returns it (None when none runs)."""
        with self._state:
            job = self._jobs.get(session)
        if job is not None:
            job.cancel.set()
        return job

    # ---- history ------------------------------------------------------------------------------------------------
    def history(self):
        """The history of the current output folder (one object per folder, so writes are serialised)."""
        root = self._settings.resolved_output_dir()
        with self._state:
            if root not in self._histories:
                self._histories[root] = History(root)
            return self._histories[root]
