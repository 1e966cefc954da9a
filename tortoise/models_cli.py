"""``tortoise-tts models list|download|verify|import``: the weights registry on the command line.

Register with ``add_models_command(subparsers)``; each action sets ``func(args) -> exit code``. One line per file,
errors as ``error: ...`` on stderr, and the next file is still tried. Exit codes: 0 all good, 1 a file failed,
130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import weights
from .errors import TortoiseError

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 130


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


def _list(args: argparse.Namespace) -> int:
    root = weights.resolve_models_dir(args.models_dir)
    print(f"models folder: {root}")
    for s in weights.status(root):
        cp = s.checkpoint
        size = _size(s.size) if s.size is not None else f"≈{_size(cp.size)}"
        need = "required" if cp.required else "optional"
        print(f"{cp.name:<28} {s.state:<10} {size:>12}  {need:<8}  {cp.purpose}")
    return EXIT_OK


class _Bars:
    """One tqdm bar per file, fed by ``weights.download``'s ``progress(name, done, total)``."""

    def __init__(self, *, disable: bool) -> None:
        self.bars: dict[str, Any] = {}
        self.disable = disable

    def __call__(self, name: str, done: int, total: int | None) -> None:
        from tqdm.auto import tqdm

        bar = self.bars.get(name)
        if bar is None:
            bar = self.bars[name] = tqdm(
                desc=name, total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, disable=self.disable
            )
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _download(args: argparse.Namespace) -> int:
    root = weights.resolve_models_dir(args.models_dir)
    try:
        wanted = weights.select(args.names, everything=args.all)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    failed, bars = 0, _Bars(disable=args.quiet)
    try:
        for cp in wanted:
            try:
                (path,) = weights.download([cp.name], root, progress=bars, force=args.force)
                bars.close()  # finish this file's bar before printing its line
            except TortoiseError as e:
                bars.close()
                failed += 1
                print(f"error: {e}", file=sys.stderr)
            else:
                print(f"{cp.name}: {path}")
        if args.redaction:
            failed += not _download_aligner()
    except KeyboardInterrupt:
        print("cancelled: the partial download is kept; run the same command to resume", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        bars.close()
    return EXIT_ERROR if failed else EXIT_OK


def _download_aligner() -> bool:
    """Fetch (and load once, to check) the redaction aligner's model and vocabulary into the Hugging Face cache."""
    from .redaction import MODEL_ID, Wav2VecAligner

    try:
        Wav2VecAligner().load()
    except TortoiseError as e:
        print(f"error: redaction model: {e}", file=sys.stderr)
        return False
    print(f"redaction: {MODEL_ID} (Hugging Face cache)")
    return True


def _verify(args: argparse.Namespace) -> int:
    try:
        loader = getattr(args, "loader", None)
        checks = weights.verify(args.names or None, args.models_dir, deep=args.deep, loader=loader)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    for check in checks:
        print(check.message() if check.ok else f"error: {check.message()}", file=sys.stdout if check.ok else sys.stderr)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ERROR


def _import(args: argparse.Namespace) -> int:
    try:
        checks = weights.import_folder(args.folder, args.models_dir, copy=not args.link)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    for check in checks:
        print(check.message() if check.ok else f"error: {check.message()}", file=sys.stdout if check.ok else sys.stderr)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ERROR


def add_models_command(subparsers: Any, *, loader: weights.Loader | None = None) -> argparse.ArgumentParser:
    """Add ``models`` with its actions to an ``add_subparsers()`` object; ``loader`` is used by ``verify --deep``."""
    models = subparsers.add_parser("models", help="list, download, verify or import the model weights")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    names = {"nargs": "*", "metavar": "NAME", "help": f"checkpoints ({', '.join(weights.CHECKPOINTS)})"}
    folder = {"help": "models folder (default: $TORTOISE_MODELS_DIR or ~/.cache/tortoise/models)"}

    # fmt: off
    p = sub.add_parser("list", help="show every checkpoint and whether it is present")
    p.add_argument("--models-dir", **folder)
    p.set_defaults(func=_list)

    p = sub.add_parser("download", help="download checkpoints (default: those standard generation needs)")
    p.add_argument("names", **names)
    p.add_argument("--all", action="store_true", help="download every checkpoint, optional ones too")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument("--redaction", action="store_true", help="also the wav2vec2 model that cuts [bracketed] text "
                   "(about 1.3 GB, into the Hugging Face cache)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--models-dir", **folder)
    p.set_defaults(func=_download)

    p = sub.add_parser("verify", help="check files on disk by size and recorded sha256 (no network)")
    p.add_argument("names", **names)
    p.add_argument("--deep", action="store_true", help="also load each file into its model, strictly")
    p.add_argument("--models-dir", **folder)
    p.set_defaults(func=_verify, loader=loader)

    p = sub.add_parser("import", help="copy checkpoints from a folder (offline machines; plain or HF-cache layout)")
    p.add_argument("folder", help="folder to search for checkpoint files")
    p.add_argument("--link", action="store_true", help="hard-link (or symlink) instead of copying")
    p.add_argument("--models-dir", **folder)
    p.set_defaults(func=_import)
    # fmt: on
    return models
