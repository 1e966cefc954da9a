"""Where the released checkpoints come from, where they live, and whether the copies on disk are good.

* ``CHECKPOINTS`` is the registry: one :class:`Checkpoint` per file, with its Hugging Face hub source: TorToiSe's files
  from ``Manmay/tortoise-tts``, BigVGAN from the ``ecker/tortoise-tts-models`` mirror (never Google Drive).
* The models folder is ``models_dir`` if given, else ``$TORTOISE_MODELS_DIR``, else ``$XDG_CACHE_HOME/tortoise/models``
  (``~/.cache/tortoise/models``). Files are plain files named like the originals, so they can be copied in by hand.
* We ship no sha256 sums: a download is checked against the hub's own metadata (LFS sha256 ETag, size), then the
  verified sha256 and size go to ``manifest.json`` in the models folder, and ``verify`` re-checks against that record
  offline (1 MiB chunks). A file copied in by hand is recorded (as ``local``) once it passes ``verify`` or
  ``import_folder`` (plausible size, readable state dict). Downloads (:mod:`tortoise.hub`) write to ``.partial/`` and
  are renamed to the final name only after verification, so a half-written file is never taken for a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, InvalidInputError, ModelNotFoundError

MANIFEST = "manifest.json"
PARTIAL_DIR = ".partial"
CHUNK = 1 << 20  # hash and copy in 1 MiB chunks
MIN_SIZE_FRACTION = 0.8  # registry sizes are estimates (Checkpoint.size): below this fraction a file is truncated
PathArg = str | os.PathLike
Progress = Callable[[str, int, "int | None"], None]  # (name, bytes done, total bytes or None)


@dataclass(frozen=True)
class Checkpoint:
    """One released weights file: ``name`` (registry key), ``filename`` (in the models folder, as in the original),
    ``repo_id``/``repo_path``/``revision`` (where it is on the hub), ``size`` (bytes: exact only with ``size_exact``,
    else an estimate from the parameter count), ``container_key`` (the saved dict's entry holding the state dict, e.g.
    ``"model_g"``, or None), ``purpose`` (for ``models list``), ``required`` (needed for standard generation) and
    ``aliases`` (other file names of the same weights, for ``import_folder``)."""

    name: str
    filename: str
    repo_id: str
    repo_path: str
    size: int
    container_key: str | None
    purpose: str
    required: bool
    aliases: tuple[str, ...] = ()
    revision: str = "main"
    size_exact: bool = False


TORTOISE_REPO = "Manmay/tortoise-tts"
BIGVGAN_REPO = "ecker/tortoise-tts-models"
_MB = 1_000_000


def _tt(name: str, size: int, purpose: str, *, required: bool = False, key: str | None = None) -> Checkpoint:
    return Checkpoint(name, f"{name}.pth", TORTOISE_REPO, f"{name}.pth", size, key, purpose, required)


# fmt: off
CHECKPOINTS: dict[str, Checkpoint] = {
    c.name: c
    for c in (
        _tt("autoregressive", 1720 * _MB, "autoregressive GPT (speech tokens)", required=True),
        _tt("diffusion_decoder", 1170 * _MB, "diffusion decoder (mel spectrogram)", required=True),
        _tt("clvp2", 980 * _MB, "CLVP candidate ranking", required=True),
        _tt("vocoder", 60 * _MB, "UnivNet vocoder", required=True, key="model_g"),
        _tt("cvvp", 151 * _MB, "CVVP ranking (only with cvvp_amount > 0)"),
        _tt("rlg_auto", 25 * _MB, "random voice (AR latent; the CLI's default voice)", required=True),
        _tt("rlg_diffuser", 101 * _MB, "random voice (diffusion latent)", required=True),
        _tt("classifier", 61 * _MB, "tortoise-detect classifier"),
        _tt("hifidecoder", 71 * _MB, "HiFi-GAN fast-mode decoder"),
        Checkpoint("bigvgan_base_24khz_100band", "bigvgan_base_24khz_100band.pth", BIGVGAN_REPO,
                   "models/bigvgan_base_24khz_100band.pth", 56 * _MB, "generator",
                   "BigVGAN base vocoder (24 kHz, 100 bands)", False, aliases=("bigvgan_base_24khz_100band_g.pth",)),
    )
}
# fmt: on


def resolve_models_dir(explicit: PathArg | None = None) -> Path:
    """The models folder: ``explicit`` > ``$TORTOISE_MODELS_DIR`` > ``$XDG_CACHE_HOME/tortoise/models``.

    ``XDG_CACHE_HOME`` defaults to ``~/.cache``. The folder is not created here.
    """
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get("TORTOISE_MODELS_DIR"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "tortoise" / "models"


def lookup(name: str) -> Checkpoint:
    """A checkpoint by registry name or file name; raises InvalidInputError listing the known names."""
    if name in CHECKPOINTS:
        return CHECKPOINTS[name]
    for cp in CHECKPOINTS.values():
        if name == cp.filename or name in cp.aliases:
            return cp
    raise InvalidInputError(f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}")


def select(names: Iterable[str] | None, *, everything: bool = False) -> list[Checkpoint]:
    """Checkpoints for ``names``; with no names, the required ones (or all with ``everything``)."""
    names = [names] if isinstance(names, str) else list(names or ())
    if names:
        return list({lookup(n).name: lookup(n) for n in names}.values())
    return [cp for cp in CHECKPOINTS.values() if everything or cp.required]


def checkpoint_path(name: str, models_dir: PathArg | None = None) -> Path:
    """Path of a checkpoint that must exist. Raises ModelNotFoundError saying how to get it, or CheckpointError when
    its size differs from the manifest record (truncated or replaced; a cheap check, no hashing)."""
    cp = lookup(name)
    path = resolve_models_dir(models_dir) / cp.filename
    if not path.is_file():
        raise ModelNotFoundError(
            f"{cp.filename} is not in {path.parent}; download it with `tortoise-tts models download {cp.name}` "
            "or copy it there with `tortoise-tts models import FOLDER`."
        )
    entry = read_manifest(path.parent).get(cp.filename)
    if entry is not None and entry["size"] != (size := path.stat().st_size):
        raise CheckpointError(f"{path} is {size:,} bytes, recorded {entry['size']:,} (truncated?); {_fix(cp)}")
    return path


# --- manifest -----------------------------------------------------------------------------------------------------


def read_manifest(models_dir: Path) -> dict[str, dict]:
    """``{filename: {"sha256", "size", "source", "verified"}}``; unreadable entries (or manifest) count as absent."""
    try:
        files = json.loads((models_dir / MANIFEST).read_text(encoding="utf-8"))["files"]
        return {k: v for k, v in files.items() if isinstance(v, dict) and {"size", "sha256"} <= v.keys()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):  # missing, not JSON, or not our layout
        return {}


def record(models_dir: Path, filename: str, *, sha256: str, size: int, source: str) -> None:
    """Add or replace one manifest entry; the manifest is rewritten atomically."""
    files = read_manifest(models_dir)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    files[filename] = {"sha256": sha256, "size": size, "source": source, "verified": stamp}
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": 1, "files": files}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, models_dir / MANIFEST)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


CONFIGS_MANIFEST = "tortoise-models.json"  # optional: non-released model configurations (see model_zoo)


def custom_configs(root: Path) -> set[str]:
    """Checkpoints whose configuration the folder declares itself: their released sizes do not apply."""
    try:
        configs = json.loads((Path(root) / CONFIGS_MANIFEST).read_text()).get("configs", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return set(configs) if isinstance(configs, dict) else set()


def size_problem(cp: Checkpoint, size: int) -> str | None:
    """Why ``size`` bytes cannot be this checkpoint, or None if it is plausible."""
    if cp.size_exact and size != cp.size:
        return f"is {size:,} bytes, expected {cp.size:,}"
    if not cp.size_exact and size < MIN_SIZE_FRACTION * cp.size:
        return f"is {size:,} bytes, far below the expected ≈{cp.size:,} (truncated?)"
    return None


def _readable_problem(cp: Checkpoint, path: Path) -> str | None:
    from .loading import read_state_dict

    try:
        read_state_dict(path, key=cp.container_key)
    except CheckpointError as e:
        if (cause := e.__cause__) is not None:  # torch could not unpickle it: corrupt or truncated
            detail = str(cause).splitlines()[0] if str(cause) else "no detail"
            return f"is corrupt or truncated ({type(cause).__name__}: {detail})"
        return f"is not the expected checkpoint ({str(e).replace(str(path), 'the file').split(';')[0]})"
    return None


def _fix(cp: Checkpoint) -> str:
    return f"delete it and run `tortoise-tts models download {cp.name}` (or import a good copy)"


# --- status and verification --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointStatus:
    """What is on disk for one checkpoint (cheap: no hashing). ``state``: present | unverified | bad | missing."""

    checkpoint: Checkpoint
    path: Path
    state: str
    size: int | None
    sha256: str | None

    @property
    def name(self) -> str:
        return self.checkpoint.name


def status(models_dir: PathArg | None = None) -> list[CheckpointStatus]:
    """State of every registered checkpoint: ``present`` (recorded, same size), ``unverified`` (no record yet),
    ``bad`` (size differs from the record: truncated or replaced) or ``missing``."""
    root = resolve_models_dir(models_dir)
    manifest = read_manifest(root)
    out = []
    for cp in CHECKPOINTS.values():
        path = root / cp.filename
        entry = manifest.get(cp.filename)
        if not path.is_file():
            out.append(CheckpointStatus(cp, path, "missing", None, None))
            continue
        size = path.stat().st_size
        state = "unverified" if entry is None else ("present" if entry.get("size") == size else "bad")
        out.append(CheckpointStatus(cp, path, state, size, entry and entry.get("sha256")))
    return out


@dataclass(frozen=True)
class Check:
    """Outcome of checking (or importing) one checkpoint: ``problem`` is None when it is good."""

    checkpoint: Checkpoint
    path: Path
    problem: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def message(self) -> str:
        if self.ok:
            return f"{self.checkpoint.filename}: ok{f' ({self.note})' if self.note else ''}"
        return f"{self.checkpoint.filename} ({self.path}) {self.problem}"


Loader = Callable[[Checkpoint, Path], object]  # builds the model from the file and loads strictly


def verify(
    names: Iterable[str] | None = None,
    models_dir: PathArg | None = None,
    *,
    deep: bool = False,
    loader: Loader | None = None,
) -> list[Check]:
    """Check checkpoints on disk without the network.

    Parameters
    ----------
    names : registry or file names; default: the required checkpoints plus every other one present.
    models_dir : the models folder (see :func:`resolve_models_dir`).
    deep : also read the state dict, and call ``loader(checkpoint, path)`` if given (it should build the model and load
        strictly, raising CheckpointError on a mismatch).

    Returns
    -------
    One :class:`Check` per checkpoint. A file with a manifest record is checked by size and sha256; a file without one
    (copied by hand) by size sanity and reading it, and is then recorded so later checks catch truncation.
    """
    root = resolve_models_dir(models_dir)
    present = [s.checkpoint for s in status(root) if s.checkpoint.required or s.state != "missing"]
    wanted = select(names) if names else present
    manifest = read_manifest(root)
    return [_verify_one(cp, root, manifest.get(cp.filename), deep=deep, loader=loader) for cp in wanted]


def _verify_one(cp: Checkpoint, root: Path, entry: dict | None, *, deep: bool, loader: Loader | None) -> Check:
    path = root / cp.filename
    if not path.is_file():
        return Check(cp, path, f"is missing; run `tortoise-tts models download {cp.name}`")
    size = path.stat().st_size
    note = ""
    if entry is not None:
        if size != entry.get("size"):
            return Check(cp, path, f"is {size:,} bytes, recorded {entry.get('size'):,} (truncated?); {_fix(cp)}")
        if sha256_file(path) != entry.get("sha256"):
            return Check(cp, path, f"does not match its recorded sha256 (corrupt); {_fix(cp)}")
        note = "size and sha256 match the record"
    else:
        released = cp.name not in custom_configs(root)
        problem = (size_problem(cp, size) if released else None) or _readable_problem(cp, path)
        if problem:
            return Check(cp, path, f"{problem}; {_fix(cp)}")
        record(root, cp.filename, sha256=sha256_file(path), size=size, source="local")
        note, deep = "no record: readable, now recorded", deep and loader is not None
    if deep:
        problem = _readable_problem(cp, path)
        if problem is None and loader is not None:
            try:
                loader(cp, path)
            except CheckpointError as e:
                problem = f"does not load into the model: {e}"
        if problem:
            return Check(cp, path, f"{problem}; {_fix(cp)}")
        note += ", loads strictly" if loader else ", readable"
    return Check(cp, path, None, note)


def _candidates(src: Path) -> dict[str, list[Path]]:
    """Known checkpoint files under ``src`` (plain, or a hub cache ``models--*/snapshots/*/...``), newest first."""
    names = {n: cp.name for cp in CHECKPOINTS.values() for n in (cp.filename, *cp.aliases)}
    found: dict[str, list[Path]] = {}
    for p in src.rglob("*"):
        if p.name in names and PARTIAL_DIR not in p.parts and p.is_file():
            found.setdefault(names[p.name], []).append(p)
    for paths in found.values():
        paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return found


def import_folder(src: str | os.PathLike[str], models_dir: PathArg | None = None, *, copy: bool = True) -> list[Check]:
    """Bring checkpoint files from a folder (a USB stick, another machine's cache) into the models folder.

    Parameters
    ----------
    src : folder searched recursively for known file names, plain or in a Hugging Face cache layout
        (``models--Manmay--tortoise-tts/snapshots/<rev>/autoregressive.pth``, as the original TorToiSe stored them).
    copy : copy (default); with False, hard-link, or symlink where a hard link is impossible.

    Returns
    -------
    One :class:`Check` per checkpoint found. Each file must have a plausible size and a readable state dict; it is
    copied to a temporary name, renamed into place and recorded in the manifest with its sha256.

    Raises
    ------
    CheckpointError if ``src`` is not a folder or holds no known checkpoint.
    """
    src, root = Path(src).expanduser(), resolve_models_dir(models_dir)
    if not src.is_dir():
        raise CheckpointError(f"cannot import from {src}: not a folder")
    found = _candidates(src)
    if not found:
        known = ", ".join(cp.filename for cp in CHECKPOINTS.values())
        raise CheckpointError(f"no checkpoint files in {src} (looked for {known})")
    root.mkdir(parents=True, exist_ok=True)
    return [_import_one(CHECKPOINTS[name], paths, root, copy=copy) for name, paths in found.items()]


def _import_one(cp: Checkpoint, paths: list[Path], root: Path, *, copy: bool) -> Check:
    dest, problems = root / cp.filename, []
    for path in paths:
        problem = size_problem(cp, path.stat().st_size) or _readable_problem(cp, path)
        if problem:
            problems.append(f"{path} {problem}")
            continue
        real = path.resolve()  # a hub cache snapshot entry is a symlink to its blob
        if dest.exists() and os.path.samefile(dest, real):
            mode = "already in place"
        else:
            mode = _place(real, dest, copy=copy)
        record(root, cp.filename, sha256=sha256_file(dest), size=dest.stat().st_size, source=f"import:{real}")
        return Check(cp, dest, None, f"{mode} from {path}")
    return Check(cp, dest, f"not imported: {'; '.join(problems)}")


def _place(real: Path, dest: Path, *, copy: bool) -> str:
    """Put ``real`` at ``dest`` through a temporary name, so ``dest`` is never half-written."""
    tmp = dest.parent / PARTIAL_DIR / f"{dest.name}.import.{os.getpid()}.part"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)
    try:
        if copy:
            with open(real, "rb") as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo, CHUNK)
            mode = "copied"
        else:
            try:
                os.link(real, tmp)
                mode = "hard-linked"
            except OSError:  # another file system, or links not allowed
                os.symlink(real, tmp)
                mode = "symlinked"
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return mode


def download(
    names: Iterable[str] | None = None,
    models_dir: PathArg | None = None,
    *,
    progress: Progress | None = None,
    force: bool = False,
) -> list[Path]:
    """Download checkpoints from the hub; see :func:`tortoise.hub.download` (imported lazily: no network deps here)."""
    from .hub import download as _download

    return _download(names, models_dir, progress=progress, force=force)
