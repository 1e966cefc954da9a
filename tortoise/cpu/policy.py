"""Which parts of which model get which CPU kernel, and when the machine at hand can afford them.

Measured wins (figures in ``prepacked.py``, ``winograd.py`` and bench/RESULTS.md), for what runs many times per job:

- ``autoregressive``: every linear layer pre-packed for oneDNN (the decode loop), and each GPT-2 MLP's tanh-GELU fused
  into its packed ``c_fc`` product;
- ``diffusion_decoder``: in reduced precision, ``layers[1:]`` (the layers ``set_layer_dtype`` casts) pre-packed; the
  float32 kernel-3 convolutions of ``conditioning_timestep_integrator`` and ``layers`` computed by Winograd F(4, 3).

Each part is prepared only on the CPU, only where this torch build computes it correctly, and only when its copy
(measured again before each part) fits in half of the free memory. ``TORTOISE_NO_PACK=1`` turns it all off.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor, nn

from .. import devices
from ..models.gpt import MLP
from . import prepacked, winograd
from .prepacked import PackedLinear


def prepare(name: str, model: nn.Module, device: torch.device) -> nn.Module:
    """Prepare the loaded checkpoint ``name``'s ``model`` for the CPU's kernels, in place; returns it.

    Nothing happens off the CPU or for a model that runs once per job. The state dict is unchanged.
    """
    if device.type != "cpu":
        return model
    if name == "autoregressive":
        if prepack(model, _measure()):
            fuse_mlp_gelu(model)
    elif name == "diffusion_decoder":
        if model.layer_dtype is not None:
            prepack(model.layers[1:], _measure())  # the reduced-precision layers
        for part in (model.conditioning_timestep_integrator, model.layers):  # float32 kernel-3 convolutions
            prepack(part, _measure(), packer=winograd)
    return model


def _measure() -> devices.Capabilities:
    return devices.capabilities(torch.device("cpu"))


def prepack(module: nn.Module, caps: devices.Capabilities, *, packer=prepacked) -> int:
    """Re-lay ``module``'s weights with ``packer`` (:mod:`.prepacked` or :mod:`.winograd`); how many layers it did.

    Only on the CPU, only where ``packer.packing_works`` for the module's dtype, and only when the copies
    (``packer.packed_bytes``) fit in half of ``caps.free_memory``. ``TORTOISE_NO_PACK=1`` turns it off.
    """
    if caps.type != "cpu" or os.environ.get("TORTOISE_NO_PACK"):
        return 0
    dtype = next(module.parameters()).dtype
    need = packer.packed_bytes(module)
    if caps.free_memory is not None and need > caps.free_memory * 0.5:
        warnings.warn(
            f"not pre-packing the weights ({need / 2**30:.1f} GiB would need more than half of the free memory): "
            "generation on the CPU runs, somewhat slower",
            stacklevel=2,
        )
        return 0
    if not packer.packing_works(dtype):
        return 0
    return packer.pack_layers(module)


class FusedGeluMLP(nn.Module):
    """GPT-2's MLP (``c_proj(gelu_tanh(c_fc(x)))``, same parameters and keys) with the GELU fused into the packed
    ``c_fc`` product: one bf16 rounding instead of two, one pass less over the hidden activations."""

    def __init__(self, mlp: MLP):
        super().__init__()
        self.c_fc, self.c_proj = mlp.c_fc, mlp.c_proj

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.c_fc.forward_gelu_tanh(x))


def fuse_mlp_gelu(model: nn.Module) -> int:
    """Replace every GPT-2 MLP of ``model`` whose ``c_fc`` is packed by :class:`FusedGeluMLP`; return how many."""
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is MLP and isinstance(child.c_fc, PackedLinear)
    ]
    for parent, name, child in targets:
        setattr(parent, name, FusedGeluMLP(child))
    return len(targets)
