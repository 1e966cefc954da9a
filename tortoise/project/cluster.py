"""Rendering a project on a Ray cluster: one worker per GPU, each segment a task, the driver the only writer.

A book that takes days on one GPU is split over several. A segment's takes depend only on its text, voice, options,
planned seed and the project's check settings (a :class:`~tortoise.project.render.TakeJob`), so they can be made
anywhere. The driver (the process that runs :func:`render_on_ray`):

1. connects to the cluster (``address`` as ``ray.init`` takes it: ``"auto"`` for the cluster this machine is part
   of, ``"HOST:6379"``, ``"ray://HOST:10001"`` for Ray Client, ``"local"`` to start one on this machine and use its
   GPUs; a "host:port" that does not answer is refused in seconds, before any work);
2. starts one worker actor per GPU (``num_gpus=1``); on a cluster without GPUs, one per ``cpus_per_worker`` CPUs;
   never more workers than segments. A worker builds its ``TextToSpeech`` once with ``make_tts`` (a picklable
   callable, e.g. ``functools.partial(TextToSpeech, models_dir=...)``) and uses as many torch threads as it has CPUs;
3. has the first worker compute each voice's conditioning latents once (with the render's own models, device and
   precision, so they are the ones a local render on that device uses); Ray stores them once and hands them to
   every segment task. ``random`` has no latents to share: they are drawn from each segment's seed;
4. plans every selected segment's seed and saves the project before any segment is made, as :func:`render` does;
5. gives each idle worker the next segment (``ray.wait`` over the tasks in flight), and for each finished one writes
   the take files, then names them in ``project.json`` (:func:`~tortoise.project.render.record`). Workers never see
   the project folder: they return audio, seeds and checks.

The takes are made by :func:`~tortoise.project.render.make_takes`, the code of a local render, so a segment renders
to the same audio, bit for bit, as a local render with the same seeds on the same kind of device, precision and
number of torch threads. A worker that dies mid-segment (killed, out of memory, a lost node) is restarted by Ray
and that segment's task is run again (``max_restarts``/``max_task_retries``); a worker that cannot be restarted
hands its segment to another, and a segment that brings down a second worker is marked ``failed`` alone (one bad
segment cannot take the cluster down). Finished segments are saved by then; only the one in flight is made again.
Ctrl-C stops the workers; the segments in flight are made again (with their saved seeds) by the next render.

What the workers need: the same version of this package, the model weights at ``make_tts``'s models folder *on each
worker* (a path valid there, e.g. a shared file system, or each machine's ``$TORTOISE_MODELS_DIR`` / model cache),
and the project's voices (built-in ones always; others via a voices folder valid on the workers). The project
folder is needed only by the driver.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter, deque
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import InvalidInputError, TortoiseError
from ..voices import RANDOM_VOICE
from .checks import default_transcriber
from .render import ProgressClock, RenderProgress, RenderSummary, TakeJob, make_takes, plan, record, select
from .store import ProjectFolder

INSTALL_HINT = "pip install 'tortoise-tts-oneapi[ray]'"
RESTARTS = 3  # times Ray restarts a worker that died (and re-runs its segment) before giving it up


class ClusterError(TortoiseError):
    """Ray is missing, the cluster cannot be reached, or it has no room for a worker."""


def import_ray():
    """The ``ray`` module, or a ``ClusterError`` saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"rendering on a Ray cluster needs Ray: {INSTALL_HINT}") from e
    return ray


class SegmentWorker:
    """A Ray actor: one ``TextToSpeech`` (and the checks' recogniser), loaded once, making segments' takes."""

    def __init__(self, make_tts: Callable, checks: bool, threads: int):
        import torch

        torch.set_num_threads(threads)  # as many as Ray gave it (Ray's default OMP_NUM_THREADS is 1)
        self.make_tts, self.checks, self.engine = make_tts, checks, None

    def _ready(self):
        if self.engine is None:  # after a restart too
            tts = self.make_tts()
            self.engine = tts, default_transcriber(tts.device) if self.checks else None
        return self.engine

    def setup(self, voices: list[str]) -> str:
        """Load what the takes need and check the voices: the errors a render would meet, before any work."""
        tts, _ = self._ready()
        for voice in voices:
            tts.check_voice(voice)
        return str(tts.device)

    def latents(self, voice: str, diffusion: bool):
        return self._ready()[0].voice_latents(voice, diffusion=diffusion)

    def takes(self, job: TakeJob, latents):
        tts, transcriber = self._ready()
        return make_takes(tts, job, transcriber, latents=latents)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a ``host:port`` / ``ray://host:port`` that does not answer (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray-gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise ClusterError(f"--ray {address!r}: {e}; use auto, local, HOST:6379 or ray://HOST:10001") from e
    if not host or port is None:
        raise ClusterError(f"--ray {address!r} has no port; use auto, local, HOST:6379 or ray://HOST:10001")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start it (`ray start --head`) or check "
            "the address"
        ) from e


def _connect(ray, address: str | None) -> bool:
    """Connect unless this process is connected already; True when this call connected (and so disconnects)."""
    if ray.is_initialized():
        return False
    if address is None:
        raise ClusterError("not connected to a Ray cluster: give an address (auto, local, HOST:6379, ray://...)")
    check_reachable(address)
    # the workers' warnings stay in Ray's logs (/tmp/ray/session_latest/logs): the driver prints progress lines
    quiet = {} if address.startswith("ray://") else {"log_to_driver": False}
    try:
        ray.init(address=address, include_dashboard=False if address == "local" else None, **quiet)
    except ConnectionError as e:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {e}") from e
    return True


def _workers(ray, make_tts, *, checks: bool, n_jobs: int, cpus_per_worker: int, max_workers: int | None) -> list:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if gpus:
        n, place, threads = gpus, {"num_gpus": 1, "num_cpus": 1}, 1
    else:
        threads = min(cpus_per_worker, cpus)  # a smaller cluster gets one worker of all its CPUs
        n, place = cpus // max(threads, 1), {"num_cpus": threads}
    if n < 1:
        raise ClusterError("the Ray cluster has neither a GPU nor a CPU for a worker")
    n = min(n, n_jobs, max_workers or n)
    actor = ray.remote(SegmentWorker).options(**place, max_restarts=RESTARTS, max_task_retries=RESTARTS)
    return [actor.remote(make_tts, checks, threads) for _ in range(n)]


def _cause(error: Exception) -> Exception:
    """The exception a worker raised, out of Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, Exception) else error


def render_on_ray(
    folder: ProjectFolder,
    make_tts: Callable,
    *,
    address: str | None = None,
    chapter: int | None = None,
    which: str = "pending",
    cpus_per_worker: int = 4,
    max_workers: int | None = None,
    progress: Callable[[RenderProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> RenderSummary:
    """Render a project's segments on a Ray cluster; see the module docstring. Same results as :func:`render`.

    Parameters
    ----------
    make_tts : a picklable callable returning the ``TextToSpeech`` each worker renders with (models, device,
        precision; paths valid on the workers).
    address : the cluster, as ``ray.init`` takes it ("auto", "local", "HOST:6379", "ray://HOST:10001"); None uses
        this process's connection (after its own ``ray.init``). A connection made here is closed at the end.
    chapter, which, progress, cancel : as for :func:`render` (``cancel`` lets the segments in flight finish).
    cpus_per_worker : on a cluster without GPUs, the CPUs (and torch threads) of each worker.
    max_workers : at most this many workers (default: one per GPU, or per ``cpus_per_worker`` CPUs).

    Raises
    ------
    ClusterError when Ray is missing or the cluster is unreachable or too small (before any work), or every worker
    died. TortoiseError when the models, voice or device fail (finished segments are kept). A segment whose text is
    refused is marked ``failed`` and the others go on.
    """
    ray = import_ray()
    if cpus_per_worker < 1 or (max_workers is not None and max_workers < 1):
        raise InvalidInputError(f"cpus_per_worker={cpus_per_worker} and max_workers={max_workers} must be >= 1")
    project = folder.project
    todo = select(project, chapter=chapter, which=which)
    summary = RenderSummary()
    if not todo:
        return summary
    connected = _connect(ray, address)
    workers: list = []
    try:
        checks = project.defaults.checks.enabled
        workers = _workers(
            ray, make_tts, checks=checks, n_jobs=len(todo), cpus_per_worker=cpus_per_worker, max_workers=max_workers
        )
        jobs = [(segment, plan(project, position, segment)) for position, segment in todo]
        voices = sorted({job.voice for _, job in jobs})
        try:
            ray.get([w.setup.remote(voices) for w in workers])
        except ray.exceptions.RayError as e:
            raise _cause(e) from None
        folder.save()  # every planned seed, before any segment is made
        latents = {v: _latents_ref(workers[0], v, jobs) for v in voices if RANDOM_VOICE not in v.split("&")}
        _run(ray, folder, workers, jobs, latents, summary, progress, cancel)
    finally:
        for w in workers:
            ray.kill(w)
        if connected:
            ray.shutdown()
    return summary


def _latents_ref(worker, voice: str, jobs: list[tuple]):
    diffusion = any(job.options.mode != "fast" for _, job in jobs if job.voice == voice)
    return worker.latents.remote(voice, diffusion)


def _run(ray, folder, workers, jobs, latents, summary, progress, cancel) -> None:
    """Each idle worker takes the next segment; each finished segment is recorded (files, then the project)."""
    queue, idle, running, deaths = deque(jobs), list(workers), {}, Counter()
    clock = ProgressClock([job.text for _, job in jobs], progress)
    while queue or running:
        if cancel is not None and cancel.is_set():
            summary.cancelled = summary.cancelled or bool(queue)
            queue.clear()
        while idle and queue:
            worker, (segment, job) = idle.pop(), queue.popleft()
            running[worker.takes.remote(job, latents.get(job.voice))] = worker, segment, job
        if not running:
            break
        [ref], _ = ray.wait(list(running), num_returns=1)
        worker, segment, job = running.pop(ref)
        try:
            takes = ray.get(ref)
        except ray.exceptions.RayActorError as e:  # Ray's restarts and retries spent
            if not isinstance(e, ray.exceptions.ActorDiedError):  # unavailable for a while, not gone
                idle.append(worker)
            elif not idle and not running:
                raise ClusterError(f"every worker died ({e}); {len(summary.rendered)} segments were rendered and "
                                   "saved; rerun to resume") from e  # fmt: skip
            deaths[segment.id] += 1
            if deaths[segment.id] < 2:  # another worker makes it
                queue.appendleft((segment, job))
                continue
            summary.refused(folder, segment, f"the workers rendering this segment died twice ({e})")
        except ray.exceptions.RayTaskError as e:
            error = _cause(e)
            if not isinstance(error, TortoiseError):
                raise
            if not isinstance(error, InvalidInputError):  # models, voice, device: every segment would fail
                raise type(error)(f"{error} ({len(summary.rendered)} segments were rendered and saved; rerun to "
                                  "resume)") from e  # fmt: skip
            idle.append(worker)
            summary.refused(folder, segment, str(error))  # this segment's text: the others go on
        else:
            idle.append(worker)
            summary.accepted(segment, record(folder, segment, job, takes))
        clock.finished(len(summary.rendered) + len(summary.failed), segment)
        summary.seconds = clock.elapsed()
