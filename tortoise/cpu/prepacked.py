"""Linear and Conv1d layers with CPU-prepacked weights (inference only).

A plain ``F.linear`` / ``F.conv1d`` on the CPU hands oneDNN/MKL a plain weight, which is re-ordered into the
kernel's blocked layout on every call: at an AR decode step (a few rows against every weight) or a diffusion step at
short lengths, that re-ordering is a large part of the time. oneDNN can pack a weight once (the ops Inductor's CPU
"freezing" uses: ``mkldnn._reorder_linear_weight`` / ``mkldnn_reorder_conv2d_weight``) and then run against it any
number of times; on AMX/AVX512-BF16 CPUs the bf16 products use those units. Measured on a 2-core AMX Xeon:

- linear 1024x4096: fp32 16 rows 1.98 -> 1.14 ms, bf16 1 row 0.58 -> 0.36 ms, bf16 16 rows 0.68 -> 0.41 ms
  (one fp32 row keeps ``F.linear``: the GEMV does no packing and is faster);
- conv1d 1024 channels, 139 frames, bf16 (autocast): kernel 3 1.24 -> 0.62 ms, 1x1 to 3072 channels 1.76 -> 0.76 ms.

The packed modules keep the original ``weight``/``bias`` parameters (same objects: ``state_dict`` is unchanged) plus
the packed copy, a plain attribute that is never saved or moved. If the weight is replaced or cast (``.to()``,
``load_state_dict``), the copy is rebuilt at the next call. Inputs that are not on the CPU take the plain path.
"""

from __future__ import annotations

import functools
import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

_DTYPES = (torch.float32, torch.bfloat16)


class PackedWeightModule(nn.Module):
    """A layer that computes with a copy of its weight in another form (``_pack``), made once and remade when the
    weight changes: the bookkeeping of which weight the copy was made from. Also the base of ``winograd``."""

    def _pack(self) -> Tensor:
        raise NotImplementedError

    def _packed_weight(self) -> Tensor | None:
        """The packed copy of the current weight (rebuilt if the weight changed); None when it cannot be packed."""
        w = self.weight
        if w.device.type != "cpu" or w.dtype not in _DTYPES:
            return None
        key = (w.data_ptr(), w.dtype, w._version if not w.is_inference() else 0)
        if self._key != key:
            with torch.no_grad():
                self._packed = self._pack()
            # holding the source keeps its address from being reused by a later weight while we compare keys
            self._key, self._source = key, w.detach()
        return self._packed

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._key = None  # values copied in place keep the storage: repack at the next call
        super()._load_from_state_dict(*args, **kwargs)


class PackedLinear(PackedWeightModule):
    """An ``nn.Linear`` (same parameters) whose CPU forward multiplies against a oneDNN-packed weight."""

    def __init__(self, linear: nn.Linear, rows_hint: int = 16):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self._rows_hint, self._key, self._packed, self._source = rows_hint, None, None, None
        self._packed_weight()

    def _pack(self) -> Tensor:
        return torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), self._rows_hint)

    def _packed_for(self, x: Tensor) -> Tensor | None:
        """The packed weight to use for ``x``, or None for the plain path."""
        w = self.weight
        one_fp32_row = w.dtype == torch.float32 and x.numel() == x.shape[-1]  # the plain GEMV is faster
        return None if x.device.type != "cpu" or x.dtype != w.dtype or one_fp32_row else self._packed_weight()

    def forward(self, x: Tensor) -> Tensor:
        packed = self._packed_for(x)
        if packed is None:
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, "none", [], "")

    def forward_gelu_tanh(self, x: Tensor) -> Tensor:
        """``gelu(self(x), approximate="tanh")``, fused into the packed product where it runs (applied before the
        result is rounded to the layer's dtype: one rounding instead of two in bf16)."""
        packed = self._packed_for(x)
        if packed is None or not fused_gelu_works(x.dtype):
            return F.gelu(self(x), approximate="tanh")
        return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, "gelu", [], "tanh")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


class PackedConv1d(PackedWeightModule):
    """An ``nn.Conv1d`` (same parameters; stride, padding, dilation as given, no groups) on a oneDNN-packed weight.

    A float32 input to a bf16 layer is cast to bf16 first, as autocast does for a convolution (these layers run under
    autocast in the diffusion decoder's reduced-precision mode).
    """

    def __init__(self, conv: nn.Conv1d, frames_hint: int = 256):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = conv.in_channels, conv.out_channels, conv.kernel_size
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.weight, self.bias = conv.weight, conv.bias
        self._frames_hint, self._key, self._packed, self._source = frames_hint, None, None, None
        self._packed_weight()

    def _geometry(self) -> tuple[list[int], list[int], list[int]]:
        return [0, self.padding[0]], [1, self.stride[0]], [1, self.dilation[0]]

    def _pack(self) -> Tensor:
        padding, stride, dilation = self._geometry()
        w = self.weight.detach().unsqueeze(2).to_mkldnn()  # (out, in, 1, k): a 2-D convolution of height 1
        shape = [1, self.in_channels, 1, self._frames_hint]
        return torch._C._nn.mkldnn_reorder_conv2d_weight(w, padding, stride, dilation, 1, shape)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        if x.dtype == torch.float32 and w.dtype == torch.bfloat16:
            x = x.to(w.dtype)
        packed = None if x.device.type != "cpu" or x.dtype != w.dtype else self._packed_weight()
        if packed is None:
            return F.conv1d(x, w, self.bias, self.stride, self.padding, self.dilation)
        padding, stride, dilation = self._geometry()
        y = torch.ops.mkldnn._convolution_pointwise(
            x.unsqueeze(2), packed, self.bias, padding, stride, dilation, 1, "none", [], ""
        )
        return y.squeeze(2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, packed"


def _packable(layer: nn.Module) -> bool:
    if type(layer) is nn.Linear:
        return True
    return (
        type(layer) is nn.Conv1d
        and layer.groups == 1
        and isinstance(layer.padding, tuple)  # not "same"/"valid" strings
        and layer.padding_mode == "zeros"
    )


# ---- the packer interface of policy.prepack -------------------------------------------------------------------------
KERNEL = "packed"


def targets(module: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, name, layer) for every plain ``nn.Linear`` / ``nn.Conv1d`` of ``module`` with fp32/bf16 CPU weights."""
    return [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if _packable(child) and child.weight.device.type == "cpu" and child.weight.dtype in _DTYPES
    ]


def wrap(layer: nn.Module) -> PackedLinear | PackedConv1d:
    """``layer``'s packed form (the same parameters)."""
    return PackedLinear(layer) if isinstance(layer, nn.Linear) else PackedConv1d(layer)


def pack_layers(module: nn.Module, keep=None) -> int:
    """Replace every target layer of ``module`` (those ``keep(layer)`` accepts, if given) by its packed form; return
    how many were replaced."""
    chosen = [t for t in targets(module) if keep is None or keep(t[2])]
    for parent, name, child in chosen:
        setattr(parent, name, wrap(child))
    return len(chosen)


def layer_bytes(layer: nn.Module) -> int:
    """Bytes of ``layer``'s packed copy (about the weight's own size)."""
    return layer.weight.numel() * layer.weight.element_size()


def packed_bytes(module: nn.Module) -> int:
    """Bytes the packed copies of ``module``'s packable weights would take (about the weights' own size)."""
    return sum(layer_bytes(m) for m in module.modules() if _packable(m))


@functools.cache
def packing_works(dtype: torch.dtype) -> bool:
    """Whether this torch build packs ``dtype`` weights and computes correctly with them (tried once per dtype on
    small layers)."""
    if dtype not in _DTYPES or not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's seeded RNG must not move
            gen = torch.Generator().manual_seed(0)
            linear, conv = nn.Linear(64, 48).to(dtype), nn.Conv1d(64, 48, 3, padding=1).to(dtype)
            x = torch.randn(3, 64, 20, generator=gen).to(dtype)
            got = (PackedLinear(linear, 4)(x.transpose(1, 2)), PackedConv1d(conv, 20)(x))
            want = (
                F.linear(x.transpose(1, 2).float(), linear.weight.float(), linear.bias.float()),
                F.conv1d(x.float(), conv.weight.float(), conv.bias.float(), padding=1),
            )
        tol = 1e-3 if dtype == torch.float32 else 0.1
        return all(g.shape == w.shape and torch.allclose(g.float(), w, atol=tol, rtol=0.02) for g, w in zip(got, want))
    except Exception as e:  # op missing in this build, or not supported on this CPU
        log.debug("oneDNN weight packing unavailable for %s: %s", dtype, e)
        return False


@functools.cache
def fused_gelu_works(dtype: torch.dtype) -> bool:
    """Whether this build's packed product takes the tanh-GELU post-op (checked once per dtype, else unfused)."""
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            layer = PackedLinear(nn.Linear(64, 48).to(dtype), 4)
            x = torch.randn(5, 64).to(dtype)
            packed = layer._packed_weight()
            got = torch.ops.mkldnn._linear_pointwise(x, packed, layer.bias, "gelu", [], "tanh")
            want = F.gelu(F.linear(x.float(), layer.weight.float(), layer.bias.float()), approximate="tanh")
        return bool(torch.allclose(got.float(), want, atol=1e-3 if dtype == torch.float32 else 0.1, rtol=0.02))
    except Exception as e:
        log.debug("fused GELU unavailable for %s: %s", dtype, e)
        return False
