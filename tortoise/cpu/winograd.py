"""Kernel-3 convolutions by Winograd's minimal filtering F(4, 3) (float32, CPU, inference only).

The diffusion decoder's residual blocks end in a 1024 -> 1024 channel, kernel-3 convolution; in float32 on a CPU these
are a third of every diffusion step, computed directly by oneDNN. F(4, 3) (Lavin & Gray 2016, "Fast Algorithms for
Convolutional Neural Networks") makes 4 output frames from 6 input frames with 6 multiply-adds per weight instead of
12: the weight is transformed once into 6 matrices ``U = G g``, each block of 6 input frames into ``V = B^T d``, and
the 6 products ``U_i V_i`` are one batched matrix product of the whole sequence; ``A^T`` turns them back into 4
frames. Two passes of cheap element-wise work wrap it.

Measured on a 2-core AMX Xeon, 1024 channels: 139 frames 3.4 -> 2.4 ms, 278 frames 6.1-7.5 -> 4.1 ms,
1000 frames 20.0 -> 13.7 ms. The result differs from the direct convolution by ~2e-6 of its largest value (float32
rounding of the transforms); in bf16 or fp16 the transforms would lose too much, so those keep the direct kernel.

Like :mod:`.prepacked`: the layer keeps the original ``weight``/``bias`` (``state_dict`` unchanged) plus the
transformed copy (twice the weight's size), rebuilt when the weight is replaced, cast or reloaded; anything but a
float32 input on the CPU takes the plain ``F.conv1d``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .prepacked import PackedWeightModule

M, R = 4, 3  # output frames per tile, kernel size
A = M + R - 1  # input frames per tile (6)


@functools.cache
def _transforms() -> tuple[Tensor, Tensor, Tensor]:
    """``B^T`` (6x6), ``G`` (6x3), ``A^T`` (4x6) for interpolation points 0, 1, -1, 2, -2, infinity."""
    bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
          [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]  # fmt: skip
    g = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]  # fmt: skip
    at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    return tuple(torch.tensor(t, dtype=torch.float32) for t in (bt, g, at))


def transform_weight(weight: Tensor) -> Tensor:
    """(out, in, 3) kernel -> (6, out, in) float32 matrices ``U_i = G g``, the rows of ``G`` written out."""
    g0, g1, g2 = weight.detach().float().permute(2, 0, 1).contiguous()  # the three taps, each (out, in)
    u = torch.empty((A, *g0.shape), dtype=torch.float32, device=weight.device)
    outer = g0 + g2
    torch.div(g0, 4, out=u[0])
    torch.div(outer + g1, -6, out=u[1])
    torch.div(outer - g1, -6, out=u[2])
    quarter = g0 / 24 + g2 / 6
    torch.add(quarter, g1, alpha=1 / 12, out=u[3])
    torch.add(quarter, g1, alpha=-1 / 12, out=u[4])
    u[5] = g2
    return u


def conv1d_f43(x: Tensor, u: Tensor, bias: Tensor | None) -> Tensor:
    """``F.conv1d(x, weight, bias, padding=1)`` for x (B, in, L) float32, with ``u = transform_weight(weight)``."""
    bt, _, at = (t.to(x.device) for t in _transforms())
    B, C, L = x.shape
    T = -(-L // M)  # tiles per row
    xp = F.pad(x, (1, M * T - L + 1)).transpose(0, 1)  # (in, B, 4T + 2): the zero padding of the convolution
    d = torch.stack([xp[:, :, i : i + M * T : M] for i in range(A)])  # (6, in, B, T): frame i of every tile
    v = torch.mm(bt, d.view(A, -1)).view(A, C, B * T)
    m = torch.bmm(u, v)  # (6, out, B*T): the whole sequence in one batched product
    y = torch.mm(at, m.view(A, -1)).view(M, -1, B, T)  # (4, out, B, T)
    if bias is not None:
        y += bias.view(1, -1, 1, 1)
    y = y.permute(2, 1, 3, 0).reshape(B, -1, M * T)  # (B, out, T, 4) -> frames in order
    return y if M * T == L else y[:, :, :L]


class WinogradConv1d(PackedWeightModule):
    """An ``nn.Conv1d(in, out, 3, padding=1)`` (same parameters) computed by F(4, 3) for float32 CPU inputs."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"not a kernel-3, stride-1, padding-1 convolution without groups: {conv}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.weight, self.bias = conv.weight, conv.bias
        self._key, self._packed, self._source = None, None, None
        if self.weight.dtype == torch.float32:
            self._packed_weight()  # now, at load time, not in the first job

    def _pack(self) -> Tensor:
        return transform_weight(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        if x.device.type == "cpu" and x.dtype == w.dtype == torch.float32 and x.dim() == 3:
            return conv1d_f43(x, self._packed_weight(), self.bias)
        return F.conv1d(x, w, self.bias, padding=1)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=(3,), padding=(1,), winograd F(4,3)"


def eligible(layer: nn.Module, min_channels: int = 1) -> bool:
    return (
        type(layer) is nn.Conv1d
        and layer.kernel_size == (R,)
        and layer.stride == (1,)
        and layer.padding == (1,)
        and layer.dilation == (1,)
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and min(layer.in_channels, layer.out_channels) >= min_channels
    )


# ---- the packer interface of policy.prepack -------------------------------------------------------------------------
KERNEL = "winograd"
MIN_CHANNELS = 256  # narrower convolutions gain too little for the copy


def targets(module: nn.Module) -> list[tuple[nn.Module, str, nn.Conv1d]]:
    """(parent, name, layer) for every eligible float32 CPU convolution of ``module``."""
    return [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if eligible(child, MIN_CHANNELS) and child.weight.device.type == "cpu" and child.weight.dtype == torch.float32
    ]


def wrap(layer: nn.Conv1d) -> WinogradConv1d:
    return WinogradConv1d(layer)


def layer_bytes(layer: nn.Conv1d) -> int:
    """Bytes of the transformed copy (6/3 of the weight)."""
    return A * layer.weight[:, :, 0].numel() * 4


def packed_bytes(module: nn.Module) -> int:
    """Bytes of the transformed copies of ``module``'s eligible convolutions."""
    return sum(layer_bytes(c) for _, _, c in targets(module))


def packing_works(dtype: torch.dtype) -> bool:
    """Float32 only (plain torch operations, no build-specific kernel)."""
    return dtype == torch.float32


def pack_layers(module: nn.Module, keep=None) -> int:
    """Replace every eligible float32 CPU convolution of ``module`` (those ``keep(layer)`` accepts, if given) by its
    Winograd form; return how many."""
    chosen = [t for t in targets(module) if keep is None or keep(t[2])]
    for parent, name, child in chosen:
        setattr(parent, name, WinogradConv1d(child))
    return len(chosen)
