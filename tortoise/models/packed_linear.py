"""Linear layers with CPU-prepacked weights, for the autoregressive decode loop on CPU (inference only).

A plain ``F.linear`` on the CPU hands MKL/oneDNN a row-major weight, which the GEMM re-packs into its blocked layout
on every call: at a decode step (a few rows against the whole weight matrix) that packing is a large part of the
step. oneDNN can pack a weight once (``torch.ops.mkldnn._reorder_linear_weight``, the op Inductor's CPU "freezing"
uses) and then multiply any number of rows against it (``_linear_pointwise``); on AMX/AVX512-BF16 CPUs the bf16
product uses those units. Measured on a 2-core Sapphire Rapids (1024x4096 weights): fp32 16 rows 1.98 -> 1.14 ms,
bf16 1 row 0.58 -> 0.36 ms, bf16 16 rows 0.68 -> 0.41 ms. For one fp32 row the plain GEMV is faster (no packing
happens there), so that case keeps ``F.linear``.

:class:`PackedLinear` keeps the original ``weight``/``bias`` parameters (same objects, so ``state_dict`` is
unchanged) plus the packed copy, which is not a buffer: it is never saved and never moved. Inputs that are not on the
CPU, or of another dtype, take the plain path.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

_DTYPES = (torch.float32, torch.bfloat16)


def _pack(weight: Tensor, rows_hint: int) -> Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows_hint)


def _packed_linear(x: Tensor, packed: Tensor, bias: Tensor | None) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


class PackedLinear(nn.Module):
    """An ``nn.Linear`` (same parameters) whose CPU forward multiplies against a oneDNN-packed weight."""

    def __init__(self, linear: nn.Linear, rows_hint: int):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self._rows_hint = rows_hint
        self._packed = _pack(self.weight, rows_hint)  # plain attribute: not in state_dict, not moved by .to()

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        with torch.no_grad():
            self._packed = _pack(self.weight, self._rows_hint)  # new weights: the packed copy must follow

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        plain = x.device.type != "cpu" or x.dtype != w.dtype or w.device.type != "cpu"
        if plain or (w.dtype == torch.float32 and x.numel() == x.shape[-1]):  # one fp32 row: the GEMV is faster
            return F.linear(x, w, self.bias)
        return _packed_linear(x, self._packed, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def packing_works(dtype: torch.dtype) -> bool:
    """Whether this torch build packs and multiplies ``dtype`` weights correctly (tried on a small layer)."""
    if dtype not in _DTYPES or not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's seeded RNG must not move
            gen = torch.Generator().manual_seed(0)
            layer = nn.Linear(64, 48).to(dtype)
            layer.weight.copy_(torch.randn(48, 64, generator=gen))
            x = torch.randn(3, 5, 64, generator=gen).to(dtype)
            got = PackedLinear(layer, 4)(x)
            want = F.linear(x.float(), layer.weight.float(), layer.bias.float())
        tol = 1e-3 if dtype == torch.float32 else 0.15
        return got.shape == want.shape and bool(torch.allclose(got.float(), want, atol=tol, rtol=0.02))
    except Exception as e:  # op missing in this build, or not supported on this CPU
        log.debug("oneDNN weight packing unavailable for %s: %s", dtype, e)
        return False


def pack_linears(module: nn.Module, rows_hint: int = 16) -> int:
    """Replace every ``nn.Linear`` in ``module`` (on the CPU, fp32/bf16) by a :class:`PackedLinear`; return how many.

    ``rows_hint``: the number of rows the layers will mostly see (the decode batch); any count works.
    """
    targets = [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear and child.weight.device.type == "cpu" and child.weight.dtype in _DTYPES
    ]
    with torch.no_grad():
        for parent, name, child in targets:
            setattr(parent, name, PackedLinear(child, rows_hint))
    return len(targets)


def packed_bytes(module: nn.Module) -> int:
    """Bytes the packed copies of ``module``'s ``nn.Linear`` weights would take (the same as the weights)."""
    return sum(
        m.weight.numel() * m.weight.element_size()
        for m in module.modules()
        if type(m) is nn.Linear and m.weight.dtype in _DTYPES
    )
