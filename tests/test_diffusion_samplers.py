"""Diffusion samplers on a Gaussian toy with a closed-form ideal denoiser, guidance, schedules, decoder properties."""

from __future__ import annotations

import math

import pytest
import torch

from tests.diffusion_parity import p_mean_variance
from tortoise import diffusion as D
from tortoise.errors import InvalidInputError
from tortoise.models.diffusion_decoder import DiffusionConfig, DiffusionTts

# data ~ N(MU, S^2) independently per channel; spreads chosen so that clamping x0 to [-1, 1] is (nearly) inactive
MU = torch.tensor([0.0, 0.1, -0.1, 0.0])[None, :, None]
S = torch.tensor([0.05, 0.1, 0.2, 0.3])[None, :, None]
ALPHAS_CUMPROD = torch.cumprod(1 - D.linear_betas(), 0)


class GaussianToy:
    """The exact eps-predictor for x0 ~ N(mean, S^2), mean = the aligned embeddings; constant variance values."""

    def __init__(self, v: float = -1.0):
        self.v = v
        self.calls: list[int] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor, aligned_embeddings: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        abar = ALPHAS_CUMPROD[t].float()[:, None, None]
        sigma2 = 1 / abar - 1
        x_ve = x / abar.sqrt()
        x0 = aligned_embeddings + S**2 / (S**2 + sigma2) * (x_ve - aligned_embeddings)
        eps = (x_ve - x0) / sigma2.sqrt()
        return torch.cat([eps, torch.full_like(eps, self.v)], dim=1)


def _run(name: str, n: int, L: int = 4096, seed: int = 0) -> tuple[float, float]:
    """(RMS error vs the exact probability-flow ODE solution, worst W2 distance to N(MU, S^2)), both in units of S."""
    schedule = D.respaced_schedule(n)
    sigmas = schedule.sigmas
    denoiser = D.Denoiser(GaussianToy(), schedule, MU.expand(1, -1, L))
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(1, MU.shape[1], L, generator=g) * math.sqrt(1 + float(sigmas[0]) ** 2)
    out = D.SAMPLERS[name](denoiser, x_T.clone(), sigmas, generator=g, disable=True)
    # exact ODE flow of a Gaussian: x - mu scales with sqrt(S^2 + sigma^2); then the final denoising step
    s_max, s_min = float(sigmas[0]), float(sigmas[-2])
    x_min = MU + (x_T - MU) * torch.sqrt(S**2 + s_min**2) / torch.sqrt(S**2 + s_max**2)
    truth = (MU + S**2 / (S**2 + s_min**2) * (x_min - MU)).clamp(-1, 1)
    err = ((out - truth) / S).pow(2).mean().sqrt().item()
    m, s = out.mean(-1), out.std(-1)
    w2 = (((m - MU[..., 0]) ** 2 + (s - S[..., 0]) ** 2).sqrt() / S[..., 0]).max().item()
    return err, w2


@pytest.mark.parametrize("name", ["ddim", "dpm++2m"])
def test_ode_samplers_converge_to_the_exact_flow(name: str) -> None:
    errs = {n: _run(name, n) for n in (5, 10, 50, 400)}
    assert errs[400][0] < 0.06 and errs[400][1] < 0.1, errs
    assert errs[400][1] < errs[50][1] < errs[10][1] < errs[5][1], errs
    assert errs[400][0] < errs[50][0] < errs[10][0] < errs[5][0], errs


def test_dpmpp_2m_at_least_as_accurate_as_ddim_at_few_steps() -> None:
    for n in (5, 10, 20, 30):
        ddim, dpm = _run("ddim", n), _run("dpm++2m", n)
        assert dpm[0] <= ddim[0] and dpm[1] <= ddim[1], (n, ddim, dpm)


@pytest.mark.parametrize("name", ["p", "dpm++2m-sde"])
def test_stochastic_samplers_converge_in_distribution(name: str) -> None:
    w2 = [_run(name, n)[1] for n in (10, 400, 4000)]
    assert w2[0] > w2[1] > w2[2], w2
    assert w2[2] < 0.06, w2


def test_ddim_matches_the_fork_ddim_sample_loop() -> None:
    """The fork's ddim (eta 0) in x_t space: x0 from p_mean_variance, eps re-derived from it, DDIM update."""
    schedule = D.respaced_schedule(7)
    denoiser = D.Denoiser(GaussianToy(), schedule, MU.expand(1, -1, 16))
    x_T = torch.randn(1, MU.shape[1], 16, generator=torch.Generator().manual_seed(3))
    x = x_T.clone()
    for i in reversed(range(schedule.n)):
        x0 = p_mean_variance(denoiser, x, i)["pred_xstart"]
        abar, abar_prev = float(schedule.alphas_cumprod[i]), float(schedule.alphas_cumprod_prev[i])
        eps = (x / math.sqrt(abar) - x0) / math.sqrt(1 / abar - 1)
        x = x0 * math.sqrt(abar_prev) + math.sqrt(1 - abar_prev) * eps
    sigmas = schedule.sigmas
    ours = D.sample_ddim(denoiser, x_T * math.sqrt(1 + float(sigmas[0]) ** 2), sigmas, disable=True)
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-5)


def test_guidance_with_k0_equals_the_conditioned_model() -> None:
    schedule = D.respaced_schedule(12)
    cond, uncond = MU.expand(2, -1, 8), torch.full((2, MU.shape[1], 8), 0.4)
    x = torch.randn(2, MU.shape[1], 8, generator=torch.Generator().manual_seed(1)) * 10
    plain = D.Denoiser(GaussianToy(v=0.3), schedule, cond)
    k0 = D.Denoiser(GaussianToy(v=0.3), schedule, cond, uncond=uncond, cond_free_k=0.0)
    for sigma in schedule.sigmas[:-1].tolist():
        a, fa = plain(x, sigma, return_variance=True)
        b, fb = k0(x, sigma, return_variance=True)
        assert torch.equal(a, b) and torch.equal(fa, fb)


def test_guidance_is_one_batched_call_with_the_original_ramp() -> None:
    n, k = 10, 2.0
    schedule = D.respaced_schedule(n)
    cond, uncond = MU.expand(1, -1, 8), torch.full((1, MU.shape[1], 8), 0.4)
    toy = GaussianToy()
    guided = D.Denoiser(toy, schedule, cond, uncond=uncond, cond_free_k=k)
    assert guided.guidance_scale(n - 1) == pytest.approx(k / n) and guided.guidance_scale(0) == k
    flat = D.Denoiser(toy, schedule, cond, uncond=uncond, cond_free_k=k, ramp=False)
    assert flat.guidance_scale(n - 1) == k
    x = torch.randn(1, MU.shape[1], 8, generator=torch.Generator().manual_seed(2))
    only_c, only_u = D.Denoiser(toy, schedule, cond), D.Denoiser(toy, schedule, uncond)
    for i in (n - 1, n // 2, 0):
        toy.calls.clear()
        eps, v = guided.model_output(x, i)
        assert toy.calls == [2], "cond and uncond must be stacked into one forward"
        (eps_c, v_c), (eps_u, _) = only_c.model_output(x, i), only_u.model_output(x, i)
        ki = k * (1 - i / n)
        torch.testing.assert_close(eps, (1 + ki) * eps_c - ki * eps_u)
        assert torch.equal(v, v_c), "variance comes from the conditioned pass"


def test_denoiser_rejects_off_grid_sigma_and_bad_setup() -> None:
    schedule = D.respaced_schedule(10)
    denoiser = D.Denoiser(GaussianToy(), schedule, MU.expand(1, -1, 4))
    sigmas = schedule.sigmas.tolist()
    assert [denoiser.index(s) for s in sigmas[:-1]] == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="grid"):
        denoiser.index(sigmas[0] * 0.9)
    with pytest.raises(ValueError, match="uncond"):
        D.Denoiser(GaussianToy(), schedule, MU, cond_free_k=2.0)


def test_schedule_properties() -> None:
    full = D.respaced_schedule(D.TRAINED_STEPS)
    # 1 - abar_t / abar_{t-1} recovers beta_t up to float64 rounding of 1 - beta
    torch.testing.assert_close(full.betas, D.linear_betas(), rtol=1e-10, atol=0)
    assert full.timestep_map.tolist() == list(range(D.TRAINED_STEPS))
    assert D.space_timesteps(4000, 30)[:3] == [0, 138, 276] and D.space_timesteps(4000, 30)[-2:] == [3861, 3999]
    assert D.space_timesteps(4000, 80)[:3] == [0, 51, 101] and D.space_timesteps(4000, 80)[-2:] == [3948, 3999]
    for n in (2, 10, 80):
        sigmas = D.respaced_schedule(n).sigmas
        assert sigmas.dtype == torch.float64 and len(sigmas) == n + 1 and sigmas[-1] == 0
        assert bool((sigmas[:-1] > sigmas[1:]).all())
        # respacing keeps the trained noise levels exactly at the kept steps
        kept = ALPHAS_CUMPROD[D.respaced_schedule(n).timestep_map]
        torch.testing.assert_close(D.respaced_schedule(n).alphas_cumprod, kept, rtol=1e-12, atol=0)
    for bad in (0, 1, 4001):
        with pytest.raises(InvalidInputError):
            D.respaced_schedule(bad)


# ---- the decoder network (tiny random config) ----


def _tiny(seed: int = 0) -> DiffusionTts:
    torch.manual_seed(seed)
    cfg = DiffusionConfig(
        model_channels=32, num_layers=2, in_channels=8, out_channels=16, in_latent_channels=12, num_heads=4
    )
    model = DiffusionTts(cfg).eval().requires_grad_(False)
    for p in model.parameters():  # zero-free, so every block influences the output
        p.add_(0.05 * torch.randn_like(p))
    return model


def test_decode_mel_shapes_range_and_determinism() -> None:
    model = _tiny()
    latents, mels = torch.randn(2, 5, 12), torch.randn(2, 3, 8, 20)
    L = D.output_length(latents.shape[1])
    aligned = model.timestep_independent(latents, model.get_conditioning(mels), L)
    assert aligned.shape == (2, 32, L)
    for sampler in D.SAMPLERS:
        a = D.decode_mel(model, aligned, L, sampler=sampler, steps=4, generator=torch.Generator().manual_seed(5))
        b = D.decode_mel(model, aligned, L, sampler=sampler, steps=4, generator=torch.Generator().manual_seed(5))
        assert a.shape == (2, 8, L) and a.dtype == torch.float32 and torch.equal(a, b)
        assert a.min() >= D.MEL_MIN - 1e-4 and a.max() <= D.MEL_MAX + 1e-4
    nocf = D.decode_mel(model, aligned, L, steps=4, cond_free=False, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(nocf, a)
    with pytest.raises(InvalidInputError, match="sampler"):
        D.decode_mel(model, aligned, L, sampler="euler")
    with pytest.raises(InvalidInputError, match="temperature"):
        D.decode_mel(model, aligned, L, temperature=0)


def test_batched_forward_equals_per_item_and_condfree_path() -> None:
    model = _tiny(1)
    x, t = torch.randn(2, 8, 11), torch.tensor([10, 3000])
    emb = torch.randn(2, 32, 11)
    with torch.inference_mode():
        both = model(x, t, aligned_embeddings=emb)
        one = torch.cat([model(x[i : i + 1], t[i : i + 1], aligned_embeddings=emb[i : i + 1]) for i in range(2)])
        torch.testing.assert_close(both, one, rtol=1e-5, atol=1e-5)
        uncond = model(x, t, aligned_embeddings=model.unconditioned_embeddings(2, 11))
        assert torch.equal(model(x, t, conditioning_free=True), uncond)
    with pytest.raises(ValueError, match="aligned_embeddings"):
        model(x, t)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_layers(dtype: torch.dtype) -> None:
    model = _tiny(2)
    x, t, emb = torch.randn(1, 8, 9), torch.tensor([700]), torch.randn(1, 32, 9)
    with torch.inference_mode():
        ref = model(x, t, aligned_embeddings=emb)
        model.set_layer_dtype(dtype)
        assert model.layers[0].resblk.in_layers[2].weight.dtype == torch.float32
        assert all(p.dtype == dtype for p in model.layers[1:].parameters())
        assert model.out[2].weight.dtype == torch.float32
        low = model(x, t, aligned_embeddings=emb)
        assert low.dtype == torch.float32 and torch.isfinite(low).all()
        assert (low - ref).abs().max() < 0.05 * ref.abs().max()
        model.set_layer_dtype(None)
        torch.testing.assert_close(model(x, t, aligned_embeddings=emb), ref, rtol=1e-2, atol=1e-2)
    with pytest.raises(ValueError):
        model.set_layer_dtype(torch.int8)


def test_config_from_reference() -> None:
    ref = {"model_channels": 64, "num_layers": 2, "num_heads": 4, "dropout": 0, "use_fp16": False, "layer_drop": 0.1}
    cfg = DiffusionConfig.from_reference(ref)
    assert (cfg.model_channels, cfg.num_layers, cfg.num_heads, cfg.in_channels) == (64, 2, 4, 100)
    with pytest.raises(ValueError, match="unsupported"):
        DiffusionConfig.from_reference({"model_channels": 64, "kernel_size": 5})
    with pytest.raises(ValueError, match="divisible"):
        DiffusionConfig.from_reference({"model_channels": 64, "num_heads": 5})


def test_timestep_embedding_is_cos_first_float32() -> None:
    from tortoise.models.diffusion_decoder import timestep_embedding

    t = torch.tensor([0, 1, 3999])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (3, 8) and emb.dtype == torch.float32
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = torch.exp(-math.log(10000) * torch.arange(4, dtype=torch.float32) / 4)
    assert torch.equal(emb[2, :4], torch.cos(3999.0 * freqs))


def test_the_sampler_names_offered_are_the_samplers_implemented() -> None:
    from tortoise.options import SAMPLERS

    assert tuple(D.SAMPLERS) == SAMPLERS  # options.verify, the CLI and the app offer options.SAMPLERS
