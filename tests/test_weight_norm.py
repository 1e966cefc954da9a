"""Weight-norm folding equals PyTorch's own weight_norm, for convs and (the tricky axis) transposed convs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations
from torch.nn.utils import weight_norm as hook_weight_norm

from tortoise.errors import CheckpointError
from tortoise.models.weight_norm import fold, fold_state_dict

# the hook-based weight_norm is deprecated, but it is exactly what wrote the released checkpoints
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated:FutureWarning")


def _has_weight_norm(sd: dict) -> bool:
    """True when ``sd`` holds a magnitude of either serialised weight-norm form."""
    return any(k.rsplit(".", 1)[-1] == "weight_g" or k.endswith("parametrizations.weight.original0") for k in sd)


def _layers() -> list[nn.Module]:
    torch.manual_seed(0)
    # in != out so that folding over the wrong axis would show; for ConvTranspose1d dim 0 is the INPUT channel
    return [nn.Conv1d(6, 4, 3), nn.ConvTranspose1d(6, 4, 16, stride=8, padding=4)]


def _perturb_g(module: nn.Module, name: str) -> None:
    with torch.no_grad():
        getattr(module, name).mul_(1.5).add_(0.1)  # so that g != ||v||


@pytest.mark.parametrize("layer", _layers(), ids=["conv1d", "conv_transpose1d"])
def test_fold_matches_hook_weight_norm(layer: nn.Module) -> None:
    wn = hook_weight_norm(layer)  # dim=0, the default the checkpoints were saved with
    _perturb_g(wn, "weight_g")
    expected = torch._weight_norm(wn.weight_v, wn.weight_g, 0).detach()
    assert wn.weight_g.shape == (expected.shape[0], 1, 1)
    sd = fold_state_dict(wn.state_dict())
    assert set(sd) == {"weight", "bias"}
    torch.testing.assert_close(sd["weight"], expected, atol=0, rtol=1e-6)
    # the folded weight reproduces the weight-norm module's output
    x = torch.randn(2, 6, 20)
    plain = type(layer)(**_conv_kwargs(layer))
    plain.load_state_dict(sd)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), wn(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("layer", _layers(), ids=["conv1d", "conv_transpose1d"])
def test_fold_matches_parametrization_weight_norm(layer: nn.Module) -> None:
    wn = parametrizations.weight_norm(layer)
    _perturb_g(wn.parametrizations.weight, "original0")
    sd = wn.state_dict()
    assert "parametrizations.weight.original0" in sd and _has_weight_norm(sd)
    folded = fold_state_dict(sd)
    assert set(folded) == {"weight", "bias"}
    torch.testing.assert_close(folded["weight"], wn.weight.detach(), atol=0, rtol=1e-6)


def _conv_kwargs(layer: nn.Module) -> dict:
    names = ("in_channels", "out_channels", "kernel_size", "stride", "padding")
    return {name: getattr(layer, name) for name in names}


def test_prefixed_keys_fold() -> None:
    wn = hook_weight_norm(nn.Conv1d(3, 2, 1))
    sd = fold_state_dict({f"blocks.0.{k}": v for k, v in wn.state_dict().items()})
    assert set(sd) == {"blocks.0.weight", "blocks.0.bias"}


def test_folded_state_dict_passes_through() -> None:
    sd = {"a.weight": torch.ones(2, 3, 1), "a.bias": torch.zeros(2), "norm.weight": torch.ones(2)}
    out = fold_state_dict(sd)
    assert out.keys() == sd.keys() and all(out[k] is sd[k] for k in sd)
    assert not _has_weight_norm(sd)


def test_fold_keeps_dtype_and_works_on_meta() -> None:
    g, v = torch.rand(4, 1, 1, dtype=torch.float16), torch.randn(4, 3, 5, dtype=torch.float16)
    assert fold(g, v).dtype == torch.float16
    m = fold(torch.empty(4, 1, 1, device="meta"), torch.empty(4, 3, 5, device="meta"))
    assert m.shape == (4, 3, 5) and m.is_meta


G, V = torch.ones(2, 1, 1), torch.ones(2, 3, 1)


@pytest.mark.parametrize(
    "sd, match",
    [
        ({"a.weight_g": G}, "no matching"),
        ({"a.weight_v": V}, "no matching magnitude"),
        ({"a.weight_g": G, "a.weight_v": V, "a.weight": V}, "both"),
        ({"a.weight_g": torch.ones(3, 1, 1), "a.weight_v": V}, "does not fit"),
    ],
)
def test_malformed_pairs_raise(sd: dict[str, torch.Tensor], match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        fold_state_dict(sd)
