"""DiffusionTts and the respaced Gaussian diffusion against ``diffusion.pt`` and the ``diffusion_decoder`` layout.

Data-driven: timesteps, step counts and spaced indices are discovered from the fixture's output keys.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from tests.diffusion_parity import p_mean_variance
from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry
from tortoise import diffusion as D
from tortoise.models.diffusion_decoder import DiffusionConfig, DiffusionTts, remap_keys

pytestmark = pytest.mark.golden

PMV_FIELDS = ("mean", "variance", "log_variance", "pred_xstart")


@pytest.fixture(scope="module")
def fixture() -> dict:
    return load_fixture("diffusion")


@pytest.fixture(scope="module")
def model(fixture: dict) -> DiffusionTts:
    cfg = DiffusionConfig.from_reference(fixture["config"])
    return build_on_test_device(
        lambda: DiffusionTts(cfg), fixture["state_dict"], remap=remap_keys, what="diffusion fixture"
    )


def _keys(fixture: dict, pattern: str) -> list[re.Match]:
    found = [m for k in fixture["outputs"] if (m := re.fullmatch(pattern, k))]
    assert found, f"fixture has no output matching {pattern!r}"
    return found


def _exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # the RNG draws carry the tolerance string "exact (torch CPU generator)": compare bit-exactly
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def _denoiser(model: DiffusionTts, fixture: dict, n: int, cond_free: bool) -> D.Denoiser:
    aligned = fixture["outputs"]["aligned_embeddings"]
    if not cond_free:
        return D.Denoiser(model, D.respaced_schedule(n), aligned)
    uncond = model.unconditioned_embeddings(aligned.shape[0], aligned.shape[-1])
    k = float(fixture["inputs"]["cond_free_k"])
    return D.Denoiser(model, D.respaced_schedule(n), aligned, uncond=uncond, cond_free_k=k)


def test_cond_latent(model: DiffusionTts, fixture: dict) -> None:
    assert_golden(model.get_conditioning(fixture["inputs"]["cond_mels"]), fixture, "cond_latent")


def test_aligned_embeddings(model: DiffusionTts, fixture: dict) -> None:
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    L = int(inputs["output_len"])
    assert D.output_length(inputs["latents"].shape[1]) == L
    aligned = model.timestep_independent(inputs["latents"], outputs["cond_latent"], L)
    assert_golden(aligned, fixture, "aligned_embeddings")


@torch.inference_mode()
def test_forward(model: DiffusionTts, fixture: dict) -> None:
    x, aligned = fixture["inputs"]["x_t"], fixture["outputs"]["aligned_embeddings"]
    for m in _keys(fixture, r"forward_(condfree_)?t(\d+)"):
        t = torch.tensor([int(m[2])])
        out = model(x, t, conditioning_free=True) if m[1] else model(x, t, aligned_embeddings=aligned)
        assert_golden(out, fixture, m[0])


def test_schedules(fixture: dict) -> None:
    k = float(fixture["inputs"]["cond_free_k"])
    for m in _keys(fixture, r"n(\d+)_timestep_map"):
        n = int(m[1])
        schedule = D.respaced_schedule(n, int(fixture["inputs"].get("trained_diffusion_steps", D.TRAINED_STEPS)))
        assert_golden(schedule.timestep_map, fixture, m[0])
        skip = ("timestep_map", "cond_free_k_per_index")
        arrays = [a for a in _keys(fixture, rf"n{n}_(?!i\d+_)([a-z0-9_]+)") if a[1] not in skip]
        assert len(arrays) >= 9
        for a in arrays:
            assert_golden(getattr(schedule, a[1]), fixture, a[0])
        dummy = torch.zeros(1, 1, 1)
        ramp = D.Denoiser(lambda *a, **kw: None, schedule, dummy, uncond=dummy, cond_free_k=k)
        scales = torch.tensor([ramp.guidance_scale(i) for i in range(n)], dtype=torch.float64)
        assert_golden(scales, fixture, f"n{n}_cond_free_k_per_index")


def test_p_mean_variance(model: DiffusionTts, fixture: dict) -> None:
    x = fixture["inputs"]["x_t"]
    cases = {(m[1], int(m[2]), int(m[3])) for m in _keys(fixture, r"(nocf_)?n(\d+)_i(\d+)_mean")}
    for nocf, n, i in sorted(cases, key=str):
        with torch.inference_mode():
            out = p_mean_variance(_denoiser(model, fixture, n, cond_free=not nocf), x, i)
        for field in PMV_FIELDS:
            assert_golden(out[field], fixture, f"{nocf or ''}n{n}_i{i}_{field}")


def _sample_p(model: DiffusionTts, fixture: dict, n: int, **kw) -> tuple[torch.Tensor, list, list]:
    """The fixture's p_sample_loop: x_T given; trajectory in the model's x_t space after each step."""
    denoiser = _denoiser(model, fixture, n, cond_free=True)
    sigmas = denoiser.schedule.sigmas
    trajectory, pred_xstart = [], []

    def record(d: dict) -> None:
        trajectory.append(d["x"] / math.sqrt(1 + d["sigma"] ** 2))
        pred_xstart.append(d["denoised"])

    x = fixture["inputs"]["noise"] * math.sqrt(1 + float(sigmas[0]) ** 2)
    out = D.sample_p(denoiser, x, sigmas, callback=record, disable=True, **kw)
    return out, trajectory, pred_xstart


@pytest.mark.cpu_generator
def test_p_sample_loop(model: DiffusionTts, fixture: dict) -> None:
    outputs = fixture["outputs"]
    seed = int(fixture["inputs"]["p_sample_loop_seed"])
    for m in _keys(fixture, r"p_sample_loop_n(\d+)"):
        n = int(m[1])
        draws = outputs[f"{m[0]}_noise_draws"]
        assert draws.shape[0] == n
        # the reference's draws are what our sampler draws from a CPU generator with the same seed
        g = torch.Generator().manual_seed(seed)
        _exact(torch.stack([D._randn(draws.shape[1:], g, torch.device("cpu")) for _ in range(n)]), draws)

        # deterministic part: the recorded draws, in order
        it = iter(draws)
        out, trajectory, pred_xstart = _sample_p(model, fixture, n, noise_sampler=lambda s, s_next, it=it: next(it))
        assert next(it, None) is None, "one draw per step, including the last"
        assert_golden(out, fixture, m[0])
        assert_golden(torch.stack(trajectory), fixture, f"{m[0]}_trajectory")
        assert_golden(torch.stack(pred_xstart), fixture, f"{m[0]}_pred_xstart")

        # seeded: same generator, same result, and exactly n draws consumed
        g = torch.Generator().manual_seed(seed)
        out_seeded, _, _ = _sample_p(model, fixture, n, generator=g)
        assert_golden(out_seeded, fixture, m[0])
        ref = torch.Generator().manual_seed(seed)
        for _ in range(n):
            torch.randn(draws.shape[1:], generator=ref)
        assert torch.equal(g.get_state(), ref.get_state())


@pytest.mark.cpu_generator
def test_do_spectrogram_diffusion(model: DiffusionTts, fixture: dict) -> None:
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    seed = int(inputs["do_spectrogram_diffusion_seed"])
    k = float(inputs["cond_free_k"])
    latents = inputs["latents"]
    L = D.output_length(latents.shape[1])
    for m in _keys(fixture, r"do_spectrogram_diffusion_n(\d+)"):
        noise = outputs[f"{m[0]}_initial_noise"]
        _exact(D._randn(noise.shape, torch.Generator().manual_seed(seed), torch.device("cpu")), noise)
        aligned = model.timestep_independent(latents, outputs["cond_latent"], L)
        g = torch.Generator().manual_seed(seed)
        mel = D.decode_mel(model, aligned, L, sampler="p", steps=int(m[1]), cond_free=True, cond_free_k=k, generator=g)
        assert_golden(mel, fixture, m[0])


def test_manifest_layout() -> None:
    entry = manifest_entry("diffusion_decoder")
    cfg = DiffusionConfig.from_reference(entry["config"])
    with torch.device("meta"):
        model = DiffusionTts(cfg)
    got = {k: list(v.shape) for k, v in remap_keys(dict(model.state_dict())).items()}
    assert got == {k: list(v) for k, v in entry["keys"].items()}
    assert sum(p.numel() for p in model.parameters()) == entry["n_params"]
