"""CPU-prepacked linear and conv1d layers: same results, same state dict, and the policy that decides to pack."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.test_gpt import TINY
from tortoise import devices
from tortoise.cpu import policy, prepacked
from tortoise.cpu.prepacked import PackedConv1d, PackedLinear, pack_layers, packed_bytes, packing_works
from tortoise.models.gpt import UnifiedVoice
from tortoise.sampling import SamplingParams, generate

needs_packing = pytest.mark.skipif(not packing_works(torch.float32), reason="this torch build has no oneDNN packing")
CPU = devices.Capabilities("cpu", "test CPU", total_memory=16 << 30, free_memory=8 << 30)


@pytest.fixture(autouse=True)
def _kernels_forced_on(monkeypatch):
    """These tests check where the kernels go and what they compute: forced on, whatever this CPU would measure."""
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", "fast")


def _layer(dtype: torch.dtype, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(96, 80).to(dtype)


@needs_packing
@pytest.mark.parametrize("shape", [(1, 96), (16, 96), (4, 7, 96), (1, 1, 96)])
def test_fp32_packed_linear_equals_linear(shape):
    layer = _layer(torch.float32)
    x = torch.randn(shape)
    with torch.no_grad():
        want = layer(x)
        got = PackedLinear(layer, 16)(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@needs_packing
@pytest.mark.parametrize("rows", [1, 16])
def test_bf16_packed_linear_is_within_bf16_rounding(rows):
    if not packing_works(torch.bfloat16):
        pytest.skip("no bf16 packing in this build")
    layer = _layer(torch.bfloat16)
    x = torch.randn(rows, 96).bfloat16()
    with torch.no_grad():
        exact = F.linear(x.double(), layer.weight.double(), layer.bias.double())
        plain = layer(x).double()
        got = PackedLinear(layer, 16)(x).double()
    # Both round the fp32-accumulated result to bf16 once: the packed error is of the plain layer's size.
    assert (got - exact).abs().max() <= 2 * (plain - exact).abs().max() + 1e-2


@needs_packing
def test_packing_keeps_the_state_dict_and_follows_a_later_load():
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert pack_layers(model) == 2
    assert all(isinstance(m, PackedLinear) for m in (model[0], model[2]))
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    # Loading new weights repacks: the packed product uses the new weights, not stale ones.
    new = {k: torch.randn_like(v) for k, v in before.items()}
    model.load_state_dict(new, strict=True)
    x = torch.randn(5, 8)
    with torch.no_grad():
        want = F.linear(F.gelu(F.linear(x, new["0.weight"], new["0.bias"])), new["2.weight"], new["2.bias"])
        torch.testing.assert_close(model(x), want, atol=1e-5, rtol=1e-5)


def tiny_ar_case():
    """A tiny random AR model, a voice latent and text, and greedy decoding settings: (model, cond, text, kwargs)."""
    torch.manual_seed(0)
    model = UnifiedVoice(TINY).eval()
    g = torch.Generator().manual_seed(4)
    cond = torch.randn(1, TINY.model_dim, generator=g)
    text = torch.randint(1, TINY.number_text_tokens, (1, 5), generator=g)
    kwargs = dict(
        num_samples=4, max_tokens=40, generator=None, sampling=SamplingParams(greedy=True, repetition_penalty=1.5)
    )
    return model, cond, text, kwargs


@needs_packing
def test_packed_autoregressive_model_generates_the_same_codes():
    model, cond, text, kwargs = tiny_ar_case()
    plain = generate(model, cond, text, **kwargs)
    layers = sum(type(m) in (nn.Linear, nn.Conv1d) for m in model.modules())  # GPT-2 blocks, heads, encoder convs
    assert pack_layers(model) == layers
    assert torch.equal(generate(model, cond, text, **kwargs), plain)


def test_non_cpu_inputs_take_the_plain_path():
    layer = _layer(torch.float32)
    packed = PackedLinear(layer, 16).to("meta")  # as a model moved off the CPU: the packed copy stays behind
    packed._packed = None  # so any use of it would fail
    assert packed(torch.randn(3, 96, device="meta")).shape == (3, 80)


@needs_packing
@pytest.mark.parametrize("kernel, stride, padding", [(1, 1, 0), (3, 1, 1), (3, 2, 1)])
def test_fp32_packed_conv1d_equals_conv1d(kernel, stride, padding):
    torch.manual_seed(0)
    conv = nn.Conv1d(24, 40, kernel, stride=stride, padding=padding)
    x = torch.randn(2, 24, 37)
    with torch.no_grad():
        torch.testing.assert_close(PackedConv1d(conv)(x), conv(x), atol=1e-5, rtol=1e-5)


@needs_packing
def test_bf16_packed_conv1d_under_autocast_matches_autocast_and_follows_dtype_changes():
    if not packing_works(torch.bfloat16):
        pytest.skip("no bf16 packing in this build")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(32, 48, 3, padding=1), nn.SiLU(), nn.Conv1d(48, 16, 1)).bfloat16()
    plain = nn.Sequential(*(m for m in model))  # the same parameters, unpacked
    x = torch.randn(2, 32, 50)  # float32, as the diffusion decoder's residual stream
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        want = nn.Sequential(*plain)(x).float()
        packed = nn.Sequential(PackedConv1d(model[0]), model[1], PackedConv1d(model[2]))
        got = packed(x).float()
    assert got.dtype == want.dtype and (got - want).abs().max() <= 0.05 * want.abs().max()
    with torch.no_grad():  # cast to float32 and back: each call must use the current weights, not a stale copy
        for dtype in (torch.float32, torch.bfloat16, torch.float32):
            packed.to(dtype)
            y = x.to(dtype)
            ref = F.conv1d(
                F.silu(F.conv1d(y, packed[0].weight, packed[0].bias, padding=1)), packed[2].weight, packed[2].bias
            )
            tol = 1e-5 if dtype == torch.float32 else 0.05 * ref.abs().max().item()
            torch.testing.assert_close(packed(y), ref, atol=tol, rtol=0.02)


# ---- policy (cpu.policy.prepack) ---------------------------------------------------------------------------
def _fake_packer(works: bool = True):
    """The packer interface of ``policy.prepack`` over the real layer targets, recording what it is asked to pack."""
    calls = []

    def pack_layers(model, keep=None):
        calls.append(model)
        return len([t for t in prepacked.targets(model) if keep is None or keep(t[2])])

    return types.SimpleNamespace(
        KERNEL="packed",
        targets=prepacked.targets,
        wrap=prepacked.wrap,
        layer_bytes=prepacked.layer_bytes,
        packing_works=lambda dtype: works,
        pack_layers=pack_layers,
        calls=calls,
    )


def test_prepack_policy_packs_on_the_cpu_only():
    model = nn.Sequential(nn.Linear(4, 4))
    packer = _fake_packer()
    gpu = devices.Capabilities("xpu", "test GPU", total_memory=8 << 30)
    assert policy.prepack(model, gpu, packer=packer) == 0 and not packer.calls
    assert policy.prepack(model, CPU, packer=packer) == 1 and packer.calls == [model]


def test_prepack_policy_respects_the_switches_and_broken_builds(monkeypatch):
    model = nn.Sequential(nn.Linear(4, 4))
    assert policy.prepack(model, CPU, packer=_fake_packer(works=False)) == 0
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", "plain")
    assert policy.prepack(model, CPU, packer=_fake_packer()) == 0
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", "fast")
    monkeypatch.setenv("TORTOISE_NO_PACK", "1")
    assert policy.prepack(model, CPU, packer=_fake_packer()) == 0
    assert type(model[0]) is nn.Linear


def test_prepack_policy_skips_with_a_warning_when_memory_is_short():
    model = nn.Sequential(nn.Linear(1024, 1024))  # 4 MiB of weights
    short = devices.Capabilities("cpu", "test CPU", total_memory=16 << 20, free_memory=6 << 20)
    packer = _fake_packer()
    with pytest.warns(UserWarning, match="free memory"):
        assert policy.prepack(model, short, packer=packer) == 0
    assert not packer.calls


def test_packed_bytes_counts_packable_weights():
    model = nn.Sequential(
        nn.Linear(10, 20), nn.Conv1d(3, 3, 1), nn.Conv1d(4, 4, 3, groups=2), nn.Linear(20, 5).bfloat16()
    )
    assert packed_bytes(model) == 10 * 20 * 4 + 3 * 3 * 4 + 20 * 5 * 2  # grouped convs are not packed
    assert prepacked.packing_works(torch.float16) is False  # only fp32 and bf16 are packed


def test_checking_the_build_does_not_move_the_seeded_rng():
    torch.manual_seed(1)
    packing_works.__wrapped__(torch.float32)  # the check itself, not its cached answer
    after_check = torch.rand(4)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(4), after_check)


@needs_packing
@pytest.mark.parametrize("rows", [1, 5])
def test_fused_gelu_equals_gelu_of_the_product(rows):
    layer = _layer(torch.float32)
    x = torch.randn(rows, 96)
    with torch.no_grad():
        want = F.gelu(layer(x), approximate="tanh")
        torch.testing.assert_close(PackedLinear(layer).forward_gelu_tanh(x), want, atol=1e-5, rtol=1e-5)


def test_bf16_layer_norm_without_casts_matches_the_float32_computation():
    from tortoise.models.gpt import LayerNorm32

    torch.manual_seed(0)
    norm = LayerNorm32(64)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
        x = torch.randn(3, 7, 64).bfloat16()
        got = norm(x)
        want = F.layer_norm(x.float(), (64,), norm.weight, norm.bias, norm.eps)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=0.02, rtol=0.01)  # one bf16 rounding of the fp32 result


@needs_packing
def test_fused_gelu_falls_back_where_the_build_lacks_it(monkeypatch):
    layer = _layer(torch.float32)
    packed = PackedLinear(layer)
    x = torch.randn(4, 96)
    monkeypatch.setattr(prepacked, "fused_gelu_works", lambda dtype: False)
    with torch.no_grad():
        torch.testing.assert_close(packed.forward_gelu_tanh(x), F.gelu(layer(x), approximate="tanh"))
