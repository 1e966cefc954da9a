"""``tortoise.cpu.prepare``: which parts of which model it prepares for the CPU, and that the results do not change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.test_gpt import TINY
from tests.test_prepacked import tiny_ar_case
from tortoise import cpu
from tortoise.cpu.policy import FusedGeluMLP
from tortoise.cpu.prepacked import PackedConv1d, PackedLinear, packing_works
from tortoise.cpu.winograd import WinogradConv1d
from tortoise.models.diffusion_decoder import DiffusionConfig, DiffusionTts
from tortoise.models.gpt import MLP, UnifiedVoice
from tortoise.sampling import generate

CPU = torch.device("cpu")
needs_packing = pytest.mark.skipif(not packing_works(torch.float32), reason="this torch build has no oneDNN packing")


@pytest.fixture(autouse=True)
def _kernels_forced_on(monkeypatch):
    """These tests check where the kernels go and what they compute: forced on, whatever this CPU would measure."""
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", "fast")


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_state(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = model.state_dict()
    return after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


@needs_packing
def test_autoregressive_model_is_packed_with_fused_gelu_and_generates_the_same_codes():
    model, cond, text, kwargs = tiny_ar_case()
    plain, before = generate(model, cond, text, **kwargs), _state(model)
    assert cpu.prepare("autoregressive", model, CPU) is model
    mlps = [m for m in model.modules() if isinstance(m, (MLP, FusedGeluMLP))]
    assert len(mlps) == TINY.layers and all(type(m) is FusedGeluMLP for m in mlps)
    assert all(isinstance(m.c_fc, PackedLinear) and isinstance(m.c_proj, PackedLinear) for m in mlps)
    assert _same_state(model, before)
    assert torch.equal(generate(model, cond, text, **kwargs), plain)


def test_nothing_is_prepared_off_the_cpu_or_when_switched_off(monkeypatch):
    model = UnifiedVoice(TINY).eval()
    kinds = [type(m) for m in model.modules()]
    assert cpu.prepare("autoregressive", model, torch.device("meta")) is model
    monkeypatch.setenv("TORTOISE_NO_PACK", "1")
    cpu.prepare("autoregressive", model, CPU)
    assert [type(m) for m in model.modules()] == kinds


def test_models_that_run_once_per_job_are_left_alone():
    model = nn.Sequential(nn.Linear(256, 256), nn.Conv1d(256, 256, 3, padding=1))
    cpu.prepare("vocoder", model, CPU)
    assert [type(m) for m in model] == [nn.Linear, nn.Conv1d]


def _decoder(layer_dtype: torch.dtype | None) -> DiffusionTts:
    cfg = DiffusionConfig(model_channels=256, num_layers=2, num_heads=4, in_latent_channels=64, in_tokens=16)
    torch.manual_seed(0)
    return DiffusionTts(cfg).eval().set_layer_dtype(layer_dtype)


def test_float32_diffusion_decoder_gets_winograd_convolutions_in_its_step_layers_only():
    model = _decoder(None)
    before = _state(model)
    cpu.prepare("diffusion_decoder", model, CPU)
    step = [*model.conditioning_timestep_integrator.modules(), *model.layers.modules()]
    assert any(isinstance(m, WinogradConv1d) for m in step)
    assert not any(isinstance(m, (WinogradConv1d, PackedLinear, PackedConv1d)) for m in model.contextual_embedder)
    assert not any(isinstance(m, (PackedLinear, PackedConv1d)) for m in model.modules())
    assert _same_state(model, before)


@needs_packing
def test_bf16_diffusion_decoder_packs_its_reduced_precision_layers():
    if not packing_works(torch.bfloat16):
        pytest.skip("no bf16 packing in this build")
    model = _decoder(torch.bfloat16)
    cpu.prepare("diffusion_decoder", model, CPU)
    assert any(isinstance(m, (PackedLinear, PackedConv1d)) for m in model.layers[1:].modules())
    assert not any(isinstance(m, (PackedLinear, PackedConv1d)) for m in model.layers[0].modules())
    assert any(isinstance(m, WinogradConv1d) for m in model.layers[0].modules())  # float32 kernel-3 convolutions
