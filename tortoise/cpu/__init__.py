"""CPU speed work, behind one door: the models stay plain ``nn.Module``s and are prepared from the outside.

- :func:`prepare` (``policy.py``): the one entry point for a loaded model. It decides which parts of which model
  get which kernel, and whether the machine at hand can hold and run them: weights pre-packed for oneDNN
  (``prepacked.py``) and Winograd F(4, 3) kernel-3 convolutions (``winograd.py``), each layer shape only where it
  is faster than the plain path on this machine (``calibration.py``: measured at the first load, cached per machine;
  ``TORTOISE_CPU_KERNELS=auto|fast|plain``). ``TORTOISE_NO_PACK=1`` turns both off.
- ``runtime.py``: process-wide settings (how OpenMP threads wait, how the C heap keeps memory), set by the CLI and
  the app before torch is imported. So this package imports nothing at import time; :func:`prepare` is loaded on
  first use.
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["prepare"]


def __getattr__(name: str):
    if name == "prepare":
        return import_module(".policy", __name__).prepare
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
