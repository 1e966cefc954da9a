"""Start the app: ``tortoise-app`` / ``python launch.py``. Binds to 127.0.0.1 unless told otherwise.

Decisions:
* Gradio's analytics are switched off before Gradio is imported, and nothing else reaches the network at start, so
  the app works offline; a public ``gradio.live`` link only with ``--share``.
* Settings come from the user config file (``ui.state``); ``--models-dir``, ``--device`` and ``--voices-dir`` override
  them for this run. No model is loaded or warmed up at start: the first job loads them, so the app starts in seconds
  and starts without weights (Generate then offers the download).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from tortoise.cpu import runtime


def free_port(host: str, preferred: int) -> int:
    """``preferred`` if it is free on ``host``, else any free port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port on {host}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tortoise-app", description="Start the TorToiSe TTS app in your browser.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; the next free one if taken)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    p.add_argument("--models-dir", type=Path, help="folder with the model weights (overrides the saved setting)")
    p.add_argument("--device", help="cuda, xpu, mps or cpu (default: the saved setting, else the best available)")
    p.add_argument("-V", "--voices-dir", type=Path, action="append", default=[], help="an extra voices folder")
    p.add_argument("--no-warm-up", action="store_true", help="do not load and warm up the models at start")
    return p.parse_args(argv)


def settings_for(args: argparse.Namespace):
    """The saved settings with this run's command-line overrides, and the problems found reading the file."""
    from .state import load

    settings, notes = load()
    overrides = {}
    if args.models_dir is not None:
        overrides["models_dir"] = str(args.models_dir.expanduser().resolve())
    if args.device:
        overrides["device"] = args.device
    if args.voices_dir:
        overrides["voices_dirs"] = tuple(str(p.expanduser().resolve()) for p in args.voices_dir)
    return dataclasses.replace(settings, **overrides), notes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls at start: works offline
    runtime.configure_openmp()  # how OpenMP threads wait (tortoise/cpu/runtime.py); before torch is imported
    runtime.configure_allocator()
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: the app needs gradio: pip install 'tortoise-tts-oneapi[app]'", file=sys.stderr)
        return 1
    from .app import build_app, launch_options
    from .engine import Engine

    settings, notes = settings_for(args)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    problems = settings.problems()
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    engine = Engine(settings)
    app = build_app(engine, settings)
    if not args.no_warm_up:
        engine.warm_up_in_background()
    port = free_port(args.host, args.port)
    app.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=port,
        inbrowser=not args.no_browser,
        share=args.share,
        ssr_mode=False,
        footer_links=["api"],
        **launch_options(engine),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
