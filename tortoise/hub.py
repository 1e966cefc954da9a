"""Downloading checkpoints from the Hugging Face hub: resumable, verified, never half-written under the final name.

How one file is fetched (:func:`download`):

1. A file already recorded in the manifest with its recorded size is kept (``verify`` re-checks the hash).
2. ``huggingface_hub.get_hf_file_metadata`` asks the hub (``$HF_ENDPOINT``, read at call time, so mirrors work) for the
   file's ETag (the LFS sha256 for weights), size and commit, following the hub's redirect to its CDN.
3. The bytes go to ``<models>/.partial/<file>.<etag[:16]>.part`` through ``huggingface_hub.file_download.http_get``,
   which retries dropped connections with HTTP ``Range``. A cancelled or failed run keeps the partial file and the next
   run resumes it (a partial for another ETag is discarded). One download per file at a time (a lock file).
4. The partial file is checked against the hub's size and sha256 (a 40-hex git ETag is checked as a git blob sha1).
   On a mismatch it is deleted and CheckpointError is raised; otherwise it is renamed to ``<models>/<file>`` and its
   sha256 and size are recorded in the manifest.

Progress goes to ``progress(name, bytes_done, total_bytes_or_None)``, called after every chunk written (resumed bytes
included), which suits a tqdm bar (CLI) or ``gr.Progress`` (app). The hub library's own bar is switched off.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from tqdm.auto import tqdm

from . import __version__
from .errors import CheckpointError
from .weights import (
    CHUNK,
    PARTIAL_DIR,
    Checkpoint,
    PathArg,
    Progress,
    read_manifest,
    record,
    resolve_models_dir,
    select,
)

_LIBRARY = {"library_name": "tortoise-tts-oneapi", "library_version": __version__}


@dataclass(frozen=True)
class RemoteFile:
    """What the hub says about one file: where to GET it, its ETag, size and the commit it resolved to."""

    url: str
    etag: str
    size: int | None
    commit: str | None
    source: str  # the hub address at that commit, recorded in the manifest


class _QuietBar(tqdm):
    """Silences huggingface_hub's own progress bar: we report through ``progress``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("name", None)
        super().__init__(*args, **{**kwargs, "disable": True})


class _ProgressFile:
    """Wraps the partial file; after each write reports the bytes on disk (the position, so resumed bytes count)."""

    def __init__(self, f: BinaryIO, report: Callable[[int], None]) -> None:
        self._f, self._report = f, report

    def write(self, data: bytes) -> int:
        n = self._f.write(data)
        self._report(self._f.tell())
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _supported(fn: Callable, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``fn`` accepts (the hub library gained some between 0.25 and 1.x)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def hub_endpoint() -> str | None:
    """``$HF_ENDPOINT`` now (huggingface_hub reads it once, at import), or None for the default hub."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or None


class _OfflineError(Exception):
    """Stands for huggingface_hub's OfflineModeIsEnabled when we refuse before asking."""


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    return value.upper() in {"1", "ON", "YES", "TRUE"} if value is not None else bool(constants.HF_HUB_OFFLINE)


def _why(cp: Checkpoint, url: str, e: BaseException) -> str:
    """One line saying why the hub could not give us ``cp``, and what to do."""
    kind = type(e).__name__
    status = getattr(getattr(e, "response", None), "status_code", None)
    detail = (str(e).strip().splitlines() or [""])[0]
    offline_fix = "or copy the files in with `tortoise-tts models import FOLDER`"
    if "Offline" in kind:
        return f"cannot download {cp.filename}: offline mode is on (HF_HUB_OFFLINE); unset it, {offline_fix}"
    if "EntryNotFound" in kind or status == 404:
        return f"{cp.filename} is not on the hub at {url} (404 {kind}); is HF_ENDPOINT a full mirror?"
    if "RepositoryNotFound" in kind or status == 401:
        return f"hub repository {cp.repo_id} not found or not accessible at {url} ({kind})"
    return (
        f"cannot download {cp.filename} from {url} ({kind}: {detail}); check the network connection "
        f"(or set HF_ENDPOINT to a reachable mirror) {offline_fix}"
    )


def remote_file(cp: Checkpoint) -> RemoteFile:
    """Ask the hub for ``cp``'s metadata. Raises CheckpointError (offline, not found, unreachable, no ETag)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    endpoint = hub_endpoint()
    url = hf_hub_url(cp.repo_id, cp.repo_path, revision=cp.revision, endpoint=endpoint)
    if _offline():
        raise CheckpointError(_why(cp, url, _OfflineError()))
    try:
        meta = get_hf_file_metadata(url, **_supported(get_hf_file_metadata, endpoint=endpoint, **_LIBRARY))
    except Exception as e:  # the hub library raises many types (HTTP, transport, offline) across versions
        raise CheckpointError(_why(cp, url, e)) from e
    if not meta.etag:
        raise CheckpointError(f"the hub at {url} sent no ETag for {cp.filename}, so it cannot be verified")
    source = hf_hub_url(cp.repo_id, cp.repo_path, revision=meta.commit_hash or cp.revision, endpoint=endpoint)
    return RemoteFile(meta.location or url, meta.etag, meta.size, meta.commit_hash, source)


def _digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file in one pass of 1 MiB reads."""
    sha256, git = hashlib.sha256(), hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha256.update(block)
            git.update(block)
    return sha256.hexdigest(), git.hexdigest()


def _mismatch(path: Path, remote: RemoteFile) -> tuple[str | None, str]:
    """(problem or None, sha256) of a local file against the hub's size and ETag."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"is {size:,} bytes, the hub says {remote.size:,}", ""
    sha256, git = _digests(path)
    etag = remote.etag.lower()
    if re.fullmatch(r"[0-9a-f]{64}", etag) and sha256 != etag:
        return f"has sha256 {sha256[:16]}…, the hub says {etag[:16]}… (corrupt download)", sha256
    if re.fullmatch(r"[0-9a-f]{40}", etag) and git != etag:
        return f"has git sha1 {git[:12]}…, the hub says {etag[:12]}… (corrupt download)", sha256
    return None, sha256


def download(
    names: Iterable[str] | None = None,
    models_dir: PathArg | None = None,
    *,
    progress: Progress | None = None,
    force: bool = False,
) -> list[Path]:
    """Download checkpoints into the models folder, verified against the hub.

    Parameters
    ----------
    names : registry or file names (default: the ones standard generation needs).
    models_dir : the models folder (see :func:`tortoise.weights.resolve_models_dir`); created if missing.
    progress : ``progress(name, bytes_done, total_bytes_or_None)`` after every chunk.
    force : download again even if a recorded file is present (a partial download is discarded too).

    Returns
    -------
    The final paths, in order. Files already present and recorded are not fetched again.

    Raises
    ------
    CheckpointError for the first file that cannot be fetched or does not match the hub (files before it are kept).
    A cancelled download (KeyboardInterrupt) keeps its partial file for the next run to resume.
    """
    root = resolve_models_dir(models_dir)
    return [_download_one(cp, root, progress=progress, force=force) for cp in select(names)]


def _download_one(cp: Checkpoint, root: Path, *, progress: Progress | None, force: bool) -> Path:
    from filelock import FileLock  # a dependency of huggingface_hub

    dest = root / cp.filename
    entry = read_manifest(root).get(cp.filename)
    if not force and dest.is_file() and entry and entry.get("size") == dest.stat().st_size:
        return dest
    remote = remote_file(cp)
    partials = root / PARTIAL_DIR
    partials.mkdir(parents=True, exist_ok=True)
    with FileLock(str(partials / f"{cp.filename}.lock")):
        if not force and dest.is_file():  # copied in by hand: keep it if it is the hub's file
            problem, sha256 = _mismatch(dest, remote)
            if problem is None:
                record(root, cp.filename, sha256=sha256, size=dest.stat().st_size, source=remote.source)
                return dest
        part = partials / f"{cp.filename}.{re.sub(r'[^0-9A-Za-z]', '', remote.etag)[:16]}.part"
        for stale in partials.glob(f"{cp.filename}.*.part"):
            if stale != part or force:
                stale.unlink(missing_ok=True)
        _fetch(cp, remote, part, progress)
        problem, sha256 = _mismatch(part, remote)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise CheckpointError(
                f"download of {cp.filename} from {remote.source} {problem}; the bad file was deleted, "
                f"run `tortoise-tts models download {cp.name}` again"
            )
        os.replace(part, dest)
        record(root, cp.filename, sha256=sha256, size=dest.stat().st_size, source=remote.source)
    return dest


def _fetch(cp: Checkpoint, remote: RemoteFile, part: Path, progress: Progress | None) -> None:
    """Append the missing bytes of ``remote`` to ``part`` (resuming what an earlier run left)."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    resume = part.stat().st_size if part.exists() else 0
    if remote.size is not None and resume > remote.size:
        part.unlink()
        resume = 0
    if remote.size is not None and resume == remote.size:
        return
    headers = build_hf_headers(**_LIBRARY)
    if urlparse(remote.url).netloc != urlparse(remote.source).netloc:
        headers.pop("authorization", None)  # never send a token to the CDN
    try:
        with open(part, "ab") as f:
            sink: Any = f
            if progress is not None:
                progress(cp.name, resume, remote.size)
                sink = _ProgressFile(f, lambda done: progress(cp.name, done, remote.size))
            http_get(
                remote.url,
                sink,
                resume_size=resume,
                headers=headers,
                expected_size=remote.size,
                displayed_filename=cp.filename,
                **_supported(http_get, tqdm_class=_QuietBar),
            )
    except Exception as e:  # transport errors of several libraries across hub versions, and size mismatches
        done = part.stat().st_size if part.exists() else 0
        total = f"{remote.size:,}" if remote.size is not None else "?"
        if "consistency" in str(e).lower() or (remote.size is not None and done > remote.size):
            part.unlink(missing_ok=True)
            raise CheckpointError(
                f"download of {cp.filename} from {remote.source} ended with the wrong length ({done:,} bytes, the "
                f"hub says {total}); the bad file was deleted, run `tortoise-tts models download {cp.name}` again"
            ) from e
        raise CheckpointError(
            f"download of {cp.filename} was interrupted after {done:,} of {total} bytes "
            f"({type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}); run "
            f"`tortoise-tts models download {cp.name}` again to resume"
        ) from e
