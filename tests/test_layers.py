"""Shared layers: the relative-position bias reuses its last result only while nothing it depends on changes."""

from __future__ import annotations

import torch

from tortoise.models.layers import RelativePositionBias


def _fresh(module: RelativePositionBias, T: int) -> torch.Tensor:
    module._cached = None
    return module(T, T, torch.device("cpu"))


def test_relative_position_bias_cache_follows_length_and_weights():
    torch.manual_seed(0)
    rpb = RelativePositionBias(scale=2.0, heads=4)
    with torch.no_grad():
        first = rpb(10, 10, torch.device("cpu"))
        assert rpb(10, 10, torch.device("cpu")) is first  # reused
        assert torch.equal(first, _fresh(rpb, 10)) and first.shape == (1, 4, 10, 10) and first.dtype == torch.float32
        before = rpb(12, 12, torch.device("cpu"))  # another length: recomputed
        assert before.shape == (1, 4, 12, 12)
        new = {"relative_attention_bias.weight": torch.randn(32, 4)}
        rpb.load_state_dict(new)  # copied in place: same storage, new values
        after = rpb(12, 12, torch.device("cpu"))
    assert not torch.equal(after, before)
    assert torch.equal(after, _fresh(rpb, 12))


def test_relative_position_bias_is_not_cached_while_training():
    rpb = RelativePositionBias(scale=1.0, heads=2)
    out = rpb(6, 6, torch.device("cpu"))
    assert out.requires_grad and rpb._cached is None
    out.sum().backward()  # a second forward and backward work: no graph is kept between calls
    rpb(6, 6, torch.device("cpu")).sum().backward()
    assert rpb.relative_attention_bias.weight.grad is not None


def test_relative_position_bias_is_not_held_above_the_size_limit():
    rpb = RelativePositionBias(scale=1.0, heads=4)
    rpb.CACHE_LIMIT = 4 * 8 * 8 * 4  # bytes of one (1, 4, 8, 8) float32 bias
    with torch.no_grad():
        rpb(8, 8, torch.device("cpu"))
        assert rpb._cached is not None
        big = rpb(9, 9, torch.device("cpu"))
    assert rpb._cached is None and big.shape == (1, 4, 9, 9)
