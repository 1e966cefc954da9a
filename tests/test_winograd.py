"""Winograd F(4, 3) kernel-3 convolutions: the direct convolution's results, the same state dict, where they apply."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tortoise import devices
from tortoise.cpu import policy, winograd
from tortoise.cpu.winograd import WinogradConv1d, conv1d_f43, transform_weight
from tortoise.models.diffusion_decoder import DiffusionConfig, DiffusionTts

CPU = devices.Capabilities("cpu", "test CPU", total_memory=16 << 30, free_memory=8 << 30)


@pytest.fixture(autouse=True)
def _kernels_forced_on(monkeypatch):
    """These tests check where the kernels go and what they compute: forced on, whatever this CPU would measure."""
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", "fast")


def _conv(c_in: int, c_out: int, *, bias: bool = True, seed: int = 0) -> nn.Conv1d:
    torch.manual_seed(seed)
    return nn.Conv1d(c_in, c_out, 3, padding=1, bias=bias)


@pytest.mark.parametrize(
    "B,c_in,c_out,L", [(1, 64, 64, 278), (2, 32, 48, 7), (3, 16, 16, 1), (1, 8, 24, 4), (2, 40, 8, 13)]
)
@pytest.mark.parametrize("bias", [True, False])
def test_f43_equals_the_direct_convolution(B, c_in, c_out, L, bias):
    conv = _conv(c_in, c_out, bias=bias)
    x = torch.randn(B, c_in, L) * 3
    with torch.no_grad():
        want = F.conv1d(x.double(), conv.weight.double(), None if conv.bias is None else conv.bias.double(), padding=1)
        got = conv1d_f43(x, transform_weight(conv.weight), conv.bias)
    assert got.shape == want.shape and got.dtype == torch.float32
    # float32 rounding of the transforms: a few units of 1e-6 of the output's scale
    assert (got.double() - want).abs().max() <= 1e-5 * want.abs().max()


def test_weight_transform_is_g_times_the_kernel():
    w = _conv(24, 40).weight
    g = winograd._transforms()[1].double()
    want = torch.einsum("ak,oik->aoi", g, w.double())
    got = transform_weight(w)
    assert got.shape == (6, 40, 24) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=1e-7, rtol=1e-6)


def test_layer_keeps_the_parameters_and_follows_changed_weights():
    conv = _conv(16, 16)
    layer = WinogradConv1d(conv)
    assert layer.weight is conv.weight and layer.bias is conv.bias
    assert layer.state_dict().keys() == conv.state_dict().keys()
    x = torch.randn(2, 16, 30)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)
        conv.weight.mul_(-2)  # in place: the transformed copy must be rebuilt
        torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)
        layer.load_state_dict(_conv(16, 16, seed=3).state_dict())
        torch.testing.assert_close(layer(x), F.conv1d(x, layer.weight, layer.bias, padding=1), atol=1e-5, rtol=1e-5)


def test_other_dtypes_take_the_direct_kernel():
    layer = WinogradConv1d(_conv(16, 16).bfloat16())
    assert layer._packed is None  # nothing transformed for bf16
    cast = WinogradConv1d(_conv(16, 16)).bfloat16()  # transformed in float32, then cast
    x = torch.randn(1, 16, 12).bfloat16()
    with torch.no_grad():
        for m in (layer, cast):
            assert torch.equal(m(x), F.conv1d(x, m.weight, m.bias, padding=1))


def test_gradients_flow_through_the_winograd_path():
    conv = _conv(8, 8)
    layer = WinogradConv1d(conv)
    x = torch.randn(1, 8, 9, requires_grad=True)
    layer(x).square().sum().backward()
    want = torch.autograd.grad(conv(x).square().sum(), x)[0]
    torch.testing.assert_close(x.grad, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "conv",
    [nn.Conv1d(8, 8, 1), nn.Conv1d(8, 8, 3), nn.Conv1d(8, 8, 3, padding=1, stride=2),
     nn.Conv1d(8, 8, 3, padding=2, dilation=2), nn.Conv1d(8, 8, 3, padding=1, groups=2),
     nn.Conv1d(8, 8, 3, padding=1, padding_mode="reflect")],
)  # fmt: skip
def test_only_kernel3_stride1_same_padding_convolutions_are_eligible(conv):
    assert not winograd.eligible(conv)
    with pytest.raises(ValueError, match="kernel-3"):
        WinogradConv1d(conv)


def test_packer_replaces_wide_float32_convolutions_only():
    model = nn.Sequential(
        _conv(256, 256), nn.SiLU(), _conv(256, 100), _conv(300, 300).bfloat16(), nn.Conv1d(256, 256, 1)
    )
    assert winograd.packed_bytes(model) == 6 * 256 * 256 * 4
    assert winograd.pack_layers(model) == 1
    assert isinstance(model[0], WinogradConv1d)
    assert [type(m) for m in model[1:]] == [nn.SiLU, nn.Conv1d, nn.Conv1d, nn.Conv1d]
    assert winograd.packing_works(torch.float32) and not winograd.packing_works(torch.bfloat16)


def test_policy_applies_it_on_the_cpu_only(monkeypatch):
    gpu = devices.Capabilities("cuda", "test GPU", total_memory=16 << 30, free_memory=8 << 30)
    model = nn.Sequential(_conv(256, 256))
    assert policy.prepack(model, gpu, packer=winograd) == 0
    monkeypatch.setenv("TORTOISE_NO_PACK", "1")
    assert policy.prepack(model, CPU, packer=winograd) == 0
    monkeypatch.delenv("TORTOISE_NO_PACK")
    assert policy.prepack(model, CPU, packer=winograd) == 1


def test_diffusion_decoder_with_winograd_layers_matches_the_plain_one():
    cfg = DiffusionConfig(model_channels=256, num_layers=2, num_heads=4, in_latent_channels=64, in_tokens=16)
    torch.manual_seed(0)
    plain = DiffusionTts(cfg).eval()
    fast = DiffusionTts(cfg).eval()
    fast.load_state_dict(plain.state_dict())
    for part in (fast.conditioning_timestep_integrator, fast.layers):
        eligible = len([m for m in part.modules() if winograd.eligible(m)])
        assert winograd.pack_layers(part) == eligible > 0
    assert fast.state_dict().keys() == plain.state_dict().keys()
    g = torch.Generator().manual_seed(1)
    latents, cond = torch.randn(1, 10, 64, generator=g), torch.randn(1, 512, generator=g)
    x, t = torch.randn(1, cfg.in_channels, 40, generator=g), torch.tensor([500])
    with torch.no_grad():
        want = plain(x, t, plain.timestep_independent(latents, cond, 40))
        got = fast(x, t, fast.timestep_independent(latents, cond, 40))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
