"""``tortoise-tts serve``: the speech API on 127.0.0.1, or on another address only with an API key.

The models load on the first request (a missing one is a 503 naming the download), so the server starts at once.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from ..errors import InvalidInputError

DEFAULT_PORT = 8020


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInputError(f"--map-{what} {item!r}: use NAME=VALUE, e.g. alloy=train_grace")
        out[name.strip()] = value.strip()
    return out


def add_serve_command(sub, *, engine_args, make_engine) -> None:
    """Register ``serve`` on the CLI's sub-parsers; ``engine_args(p)`` adds the model/device options."""
    p = sub.add_parser("serve", help="serve an OpenAI-compatible speech API (POST /v1/audio/speech)")
    # fmt: off
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer "
                   "only); any other needs --api-key")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--api-key", default=os.environ.get("TORTOISE_API_KEY"), help="the key clients send as "
                   "'Authorization: Bearer KEY' (default $TORTOISE_API_KEY; none: no key asked for)")
    p.add_argument("--map-model", action="append", default=[], metavar="NAME=PRESET", help="an API model name "
                   "and the preset it uses (repeatable; defaults: tts-1=fast_mode, tts-1-hd=fast)")
    p.add_argument("--map-voice", action="append", default=[], metavar="NAME=VOICE", help="an API voice name and "
                   "the voice it speaks with (repeatable; defaults map alloy, echo, ... to the built-in voices)")
    p.add_argument("--cors-origin", action="append", default=[], help="a web origin allowed to call the API from "
                   "a browser (repeatable; default none)")
    p.add_argument("--max-queue", type=int, default=16, help="requests that may wait for the device (default 16)")
    p.add_argument("--disable-redaction", action="store_true", help="speak [bracketed] text instead of cutting it")
    # fmt: on
    engine_args(p)
    p.set_defaults(func=lambda args: serve(args, make_engine))


def settings_from_args(args: argparse.Namespace):
    from .settings import ServerSettings

    base = ServerSettings()
    return ServerSettings(
        models={**base.models, **_pairs(args.map_model, "model")},
        voices={**base.voices, **_pairs(args.map_voice, "voice")},
        api_key=args.api_key or None,
        max_waiting=args.max_queue,
    )


def serve(args: argparse.Namespace, make_engine) -> int:
    """Run the server until interrupted (``make_engine(args)`` builds the ``TextToSpeech`` on the first request)."""
    if not is_loopback(args.host) and not args.api_key:
        raise InvalidInputError(
            f"--host {args.host} makes the API reachable from other computers: give it a key with --api-key KEY "
            "(or $TORTOISE_API_KEY), which clients send as 'Authorization: Bearer KEY'"
        )
    import uvicorn

    from ..options import preset
    from .app import create_app
    from .engine import SpeechEngine

    settings = settings_from_args(args)
    for name in settings.models.values():
        preset(name)  # an unknown preset fails here, not at the first request
    engine = SpeechEngine(lambda: make_engine(args), settings)
    app = create_app(engine, cors_origins=tuple(args.cors_origin))
    where = f"http://{args.host}:{args.port}/v1"
    print(f"OpenAI-compatible speech API at {where} ({'API key required' if settings.api_key else 'no API key'})",
          file=sys.stderr)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=5)
    return 0
