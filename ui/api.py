"""The OpenAI-compatible speech API served by the app itself (``tortoise-app``; ``--no-api`` turns it off): the routes
of ``tortoise.server`` on the Gradio server, at ``http://HOST:PORT/v1`` (``POST /v1/audio/speech``, ``GET /v1/models``,
``/v1/audio/voices``, ``/health``), working on the app's ``Engine``.

Decisions:
* Same process, one device queue: ``AppSpeech`` is the server's ``SpeechEngine`` on the app's pipeline (so the
  current settings: device, precision, models folder, voice folders, "keep models loaded"; a change applies from the
  next request) and on the app's queue (``Engine.queue``): API requests and app jobs take turns, first come first
  served, and never run on the device at the same time.
* The routes are handed to Gradio's FastAPI app as Gradio makes it (``launch(app_kwargs=...)``: FastAPI's ``routes``
  and ``middleware``), so they answer from the first request; none of Gradio's routes lies under ``/v1`` or is
  ``/health``.
* No cross-origin browser calls: Gradio's CORS middleware (around every route) echoes any ``Origin`` when the app
  listens on a non-loopback address, so the API itself refuses requests from another web origin (403, OpenAI's error
  shape). Programs (scripts, Open WebUI's and SillyTavern's servers) send no ``Origin``; web pages that must call the
  API directly use ``tortoise-tts serve --cors-origin``.
* Model and voice names map as in ``tortoise-tts serve`` (``--map-model``, ``--map-voice``); the key rule is
  ``ui.access``.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from tortoise.server.engine import SpeechEngine
from tortoise.server.settings import ServerSettings

from .engine import Engine

API_PATHS = ("/v1/", "/health")


class AppSpeech(SpeechEngine):
    """The speech API's engine on the app's ``Engine``: its current pipeline and its device queue."""

    def __init__(self, engine: Engine, settings: ServerSettings):
        super().__init__(engine.tts, settings, queue=engine.queue)
        self.app_engine = engine

    @property
    def tts(self):
        return self.app_engine.tts()  # rebuilt by the engine when the settings changed


def server_settings(args: argparse.Namespace, api_key: str | None) -> ServerSettings:
    """The API's settings from the app's options (as ``tortoise-tts serve`` reads its own), with ``api_key``."""
    import dataclasses

    from tortoise.options import preset
    from tortoise.server.command import settings_from_args

    settings = settings_from_args(args)
    for name in settings.models.values():
        preset(name)  # an unknown preset fails at start, not at the first request
    return dataclasses.replace(settings, api_key=api_key)


class SameOriginOnly:
    """ASGI middleware: API requests from another web origin (a browser page elsewhere) get a 403."""

    def __init__(self, app, paths: tuple[str, ...] = API_PATHS):
        self.app, self.paths = app, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            from starlette.datastructures import Headers
            from starlette.responses import JSONResponse

            from tortoise.server.errors import APIError

            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin and urlsplit(origin).netloc != headers.get("host"):
                error = APIError(403, f"Requests from the web page {origin} are not allowed: the API takes no "
                                 "cross-origin calls. Call it from a program (no Origin header).",
                                 code="origin_not_allowed")  # fmt: skip
                await JSONResponse(error.body(), status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def launch_kwargs(engine: Engine, settings: ServerSettings) -> dict:
    """``app_kwargs`` for ``Blocks.launch``: the API's routes and its origin check on Gradio's FastAPI app."""
    from starlette.middleware import Middleware

    from tortoise.server.app import make_router

    router = make_router(AppSpeech(engine, settings))
    return {"app_kwargs": {"routes": list(router.routes), "middleware": [Middleware(SameOriginOnly)]}}
