"""tortoise-tts-oneapi: TorToiSe text-to-speech and voice cloning on Intel XPU, CUDA, MPS and CPU.

Importing the package loads no model and touches no device.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import TortoiseError

__all__ = ["TortoiseError", "__version__"]
