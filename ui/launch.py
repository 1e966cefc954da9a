"""Start the app: ``tortoise-app`` / ``python launch.py``. Binds to 127.0.0.1 unless told otherwise.

Decisions:
* Gradio's analytics are switched off before Gradio is imported, and nothing else reaches the network at start, so
  the app works offline; a public ``gradio.live`` link only with ``--share``.
* Settings come from the user config file (``ui.state``); ``--models-dir``, ``--device`` and ``--voices-dir`` override
  them for this run. No model is loaded or warmed up at start: the first job loads them, so the app starts in seconds
  and starts without weights (Generate then offers the download).
* The OpenAI-compatible speech API is served by the app too, on the same port (``ui.api``), on by default: it is
  loopback-only unless ``--host``/``--share`` say otherwise, costs nothing until called, and lets programs use the
  app's voices without starting a second process that would compete for the device. ``--no-api`` turns it off.
* Another ``--host`` or ``--share`` asks for a password and the API for its key (``ui.access``; the start message
  says so).
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
    # fmt: off
    p.add_argument("--password", default=os.environ.get("TORTOISE_APP_PASSWORD"), help="the password the page asks "
                   "for (user 'tortoise'; default $TORTOISE_APP_PASSWORD); with another --host or --share and none "
                   "given, one is made and printed")
    p.add_argument("--no-password", action="store_true", default=os.environ.get("TORTOISE_APP_NO_PASSWORD") == "1",
                   help="no login even with another --host or --share (or TORTOISE_APP_NO_PASSWORD=1)")
    p.add_argument("--api", action=argparse.BooleanOptionalAction, default=True, help="also serve the "
                   "OpenAI-compatible speech API at /v1 on the same port (default on)")
    p.add_argument("--api-key", default=os.environ.get("TORTOISE_API_KEY"), help="the key API clients send as "
                   "'Authorization: Bearer KEY' (default $TORTOISE_API_KEY); with another --host or --share and none "
                   "given, one is made and printed")
    p.add_argument("--map-model", action="append", default=[], metavar="NAME=PRESET", help="an API model name "
                   "and the preset it uses (repeatable; defaults: tts-1=fast_mode, tts-1-hd=fast)")
    p.add_argument("--map-voice", action="append", default=[], metavar="NAME=VOICE", help="an API voice name and "
                   "the voice it speaks with (repeatable; defaults map alloy, echo, ... to the built-in voices)")
    p.add_argument("--max-queue", type=int, default=16, help="API requests that may wait for the device (default 16)")
    # fmt: on
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


def access_for(args: argparse.Namespace, engine):
    """The login/key rule (``ui.access``) and what ``launch`` takes for it: ``auth``, and the API's routes unless
    ``--no-api``. ``TortoiseError`` for contradictory options or a bad model/voice map."""
    from .access import USER, decide

    access = decide(args.host, share=args.share, password=args.password, no_password=args.no_password,
                    api=args.api, api_key=args.api_key)  # fmt: skip
    served: dict = {"auth": access.auth}
    if access.auth:
        served["auth_message"] = f"Log in as '{USER}' with the password shown where the app was started."
    if args.api:
        from .api import launch_kwargs, server_settings

        served |= launch_kwargs(engine, server_settings(args, access.api_key))
    return access, served


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
    from tortoise.errors import TortoiseError

    from .access import startup_lines
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
    try:
        access, served = access_for(args, engine)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app = build_app(engine, settings)
    if not args.no_warm_up:
        engine.warm_up_in_background()
    port = free_port(args.host, args.port)
    for line in startup_lines(access, f"http://{args.host}:{port}/", api=args.api):
        print(line, file=sys.stderr)
    app.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=port,
        inbrowser=not args.no_browser,
        share=args.share,
        ssr_mode=False,
        footer_links=["api"],
        **served,
        **launch_options(engine),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
