"""Turning a state dict into a ready model, the same way for every model.

Build on the meta device (no memory, no init cost), read the file memory-mapped with
``weights_only=True`` (no pickle code runs), remap keys in one function per model, load strictly with
``assign=True``, then move to the target device and dtype. Modules with non-persistent buffers (masks,
rotary tables) rebuild them in an ``init_buffers()`` method, called here after loading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from .errors import CheckpointError, ModelNotFoundError

M = TypeVar("M", bound=nn.Module)
StateDict = dict[str, Tensor]


def read_state_dict(path: str | Path, key: str | None = None) -> StateDict:
    """Read a checkpoint without executing pickled code.

    Parameters
    ----------
    path : the ``.pth`` file.
    key : for container checkpoints (``vocoder.pth`` holds ``model_g``), the entry holding the state dict.

    Raises
    ------
    ModelNotFoundError if the file is missing; CheckpointError if it is truncated, corrupt or not a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file not found: {path}. Download it with `tortoise-tts models download`.")
    try:
        obj = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as e:  # torch raises many different types for corrupt or truncated files
        raise CheckpointError(
            f"cannot read {path} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'corrupt'}); "
            "the file is corrupt or truncated: delete it and download it again (`tortoise-tts models download`)."
        ) from e
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            raise CheckpointError(f"{path} has no entry {key!r}; is this the right file?")
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return dict(obj)


def load_into(model: nn.Module, state_dict: Mapping[str, Tensor], *, what: str = "checkpoint") -> None:
    """``load_state_dict(strict=True, assign=True)`` with an error message a user can act on."""
    expected = set(model.state_dict().keys())
    given = set(state_dict.keys())
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{what} does not match the model: {len(missing)} missing keys {missing[:5]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:5]}. Is it the right file for this model?"
        )
    own = model.state_dict()
    wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items() if v.shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"{what}: {len(wrong)} tensors have the wrong shape, e.g. {wrong[:3]} (file, model)")
    model.load_state_dict(state_dict, strict=True, assign=True)


def build(
    factory: Callable[[], M],
    state_dict: Mapping[str, Tensor],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    remap: Callable[[StateDict], StateDict] | None = None,
    what: str = "checkpoint",
) -> M:
    """Build ``factory()`` on the meta device, load ``state_dict`` strictly, move to device/dtype, eval mode.

    ``remap`` is the model's key-renaming function (legacy names, weight-norm folding, ...).
    Floating tensors are cast to ``dtype`` (when given); integer buffers keep their dtype.
    """
    with torch.device("meta"):
        model = factory()
    sd = remap(dict(state_dict)) if remap is not None else dict(state_dict)
    load_into(model, sd, what=what)
    for module in model.modules():
        init = getattr(module, "init_buffers", None)
        if callable(init):
            init()
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"tensors left on the meta device after loading: {leftover[:5]}")
    model.to(device=device)
    if dtype is not None:
        model.to(dtype=dtype)
        for module in model.modules():  # norms that compute in float32 keep float32 parameters
            if getattr(module, "keep_fp32", False):
                module.float()
    return model.eval().requires_grad_(False)
