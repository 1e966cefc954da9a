"""Gaussian diffusion for the TorToiSe decoder: trained schedule, respacing, a k-diffusion denoiser, samplers.

The decoder was trained on a 4000-step linear beta schedule and predicts eps plus learned-range variance
values. Inference uses ``n`` of those steps (``space_timesteps``), exactly as the original's
``SpacedDiffusion``. Samplers are pure functions in the style of k-diffusion (Karras et al. 2022): the state
is ``x = x_t / sqrt(abar)`` (variance-exploding form), ``sigma = sqrt(1 / abar - 1)``, and the model is a
:class:`Denoiser` ``D(x, sigma) -> x0``. All samplers run on the *trained* discrete schedule: every model
call happens at a timestep the network was trained on.

Precision: schedules are computed in float64 on the CPU and never put on the device (MPS has no float64).
Each per-step coefficient enters the kernels as a Python scalar, which PyTorch applies in the tensor's
dtype (float32) -- the same rounding as the original's cast of each float64 array to float32 at use, with
no host-device transfer or sync per step. The sampler state stays float32 whatever the model's precision.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm.auto import trange

from .audio import AR_SAMPLE_RATE, MEL_MAX, MEL_MIN, OUTPUT_SAMPLE_RATE, denormalize_mel  # noqa: F401 (mel range re-exported)
from .errors import InvalidInputError

if TYPE_CHECKING:
    from .models.diffusion_decoder import DiffusionTts

TRAINED_STEPS = 4000

NoiseSampler = Callable[[float, float], Tensor]
Callback = Callable[[dict[str, Any]], None]
Sigmas = Tensor | Sequence[float]


def linear_betas(n_train: int = TRAINED_STEPS) -> Tensor:
    """The training schedule: ``linspace(1e-4, 0.02)`` scaled by ``1000 / n_train`` (float64, CPU)."""
    scale = 1000 / n_train
    return torch.linspace(scale * 0.0001, scale * 0.02, n_train, dtype=torch.float64)


def space_timesteps(n_train: int, counts: int | Sequence[int]) -> list[int]:
    """The original's ``space_timesteps``: evenly strided kept steps per section, rounded (sorted list)."""
    counts = [counts] if isinstance(counts, int) else list(counts)
    size_per, extra = divmod(n_train, len(counts))
    start, steps = 0, set()
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if not 1 <= count <= size:
            raise InvalidInputError(f"cannot take {count} steps from a section of {size} (1..{size})")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.add(start + round(cur))  # accumulated, as the original (not i * stride)
            cur += stride
        start += size
    return sorted(steps)


@dataclass(frozen=True, eq=False)
class Schedule:
    """A respaced discrete schedule; float64 CPU arrays indexed by the spaced step i (0 = least noisy).

    Generation reads ``timestep_map``, ``n`` and ``sigmas``; the other arrays are the original ``SpacedDiffusion``'s,
    kept so that the golden tests compare them (and its ``p_mean_variance``, ``tests/diffusion_parity.py``) with it.
    """

    timestep_map: Tensor  # (n,) int64: trained timestep given to the model at spaced step i
    betas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    posterior_variance: Tensor
    posterior_log_variance_clipped: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor
    sqrt_recip_alphas_cumprod: Tensor
    sqrt_recipm1_alphas_cumprod: Tensor

    @property
    def n(self) -> int:
        return len(self.betas)

    @property
    def sigmas(self) -> Tensor:
        """(n + 1,) descending ``sqrt(1/abar - 1)`` of the spaced steps, then 0 (float64, CPU)."""
        return torch.cat([self.sqrt_recipm1_alphas_cumprod.flip(0), self.betas.new_zeros(1)])


@lru_cache(maxsize=32)
def respaced_schedule(steps: int, n_train: int = TRAINED_STEPS) -> Schedule:
    """The original ``SpacedDiffusion(space_timesteps(n_train, [steps]), betas=linear)`` schedule."""
    if not 2 <= steps <= n_train:
        raise InvalidInputError(f"diffusion steps must be between 2 and {n_train}, got {steps}")
    keep = set(space_timesteps(n_train, [steps]))
    last, new_betas, tmap = 1.0, [], []
    for t, ac in enumerate(torch.cumprod(1.0 - linear_betas(n_train), 0).tolist()):
        if t in keep:
            new_betas.append(1.0 - ac / last)
            last = ac
            tmap.append(t)
    betas = torch.tensor(new_betas, dtype=torch.float64)
    ac = torch.cumprod(1.0 - betas, 0)
    ac_prev = torch.cat([ac.new_ones(1), ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    return Schedule(
        timestep_map=torch.tensor(tmap, dtype=torch.int64),
        betas=betas,
        alphas_cumprod=ac,
        alphas_cumprod_prev=ac_prev,
        posterior_variance=post_var,
        # the first posterior variance is 0: the original clips its log with the second one
        posterior_log_variance_clipped=torch.log(torch.cat([post_var[1:2], post_var[1:]])),
        posterior_mean_coef1=betas * ac_prev.sqrt() / (1.0 - ac),
        posterior_mean_coef2=(1.0 - ac_prev) * (1.0 - betas).sqrt() / (1.0 - ac),
        sqrt_recip_alphas_cumprod=(1.0 / ac).sqrt(),
        sqrt_recipm1_alphas_cumprod=(1.0 / ac - 1.0).sqrt(),
    )


class Denoiser:
    """k-diffusion view of TorToiSe's eps-predicting, learned-range decoder on a respaced schedule.

    ``D(x, sigma)``: ``c_in = 1/sqrt(1 + sigma^2)`` takes the state back to the model's ``x_t``; sigma is
    mapped to its spaced step i (it must lie on the schedule's grid), the model sees the trained timestep
    ``timestep_map[i]``; ``x0 = clamp(x - sigma * eps, -1, 1)`` (``c_out = -sigma``).

    Conditioning-free guidance (``cond_free_k`` not None) runs the conditioned and unconditioned inputs as
    ONE batched forward (stacked along batch) and mixes only eps, ``(1 + k_i) eps_c - k_i eps_u``, with the
    original's ramp ``k_i = cond_free_k * (1 - i / n)``; the variance values come from the conditioned half.

    ``model(x (B, C, L), t (B,) long, aligned_embeddings=(B, E, L)) -> (B, 2C, L)`` may be any callable.
    """

    def __init__(
        self,
        model: Callable[..., Tensor],
        schedule: Schedule,
        cond: Tensor,
        *,
        uncond: Tensor | None = None,
        cond_free_k: float | None = None,
        ramp: bool = True,
    ):
        if cond_free_k is not None and uncond is None:
            raise ValueError("conditioning-free guidance needs the unconditioned embeddings (uncond)")
        self.model, self.schedule, self.cond = model, schedule, cond
        self.cond_free_k, self.ramp = cond_free_k, ramp
        self._stacked = None if cond_free_k is None else torch.cat([cond, uncond.expand_as(cond)])  # (2B, E, L)
        self._sigma = schedule.sqrt_recipm1_alphas_cumprod.tolist()  # ascending in i
        self._t = schedule.timestep_map.tolist()

    def guidance_scale(self, i: int) -> float:
        """k_i at spaced step i (the original's ramp, or the constant ``cond_free_k`` with ``ramp=False``)."""
        if self.cond_free_k is None:
            return 0.0
        return self.cond_free_k * (1 - i / self.schedule.n) if self.ramp else self.cond_free_k

    def index(self, sigma: float) -> int:
        """The spaced step whose sigma is ``sigma`` (nearest in log sigma; must be on the grid)."""
        j = bisect.bisect_left(self._sigma, sigma)
        cands = [c for c in (j - 1, j) if 0 <= c < len(self._sigma)]
        i = min(cands, key=lambda c: abs(math.log(self._sigma[c] / sigma)))
        if abs(math.log(self._sigma[i] / sigma)) > 1e-4:
            raise ValueError(f"sigma={sigma} is not on this {self.schedule.n}-step schedule's grid")
        return i

    def model_output(self, x: Tensor, i: int) -> tuple[Tensor, Tensor]:
        """Guided eps and the (conditioned) variance values at spaced step i; ``x`` is ``x_t`` (B, C, L)."""
        B, C = x.shape[:2]
        t = torch.full((B,), self._t[i], dtype=torch.long, device=x.device)
        if self._stacked is None:
            out = self.model(x, t, aligned_embeddings=self.cond)  # (B, 2C, L)
        else:
            out = self.model(torch.cat([x, x]), t.repeat(2), aligned_embeddings=self._stacked)  # (2B, 2C, L)
        if out.shape[1] != 2 * C:
            raise ValueError(f"model output has {out.shape[1]} channels; eps + variance values need {2 * C}")
        out = out.float()
        if self._stacked is None:
            return out[:, :C], out[:, C:]
        cond, uncond = out.chunk(2)
        k = self.guidance_scale(i)
        # = uncond + (1 + k)(cond - uncond), written in the original's op order for tight agreement
        return (1 + k) * cond[:, :C] - k * uncond[:, :C], cond[:, C:]

    def __call__(self, x: Tensor, sigma: float, *, return_variance: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Clamped x0 prediction (B, C, L); with ``return_variance`` also the variance fraction (v + 1) / 2."""
        i = self.index(float(sigma))
        eps, v = self.model_output(x * (1 / math.sqrt(1 + sigma**2)), i)
        denoised = (x - sigma * eps).clamp(-1, 1)
        return (denoised, (v + 1) / 2) if return_variance else denoised


def _floats(sigmas: Sigmas) -> list[float]:
    return sigmas.tolist() if isinstance(sigmas, Tensor) else [float(s) for s in sigmas]


def _randn(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """float32 standard normal on ``device``; drawn on the generator's device (e.g. a CPU generator) and moved."""
    dev = device if generator is None else generator.device
    return torch.randn(tuple(shape), generator=generator, device=dev, dtype=torch.float32).to(device)


def _noise_sampler(x: Tensor, generator: torch.Generator | None) -> NoiseSampler:
    return lambda sigma, sigma_next: _randn(x.shape, generator, x.device)


def _report(callback: Callback | None, i: int, x: Tensor, sigma: float, denoised: Tensor) -> None:
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})


# Samplers: sample_*(model, x, sigmas, *, generator, callback, disable[, noise_sampler]) -> x at sigmas[-1].
# ``x`` starts at sigmas[0]; callback gets {"i", "x", "sigma", "denoised"} AFTER step i ("sigma" = sigmas[i+1]).


@torch.inference_mode()
def sample_p(
    model: Denoiser,
    x: Tensor,
    sigmas: Sigmas,
    *,
    generator: torch.Generator | None = None,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """Ancestral DDPM with learned-range variance (Ho et al. 2020; Nichol & Dhariwal 2021): the original p_sample_loop.

    The posterior of step sigma -> sigma' has mean ``x0 + (sigma'^2/sigma^2)(x - x0)``; its log variance
    interpolates between the DDPM posterior's and beta's by the model's fraction. One noise draw per step,
    including the last (masked) one, as the original's RNG consumption.
    """
    s = _floats(sigmas)
    noise_sampler = noise_sampler or _noise_sampler(x, generator)
    for i in trange(len(s) - 1, disable=disable):
        sigma, sigma_next = s[i], s[i + 1]
        denoised, frac = model(x, sigma, return_variance=True)
        noise = noise_sampler(sigma, sigma_next)
        if sigma_next == 0:
            x = denoised
        else:
            r = sigma_next**2 / sigma**2
            log_post = math.log(sigma_next**2 * (1 - r))  # DDPM posterior variance, in x units
            log_beta = math.log((1 + sigma_next**2) * (sigma**2 - sigma_next**2) / (1 + sigma**2))
            std = (0.5 * (frac * log_beta + (1 - frac) * log_post)).exp()
            x = denoised + r * (x - denoised) + std * noise
        _report(callback, i, x, sigma_next, denoised)
    return x


@torch.inference_mode()
def sample_ddim(
    model: Denoiser,
    x: Tensor,
    sigmas: Sigmas,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """DDIM, eta = 0 (Song et al. 2021): ``x' = x0 + (sigma'/sigma)(x - x0)``, the first-order DPM-Solver++ step.

    Deterministic: ``generator`` is accepted for a uniform signature and unused (the fast fork's ddim drew an
    unused ``randn_like`` per step, so its RNG stream differs after diffusion; ours draws nothing).
    """
    s = _floats(sigmas)
    for i in trange(len(s) - 1, disable=disable):
        denoised = model(x, s[i])
        x = _dpm_step(x, denoised, s[i], s[i + 1])
        _report(callback, i, x, s[i + 1], denoised)
    return x


def _dpm_step(x: Tensor, d: Tensor, sigma: float, sigma_next: float) -> Tensor:
    """``(sigma'/sigma) x + (1 - e^{-h}) d`` with ``h = log(sigma/sigma')``: exact for a constant x0 estimate d."""
    if sigma_next == 0:
        return d
    ratio = sigma_next / sigma
    return ratio * x + (1 - ratio) * d


@torch.inference_mode()
def sample_dpmpp_2m(
    model: Denoiser,
    x: Tensor,
    sigmas: Sigmas,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), multistep second order in log sigma, on the TRAINED schedule.

    The sigmas are those of the respaced training schedule, so the model only sees timesteps it was trained
    on. (The fast fork instead used a continuous VP schedule with heuristic beta_0 = 0.025, beta_1 = 5 and
    called the model at ``t_continuous * 1000``, off the trained grid and without the guidance ramp.)
    Deterministic: ``generator`` is unused.
    """
    s = _floats(sigmas)
    old = None
    for i in trange(len(s) - 1, disable=disable):
        denoised = model(x, s[i])
        d = denoised
        if old is not None and s[i + 1] != 0:
            r = math.log(s[i - 1] / s[i]) / math.log(s[i] / s[i + 1])  # h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
        x = _dpm_step(x, d, s[i], s[i + 1])
        old = denoised
        _report(callback, i, x, s[i + 1], denoised)
    return x


@torch.inference_mode()
def sample_dpmpp_2m_sde(
    model: Denoiser,
    x: Tensor,
    sigmas: Sigmas,
    *,
    generator: torch.Generator | None = None,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022), eta = 1, midpoint correction, on the trained schedule."""
    s = _floats(sigmas)
    noise_sampler = noise_sampler or _noise_sampler(x, generator)
    old, h_last = None, 0.0
    for i in trange(len(s) - 1, disable=disable):
        sigma, sigma_next = s[i], s[i + 1]
        denoised = model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            a = -math.expm1(-2 * h)  # 1 - (sigma'/sigma)^2
            x = (sigma_next / sigma) ** 2 * x + a * denoised
            if old is not None:
                x = x + (0.5 * a * h / h_last) * (denoised - old)
            x = x + noise_sampler(sigma, sigma_next) * (sigma_next * math.sqrt(a))
            h_last = h
        old = denoised
        _report(callback, i, x, sigma_next, denoised)
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "p": sample_p,
    "ddim": sample_ddim,
    "dpm++2m": sample_dpmpp_2m,
    "dpm++2m-sde": sample_dpmpp_2m_sde,
}


def output_length(n_latents: int) -> int:
    """Mel frames (24 kHz, hop 256) for ``n_latents`` AR codes (1024 samples at 22.05 kHz each)."""
    return n_latents * 4 * OUTPUT_SAMPLE_RATE // AR_SAMPLE_RATE


@torch.inference_mode()
def decode_mel(
    model: DiffusionTts,
    aligned_embeddings: Tensor,
    L: int,
    *,
    sampler: str = "p",
    steps: int = 100,
    cond_free: bool = True,
    cond_free_k: float = 2.0,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    callback: Callback | None = None,
) -> Tensor:
    """Sample a mel spectrogram from the diffusion decoder (the original ``do_spectrogram_diffusion``).

    Parameters
    ----------
    model : a ``DiffusionTts`` (needs ``cfg.in_channels`` and ``unconditioned_embeddings(B, L)``).
    aligned_embeddings : (B, model_channels, L) from ``model.timestep_independent``.
    L : mel frames to produce (:func:`output_length` of the latent count).
    sampler : one of :data:`SAMPLERS` (``"p"`` = the original ancestral sampler).
    steps : spaced diffusion steps (2..4000); one (batched) model call each.
    cond_free, cond_free_k : conditioning-free guidance with the original ramp.
    temperature : scale of the initial noise.
    generator : RNG for the initial noise and the per-step noise (a CPU generator reproduces the original's
        CPU draws on any device); None uses the device's global RNG, as the original.
    progress : show a tqdm bar. ``callback`` is passed to the sampler.

    Returns
    -------
    (B, in_channels, L) float32 denormalised log-mel (natural log of magnitude), on the embeddings' device.

    Raises
    ------
    InvalidInputError for an unknown sampler, a step count out of range or a non-positive temperature.
    """
    if sampler not in SAMPLERS:
        raise InvalidInputError(f"unknown diffusion sampler {sampler!r}; available: {sorted(SAMPLERS)}")
    if not temperature > 0:
        raise InvalidInputError(f"diffusion temperature must be > 0, got {temperature}")
    schedule = respaced_schedule(int(steps))
    B, device = aligned_embeddings.shape[0], aligned_embeddings.device
    uncond = model.unconditioned_embeddings(B, L) if cond_free else None
    k = cond_free_k if cond_free else None
    denoiser = Denoiser(model, schedule, aligned_embeddings, uncond=uncond, cond_free_k=k)
    sigmas = schedule.sigmas
    noise = _randn((B, model.cfg.in_channels, L), generator, device) * temperature  # the original's x_T
    x = noise * math.sqrt(1 + float(sigmas[0]) ** 2)
    x = SAMPLERS[sampler](denoiser, x, sigmas, generator=generator, callback=callback, disable=not progress)
    return denormalize_mel(x)[:, :, :L]
