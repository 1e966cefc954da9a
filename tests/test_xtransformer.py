"""Properties of the CLVP/CVVP encoder that the golden fixtures do not pin down."""

from __future__ import annotations

import pytest
import torch

from tortoise.models.clvp import CLVP, CLVPConfig, masked_mean
from tortoise.models.xtransformer import (
    RMSNorm,
    RotaryEmbedding,
    XTransformerConfig,
    XTransformerEncoder,
    apply_rotary,
)


def _randomise(model: torch.nn.Module, g: torch.Generator) -> torch.nn.Module:
    """Random values everywhere (gains and biases too) so every parameter matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            offset = 1.0 if name.endswith(".g") else 0.0
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.ndim > 1 else 0.2) + offset)
    return model.eval()


@pytest.fixture
def encoder(rng: torch.Generator) -> XTransformerEncoder:
    return _randomise(XTransformerEncoder(XTransformerConfig(dim=32, depth=2, n_head=2, ff_mult=2)), rng)


def test_padding_does_not_change_masked_mean(encoder: XTransformerEncoder, rng: torch.Generator) -> None:
    T, pad = 7, 5
    x = torch.randn(1, T, 32, generator=rng)
    ref = encoder(x).mean(dim=1)  # (1, C), no padding at all
    junk = torch.randn(1, pad, 32, generator=rng) * 10
    xp = torch.cat([x, junk], dim=1)  # (1, T + pad, C)
    mask = torch.arange(T + pad)[None, :] < T
    out = masked_mean(encoder(xp, mask), mask)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # without the mask the junk does leak in (the test would be vacuous otherwise)
    assert not torch.allclose(encoder(xp).mean(dim=1), ref, atol=1e-3)


def test_ragged_batch_matches_per_row(rng: torch.Generator) -> None:
    """CLVP speech latents of a right-padded batch equal each row scored alone."""
    model = _randomise(CLVP(CLVPConfig(32, 32, 16, 20, 50, 1, 2, 2, 2)), rng)
    lengths = [9, 4, 6]
    rows = [torch.randint(0, 50, (n,), generator=rng) for n in lengths]
    S = max(lengths)
    codes = torch.stack([torch.cat([r, torch.full((S - len(r),), 7)]) for r in rows])  # (B, S)
    mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    batched = model.embed_speech(codes, mask)
    single = torch.cat([model.embed_speech(r[None]) for r in rows])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_rotary_scores_depend_only_on_relative_position(rng: torch.Generator) -> None:
    T, d = 12, 64
    cos, sin = RotaryEmbedding(32)(T, torch.device("cpu"))
    q = torch.randn(d, generator=rng).expand(1, 1, T, d)
    k = torch.randn(d, generator=rng).expand(1, 1, T, d)
    s = (apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).transpose(-1, -2))[0, 0]  # (T, T)
    for offset in range(-T + 1, T):
        diag = torch.diagonal(s, offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), atol=1e-4, rtol=1e-5)
    assert s.diagonal(0)[0] != pytest.approx(float(s.diagonal(1)[0]))  # positions do matter


def test_rotary_touches_only_first_32_channels_and_keeps_norm(rng: torch.Generator) -> None:
    T = 5
    cos, sin = RotaryEmbedding(32)(T, torch.device("cpu"))
    x = torch.randn(2, 3, T, 64, generator=rng)
    y = apply_rotary(x, cos, sin)
    assert torch.equal(y[..., 32:], x[..., 32:])
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])  # position 0 is the identity rotation
    torch.testing.assert_close(y[..., :32].norm(dim=-1), x[..., :32].norm(dim=-1))
    assert not torch.allclose(y[..., 1, :32], x[..., 1, :32])


def test_rotary_buffer_is_persistent_with_reference_values() -> None:
    enc = XTransformerEncoder(XTransformerConfig(dim=32, depth=1, n_head=1))
    inv = enc.state_dict()["attn_layers.rotary_pos_emb.inv_freq"]
    assert inv.shape == (16,)
    torch.testing.assert_close(inv, 1.0 / 10000 ** (torch.arange(0, 32, 2).float() / 32))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_rmsnorm_reduced_precision(dtype: torch.dtype, rng: torch.Generator) -> None:
    norm = RMSNorm(64)
    with torch.no_grad():
        norm.g.copy_(1 + 0.1 * torch.randn(64, generator=rng))
    x = torch.randn(3, 5, 64, generator=rng) * 400  # squares overflow fp16 if summed in fp16
    xl = x.to(dtype)
    y = norm(xl)
    assert y.dtype == dtype and torch.isfinite(y).all()
    ref = norm(xl.float())
    torch.testing.assert_close(y.float(), ref, atol=2e-2, rtol=1e-2)
    # RMS of the normalised output (before the gain) is 1
    torch.testing.assert_close((ref / norm.g).pow(2).mean(-1).sqrt(), torch.ones(3, 5), atol=1e-4, rtol=1e-4)


def test_encoder_bf16_close_to_fp32_with_mask(encoder: XTransformerEncoder, rng: torch.Generator) -> None:
    x = torch.randn(2, 9, 32, generator=rng)
    mask = torch.tensor([[True] * 9, [True] * 6 + [False] * 3])
    ref = masked_mean(encoder(x, mask), mask)
    h = encoder.to(torch.bfloat16)(x.to(torch.bfloat16), mask)
    assert h.dtype == torch.bfloat16
    low = masked_mean(h, mask)  # accumulates in fp32
    torch.testing.assert_close(low.float(), ref, atol=0.1, rtol=0.05)


def test_wrapped_flag_only_changes_key_names() -> None:
    plain = XTransformerEncoder(XTransformerConfig(dim=32, depth=1, n_head=1, wrapped=False)).state_dict()
    wrapped = XTransformerEncoder(XTransformerConfig(dim=32, depth=1, n_head=1, wrapped=True)).state_dict()
    assert "attn_layers.layers.0.1.to_q.weight" in plain
    assert "attn_layers.layers.0.1.wrap.to_q.weight" in wrapped
    assert {k.replace(".wrap.", "."): v.shape for k, v in wrapped.items()} == {k: v.shape for k, v in plain.items()}


def test_cvvp_runs_in_bf16(rng: torch.Generator) -> None:
    """Reduced precision end to end (fp32 mel input is cast by the model), close to the fp32 scores."""
    from tortoise.models.cvvp import CVVP, CVVPConfig

    model = _randomise(CVVP(CVVPConfig(dim=32, n_head=2, n_cond_layer=1, n_speech_layer=1, n_speech_tokens=40)), rng)
    mel = torch.randn(1, 80, 24, generator=rng)
    codes = torch.randint(0, 40, (3, 10), generator=rng)
    ref = model.score(mel, codes)
    low = model.to(torch.bfloat16).score(mel, codes)
    assert low.dtype == torch.float32 and low.shape == (3,)
    torch.testing.assert_close(low, ref, atol=0.15, rtol=0.05)
