"""Which parts of which model get which CPU kernel, and when the machine at hand can afford them.

Measured wins (figures in ``prepacked.py``, ``winograd.py`` and bench/RESULTS.md), for what runs many times per job:

- ``autoregressive``: every linear layer pre-packed for oneDNN (the decode loop), and each GPT-2 MLP's tanh-GELU fused
  into its packed ``c_fc`` product;
- ``diffusion_decoder``: in reduced precision, ``layers[1:]`` (the layers ``set_layer_dtype`` casts) pre-packed; the
  float32 kernel-3 convolutions of ``conditioning_timestep_integrator`` and ``layers`` computed by Winograd F(4, 3).

Each part is prepared only on the CPU, only where this torch build computes it correctly, only for the layer shapes
where the kernel is faster than the plain torch path on this machine (measured once per machine and cached:
``calibration.py``; ``TORTOISE_CPU_KERNELS=fast|plain`` forces a side), and only when its copy (measured again
before each part) fits in half of the free memory. ``TORTOISE_NO_PACK=1`` turns it all off.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from .. import devices
from ..models.gpt import MLP
from . import prepacked, winograd
from .calibration import Calibration, Runs
from .prepacked import PackedLinear

ROWS = (1, 16)  # a linear layer is timed at a decode step of batch 1 and of batch 16
CONV_INPUTS = ((1, 128), (2, 512))  # a convolution at (batch, frames): short sentence; long one, cond-free guidance


def prepare(name: str, model: nn.Module, device: torch.device, calibration: Calibration | None = None) -> nn.Module:
    """Prepare the loaded checkpoint ``name``'s ``model`` for the CPU's kernels, in place; returns it.

    Nothing happens off the CPU or for a model that runs once per job. The state dict is unchanged. ``calibration``
    decides which kernel each layer shape gets (default: from ``TORTOISE_CPU_KERNELS`` and this machine's cache).
    """
    if device.type != "cpu":
        return model
    calibration = calibration or Calibration()
    if name == "autoregressive":
        if prepack(model, _measure(), calibration=calibration):
            fuse_mlp_gelu(model)
    elif name == "diffusion_decoder":
        if model.layer_dtype is not None:
            prepack(model.layers[1:], _measure(), calibration=calibration)  # the reduced-precision layers
        for part in (model.conditioning_timestep_integrator, model.layers):  # float32 kernel-3 convolutions
            prepack(part, _measure(), packer=winograd, calibration=calibration)
    return model


def _measure() -> devices.Capabilities:
    return devices.capabilities(torch.device("cpu"))


def prepack(
    module: nn.Module, caps: devices.Capabilities, *, packer=prepacked, calibration: Calibration | None = None
) -> int:
    """Re-lay ``module``'s weights with ``packer`` (:mod:`.prepacked` or :mod:`.winograd`); how many layers it did.

    Only on the CPU, only where ``packer.packing_works`` for the module's dtype, only the layer shapes for which
    ``calibration`` chooses the packer's kernel, and only when their copies (``packer.layer_bytes``) fit in half of
    ``caps.free_memory``. ``TORTOISE_NO_PACK=1`` (or ``TORTOISE_CPU_KERNELS=plain``) turns it off.
    """
    if caps.type != "cpu":
        return 0
    calibration = calibration or Calibration()
    if calibration.mode == "plain" or not packer.packing_works(next(module.parameters()).dtype):
        return 0
    keep = _chooser(module, packer, calibration)
    need = sum(packer.layer_bytes(layer) for _, _, layer in packer.targets(module) if keep(layer))
    if caps.free_memory is not None and need > caps.free_memory * 0.5:
        warnings.warn(
            f"not pre-packing the weights ({need / 2**30:.1f} GiB would need more than half of the free memory): "
            "generation on the CPU runs, somewhat slower",
            stacklevel=2,
        )
        return 0
    return packer.pack_layers(module, keep=keep) if need else 0


def _chooser(module: nn.Module, packer, calibration: Calibration):
    """Whether a layer of ``module`` gets ``packer``'s kernel: decided by ``calibration`` once per layer shape."""
    chosen = {}  # trial key -> whether it gets the packer's kernel
    for _, _, layer in packer.targets(module):
        key = trial_key(packer.KERNEL, layer)
        if key not in chosen:
            runs = lambda layer=layer: trial_runs(packer.KERNEL, layer, packer.wrap(layer))  # noqa: E731
            chosen[key] = calibration.choose(key, packer.KERNEL, runs).kernel == packer.KERNEL
    return lambda layer: chosen.get(trial_key(packer.KERNEL, layer), False)


def _inputs(layer: nn.Module) -> list[tuple[int, ...]]:
    if isinstance(layer, nn.Linear):
        return [(rows, layer.in_features) for rows in ROWS]
    return [(batch, layer.in_channels, frames) for batch, frames in CONV_INPUTS]


def trial_key(kernel: str, layer: nn.Module) -> str:
    """What a kernel decision holds for: the kernel, the layer's type, dtype, weight shape, geometry and the inputs
    it is timed at (e.g. ``packed Linear bfloat16 4096x1024 at 1x1024,16x1024``)."""
    w = layer.weight
    geometry = ""
    if not isinstance(layer, nn.Linear):
        geometry = f" stride {layer.stride[0]} padding {layer.padding[0]} dilation {layer.dilation[0]}"
    at = ",".join("x".join(map(str, shape)) for shape in _inputs(layer))
    dtype = str(w.dtype).removeprefix("torch.")
    return f"{kernel} {type(layer).__name__} {dtype} {'x'.join(map(str, w.shape))}{geometry} at {at}"


def trial_runs(kernel: str, plain: nn.Module, fast: nn.Module) -> list[Runs]:
    """Per representative input: the plain layer's and the fast one's (``kernel``) forward on it (inference mode;
    inputs from a private generator, so the caller's seeded RNG does not move)."""
    gen = torch.Generator().manual_seed(0)
    w = plain.weight
    inputs = [torch.randn(shape, generator=gen).to(w.dtype) for shape in _inputs(plain)]

    def call(layer: nn.Module, x: Tensor):
        def run():
            with torch.inference_mode():
                return layer(x)

        return run

    return [{"plain": call(plain, x), kernel: call(fast, x)} for x in inputs]


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
