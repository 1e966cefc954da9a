"""Folding weight-normalised checkpoints into plain weights.

The released vocoders (UnivNet, BigVGAN, the HiFi-GAN decoder) store every normalised conv as ``weight_g``
(magnitude) and ``weight_v`` (direction), the layout of the hook-based ``torch.nn.utils.weight_norm``. Newer
PyTorch saves the same pair as ``parametrizations.weight.original0`` / ``original1``. At inference the weight is
constant, so our modules hold one plain ``weight`` and this module folds either form while loading:

    weight = g * v / ||v||,   the norm taken over every dim except dim 0 (``dim=0``, the default).

Dim 0 is the OUTPUT channel of a ``Conv1d`` (weight ``(out, in, k)``) but the INPUT channel of a
``ConvTranspose1d`` (weight ``(in, out, k)``); the formula is the same, and ``g``'s shape ``(dim0, 1, 1)`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..errors import CheckpointError

# (magnitude, direction) names of the two serialised weight-norm forms, relative to the layer
_PAIRS = (
    ("weight_g", "weight_v"),
    ("parametrizations.weight.original0", "parametrizations.weight.original1"),
)


def _prefix(key: str, name: str) -> str | None:
    """The layer prefix ('' or 'a.b.') when ``key`` is ``<prefix><name>``, else None."""
    if key == name or key.endswith("." + name):
        return key[: len(key) - len(name)]
    return None


def fold(g: Tensor, v: Tensor) -> Tensor:
    """``g * v / ||v||`` with the norm over all dims except 0 (PyTorch's ``dim=0`` weight norm); computed in fp32."""
    if g.shape[0] != v.shape[0] or g.numel() != v.shape[0]:
        raise CheckpointError(f"weight norm: magnitude {tuple(g.shape)} does not fit direction {tuple(v.shape)}")
    v32 = v.float()
    norm = v32.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))  # (dim0, 1, ..., 1)
    return (v32 * (g.float().view_as(norm) / norm)).to(v.dtype)


def fold_state_dict(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace every weight-norm pair (either serialised form) by its folded ``<prefix>weight``.

    Keys that are not part of a pair pass through unchanged, so an already-folded state dict is returned as is.

    Raises
    ------
    CheckpointError if a magnitude has no direction (or the reverse), or a folded key would clash.
    """
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        for g_name, v_name in _PAIRS:
            v_prefix = _prefix(key, v_name)
            if v_prefix is not None:
                if v_prefix + g_name not in sd:
                    raise CheckpointError(f"weight norm: direction {key} has no matching magnitude")
                break  # folded together with its magnitude
            prefix = _prefix(key, g_name)
            if prefix is not None:
                v = sd.get(prefix + v_name)
                if v is None:
                    raise CheckpointError(f"weight norm: {key} has no matching {prefix + v_name}")
                if prefix + "weight" in sd:
                    raise CheckpointError(f"weight norm: {prefix}weight is stored both folded and as g/v")
                out[prefix + "weight"] = fold(value, v)
                break
        else:
            out[key] = value
    return out
