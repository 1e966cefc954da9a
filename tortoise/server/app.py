"""The HTTP side: FastAPI routes in OpenAI's shapes, the API key, the body limit, streaming and disconnects.

Routes: ``POST /v1/audio/speech``; ``GET /v1/models`` and ``/v1/models/{id}`` (OpenAI's list); ``GET
/v1/audio/voices`` (``{"voices": [{"id", "name"}]}``, what Open WebUI reads) and ``/v1/audio/models``; ``GET
/health``. Every error is OpenAI's error JSON, also when the router is mounted on another app (each route answers
its own errors). A speech response starts when the first audio is ready (or with the error that came first, with
its status), then streams chunk by chunk; a client that goes away cancels its job (checked every 0.25 s while
waiting, and by Starlette when a send fails).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import logging
import threading

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..encode import FORMATS
from ..options import PRESETS
from .engine import DONE, Job, SpeechEngine
from .errors import APIError, from_library
from .jobs import Cancelled, QueueFull
from .request import parse_speech

log = logging.getLogger("tortoise.server")
POLL = 0.25  # seconds between disconnect checks while a job works


def _check_key(request: Request, key: str | None) -> None:
    if not key:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                       code="invalid_api_key")  # fmt: skip
    if not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")


async def _read_body(request: Request, limit: int) -> bytes:
    too_big = APIError(413, f"The request body is larger than {limit} bytes.", code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise too_big
    return bytes(data)


def _error_response(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def _answers_errors(key: str | None):
    """Route decorator: check the API key, and turn an ``APIError`` into OpenAI's error JSON."""

    def decorate(fn):
        @functools.wraps(fn)
        async def route(request: Request):
            try:
                _check_key(request, key)
                return await fn(request)
            except APIError as e:
                return _error_response(e)

        return route

    return decorate


async def _next_item(items: asyncio.Queue, request: Request, job: Job):
    """The job's next delivery; cancels the job (and raises ``Cancelled``) if the client went away meanwhile."""
    while True:
        try:
            return await asyncio.wait_for(items.get(), POLL)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                job.cancelled.set()
                raise Cancelled("the client disconnected") from None


def _failure(error: BaseException) -> APIError:
    if isinstance(error, QueueFull):
        return APIError(429, str(error), type="rate_limit_error", code="rate_limit_exceeded")
    if not isinstance(error, (APIError, Cancelled)):
        log.error("speech job failed", exc_info=error)
    return from_library(error)


def _sse(event: dict) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


async def _body(first, items: asyncio.Queue, request: Request, job: Job):
    """The response body: the job's bytes as they come (as ``speech.audio.delta`` events for SSE)."""
    sse = job.request.stream_format == "sse"
    item = first
    try:
        while item is not DONE:
            if isinstance(item, BaseException):
                failure = _failure(item)
                log.warning("speech stream ended early: %s", failure.message)
                if sse:
                    yield _sse({"type": "error", **failure.body()})
                return
            if item:
                yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(item).decode()}) if sse else item
            try:
                item = await _next_item(items, request, job)
            except Cancelled:  # the client went away: nothing more to send, and nothing to report
                return
        if sse:
            usage = {"input_tokens": job.input_tokens, "output_tokens": job.output_tokens}
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
            yield _sse({"type": "speech.audio.done", "usage": usage})
    finally:
        job.cancelled.set()  # a finished job ignores it; an unfinished one stops at its next chunk


def make_router(engine: SpeechEngine) -> APIRouter:
    """The API's routes, to include in a FastAPI app (``app.include_router(make_router(engine))``)."""
    router = APIRouter()
    settings = engine.settings
    errors = _answers_errors(settings.api_key)

    @router.post("/v1/audio/speech")
    @errors
    async def speech(request: Request) -> Response:
        parsed = parse_speech(await _read_body(request, settings.max_body_bytes), settings)
        job = await asyncio.to_thread(engine.prepare, parsed)
        items: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        job.deliver = lambda item: loop.call_soon_threadsafe(items.put_nowait, item)
        threading.Thread(target=engine.run, args=(job,), name="tortoise-api-job", daemon=True).start()
        try:
            first = await _next_item(items, request, job)
        except Cancelled:
            return Response(status_code=499)  # nobody is listening (nginx's "client closed request")
        if isinstance(first, BaseException):
            return _error_response(_failure(first))
        sse = parsed.stream_format == "sse"
        media = "text/event-stream" if sse else FORMATS[parsed.response_format].content_type
        headers = {"x-tortoise-seed": str(job.seed), "x-tortoise-preset": parsed.preset, "cache-control": "no-store"}
        return StreamingResponse(_body(first, items, request, job), media_type=media, headers=headers)

    def model_card(name: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": settings.owner}

    def model_names() -> list[str]:
        return list(dict.fromkeys([*settings.models, *PRESETS]))

    @router.get("/v1/models")
    @errors
    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_card(n) for n in model_names()]})

    @router.get("/v1/models/{model_id}")
    @errors
    async def model(request: Request) -> Response:
        name = request.path_params["model_id"]
        if name not in model_names():
            raise APIError(404, f"The model '{name}' does not exist.", param="model", code="model_not_found")
        return JSONResponse(model_card(name))

    @router.get("/v1/audio/models")
    @errors
    async def audio_models(request: Request) -> Response:
        return JSONResponse({"models": [{"id": n} for n in model_names()]})

    @router.get("/v1/audio/voices")
    @errors
    async def voices(request: Request) -> Response:
        return JSONResponse({"voices": await asyncio.to_thread(engine.voice_list)})

    @router.get("/health")
    @errors
    async def health(request: Request) -> Response:
        q = engine.queue
        return JSONResponse({"status": "ok", "busy": q.busy, "waiting": q.waiting, "completed": q.completed})

    return router


def create_app(engine: SpeechEngine, *, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    """A standalone app serving ``make_router(engine)``; CORS only for the origins listed (no wildcard default)."""
    from starlette.exceptions import HTTPException

    app = FastAPI(title="tortoise-tts-oneapi speech API", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(make_router(engine))
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])  # fmt: skip

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:  # unknown routes and methods
        kind = "not_found" if exc.status_code == 404 else None
        return _error_response(APIError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                                        code=kind))  # fmt: skip

    return app
