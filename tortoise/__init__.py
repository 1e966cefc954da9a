"""tortoise-tts-oneapi: TorToiSe text-to-speech and voice cloning on Intel XPU, CUDA, MPS and CPU.

Importing the package loads no model and touches no device; the public names below are imported on first use.
"""

from __future__ import annotations

from importlib import import_module

from .errors import TortoiseError

__version__ = "0.1.0"

_LAZY = {
    "TextToSpeech": "api",
    "GenerationResult": "api",
    "GenerationOptions": "options",
    "PRESETS": "options",
    "preset": "options",
    "VoiceLibrary": "voices",
    "load_audio": "audio_io",
    "save_audio": "audio_io",
}

__all__ = ["TortoiseError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tortoise' has no attribute {name!r}")
