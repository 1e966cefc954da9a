"""What one generation does: ``GenerationOptions``, the presets, and their validation (once, in one place).

Presets are plain instances; change one with ``dataclasses.replace(PRESETS["fast"], diffusion_steps=50)``.
The original TorToiSe's four presets keep its settings (ancestral ``p`` sampler, temperature 0.8, UnivNet). The fast
fork's presets use its base temperature 0.2 and its samplers; ``ultra_fast`` and ``fast`` are the original's, so the
fork's presets of those names are offered as ``ultra_fast_fork`` and ``fast_fork`` (named honestly, not silently
redefined). ``original`` reproduces the original's own ``tts()`` defaults; ``fast_mode`` is the original's api_fast
(one sample, HiFi-GAN decoder instead of diffusion + vocoder; in that mode the diffusion settings are unused).
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from .errors import InvalidInputError
from .vocoders import VOCODERS

SAMPLERS = ("p", "ddim", "dpm++2m", "dpm++2m-sde")  # diffusion.SAMPLERS implements each (a test checks)
MODES = ("standard", "fast")  # fast: GPT latents straight through the HiFi-GAN decoder (no diffusion, no vocoder)
MAX_SEED = 2**63 - 1  # the largest int64; a long take's segment i uses seed + i, which must fit too

# TextToSpeech(precision=..., offload=...): what devices.resolve_precision / devices.offload_policy accept. Named here,
# without torch, so that the CLI's and the app's choices come from the same lists.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OFFLOAD_POLICIES = ("auto", "none", "models", "cpu")


@dataclass(frozen=True)
class GenerationOptions:
    """Settings of one ``TextToSpeech.tts`` call. Units and ranges are checked by :func:`verify`."""

    num_autoregressive_samples: int = 16  # candidates sampled from the AR model, ranked by CLVP
    candidates: int = 1  # best candidates returned (each fully decoded)
    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 50
    repetition_penalty: float = 2.0
    max_mel_tokens: int = 500  # at most ~23 s of speech per segment
    cvvp_amount: float = 0.0  # weight of CVVP in the ranking (0: CLVP only)
    diffusion_steps: int = 30
    sampler: str = "p"
    cond_free: bool = True
    cond_free_k: float = 2.0
    diffusion_temperature: float = 1.0
    vocoder: str = "univnet"
    mode: str = "standard"
    voicefixer: bool = False  # restore the output with voicefixer (optional package; 24 kHz out)
    seed: int | None = None  # None: a new random seed, reported in the result


def _preset(samples: int, steps: int, cond_free: bool, sampler: str, temperature: float) -> GenerationOptions:
    return GenerationOptions(
        num_autoregressive_samples=samples,
        diffusion_steps=steps,
        cond_free=cond_free,
        sampler=sampler,
        temperature=temperature,
    )


ORIGINAL_TEMPERATURE, FORK_TEMPERATURE = 0.8, 0.2

PRESETS: dict[str, GenerationOptions] = {
    # the original tortoise-tts presets (api.py)
    "ultra_fast": _preset(16, 30, False, "p", ORIGINAL_TEMPERATURE),
    "fast": _preset(96, 80, True, "p", ORIGINAL_TEMPERATURE),
    "standard": _preset(256, 200, True, "p", ORIGINAL_TEMPERATURE),
    "high_quality": _preset(256, 400, True, "p", ORIGINAL_TEMPERATURE),
    # the 152334H fast fork's presets (its base temperature is 0.2)
    "single_sample": _preset(8, 10, True, "ddim", FORK_TEMPERATURE),
    "ultra_fast_fork": _preset(16, 10, True, "ddim", FORK_TEMPERATURE),
    "very_fast": _preset(32, 30, True, "dpm++2m", FORK_TEMPERATURE),
    "fast_fork": _preset(96, 20, True, "dpm++2m", FORK_TEMPERATURE),
    "ultra_fast_old": _preset(16, 30, False, "ddim", FORK_TEMPERATURE),
    "fast_old": _preset(96, 80, True, "ddim", FORK_TEMPERATURE),
    # the original tts() called without a preset: 512 samples, 100 p-sampler steps, temperature 0.8, UnivNet
    "original": _preset(512, 100, True, "p", ORIGINAL_TEMPERATURE),
    # the original's api_fast: one autoregressive sample, decoded by the HiFi-GAN decoder (streams well)
    "fast_mode": dataclasses.replace(_preset(1, 30, False, "p", ORIGINAL_TEMPERATURE), mode="fast"),
}


def _range(name: str, value, lo, hi, *, integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidInputError(f"{name}={value!r} must be a whole number between {lo} and {hi}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInputError(f"{name}={value!r} is out of range; valid: {lo} .. {hi}")


def verify(options: GenerationOptions) -> GenerationOptions:
    """Check every option once; raise ``InvalidInputError`` naming the bad value and the valid range."""
    o = options
    _range("num_autoregressive_samples", o.num_autoregressive_samples, 1, 4096, integer=True)
    _range("candidates", o.candidates, 1, o.num_autoregressive_samples, integer=True)
    _range("temperature", o.temperature, 0.01, 5.0)
    _range("top_p", o.top_p, 0.01, 1.0)
    _range("top_k", o.top_k, 0, 8194, integer=True)
    _range("repetition_penalty", o.repetition_penalty, 1.0, 10.0)
    _range("max_mel_tokens", o.max_mel_tokens, 8, 600, integer=True)
    _range("cvvp_amount", o.cvvp_amount, 0.0, 1.0)
    _range("diffusion_steps", o.diffusion_steps, 2, 4000, integer=True)
    _range("cond_free_k", o.cond_free_k, 0.0, 20.0)
    _range("diffusion_temperature", o.diffusion_temperature, 0.01, 2.0)
    if o.sampler not in SAMPLERS:
        raise InvalidInputError(f"sampler={o.sampler!r} is unknown; choose one of {', '.join(SAMPLERS)}")
    if o.mode not in MODES:
        raise InvalidInputError(f"mode={o.mode!r} is unknown; choose one of {', '.join(MODES)}")
    if o.vocoder not in VOCODERS:
        raise InvalidInputError(f"vocoder={o.vocoder!r} is unknown; choose one of {', '.join(VOCODERS)}")
    if o.seed is not None:
        _range("seed", o.seed, 0, MAX_SEED, integer=True)
    return o


def new_seed() -> int:
    """A fresh seed for ``seed=None`` (reported with the result), from the OS: torch's generator is in the same state
    in every fresh process. Below 2**32, so that it is short to note down."""
    return secrets.randbelow(2**32)


def preset(name: str, **overrides) -> GenerationOptions:
    """A preset with overrides applied and verified, e.g. ``preset("fast", seed=1)``."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(GenerationOptions)}
    unknown = set(overrides) - fields
    if unknown:
        raise InvalidInputError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(fields)}")
    return verify(dataclasses.replace(PRESETS[name], **overrides))
