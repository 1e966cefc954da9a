"""An OpenAI-compatible speech API for the local voices: ``POST /v1/audio/speech`` and its listings.

``create_app(engine)`` makes a standalone FastAPI app (``tortoise-tts serve``); ``make_router(engine)`` gives the
routes alone, to mount on an existing FastAPI app (the Gradio app's server) that shares the engine's
``DeviceQueue``, so API requests and app jobs take turns on the device. Importing this package imports nothing
heavy; FastAPI (the ``api`` extra) is imported with the names below.
"""

from __future__ import annotations

from importlib import import_module

_LAZY = {
    "create_app": "app",
    "make_router": "app",
    "SpeechEngine": "engine",
    "DeviceQueue": "jobs",
    "ServerSettings": "settings",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tortoise.server' has no attribute {name!r}")
