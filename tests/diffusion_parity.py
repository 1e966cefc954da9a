"""The original's ``p_mean_variance`` written with our schedule and denoiser (the golden and sampler tests use it).

Generation never calls it (our samplers work in k-diffusion's sigma form); it checks that the respaced schedule's
arrays and ``Denoiser.model_output`` (guided eps, variance values) are the original's, step by step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tortoise.diffusion import Denoiser


@torch.inference_mode()
def p_mean_variance(denoiser: Denoiser, x: Tensor, i: int) -> dict[str, Tensor]:
    """tortoise/utils/diffusion.py::GaussianDiffusion.p_mean_variance(clip_denoised=True) of tortoise-tts 3.0.0 at
    spaced step i, in the model's ``x_t`` space."""
    s = denoiser.schedule
    eps, v = denoiser.model_output(x, i)
    f = (v + 1) / 2  # learned range: log variance between the posterior's (f=0) and beta's (f=1)
    log_variance = f * math.log(float(s.betas[i])) + (1 - f) * float(s.posterior_log_variance_clipped[i])
    x0 = (float(s.sqrt_recip_alphas_cumprod[i]) * x - float(s.sqrt_recipm1_alphas_cumprod[i]) * eps).clamp(-1, 1)
    mean = float(s.posterior_mean_coef1[i]) * x0 + float(s.posterior_mean_coef2[i]) * x
    return {"mean": mean, "variance": log_variance.exp(), "log_variance": log_variance, "pred_xstart": x0}
