"""Voice conditioning: clips -> the two conditioning latents, voice mixing, and an on-disk latent cache.

The AR latent (1, C_ar) comes from 6 s windows of each 22.05 kHz clip through the AR model's conditioning encoder,
the diffusion latent (1, 2 C_diff) from each clip's first 4.27 s at 24 kHz through the diffusion decoder's
contextual embedder, both averaged over clips (``tortoise/api.py::TextToSpeech.get_conditioning_latents`` of
tortoise-tts 3.0.0). Latents are cached per voice, keyed by the clips' contents and the models' identity, in a cache
folder: never in the user's voice folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .audio import AR_SAMPLE_RATE, diffusion_conditioning_mel, format_conditioning
from .audio_io import atomic_write, load_audio
from .errors import AudioError, InvalidInputError, VoiceError
from .voices import RANDOM_VOICE, Voice, VoiceLibrary
from .weights import sha256_file

if TYPE_CHECKING:
    from .model_manager import ModelManager


@dataclass(frozen=True)
class Latents:
    """A voice's conditioning: ``ar`` (1, C_ar) for the AR model and CVVP, ``diffusion`` (1, 2 C_diff).

    ``diffusion`` is None when only the fast (HiFi-GAN) path needs the latents.
    """

    ar: Tensor
    diffusion: Tensor | None
    clips: tuple[Tensor, ...] = ()  # the 22.05 kHz clips (CVVP, mix weights), empty for latent-only or random voices

    def to(self, device: torch.device) -> Latents:
        diffusion = None if self.diffusion is None else self.diffusion.to(device)
        return Latents(self.ar.to(device), diffusion, self.clips)


def mix(latents: list[Latents]) -> Latents:
    """``a&b``: the latents of all the voices' clips together, as the original conditions on the concatenated clips.

    A voice's latent is the mean over its clips, so the mix is the mean weighted by clip count (two voices of 2 and 1
    clips mix 2/3 : 1/3), which is the mean over all the clips. A latents-only voice (``latents.pth``) counts as one
    clip; among themselves such voices mix equally, as in the original (which refuses to mix them with clip voices).
    The clip lists are concatenated (CVVP scores against all of them).
    """
    if not latents:
        raise VoiceError("no voice to mix")
    weights = torch.tensor([float(max(len(v.clips), 1)) for v in latents])
    weights = (weights / weights.sum())[:, None, None]  # (V, 1, 1)
    ar = (torch.stack([v.ar.float() for v in latents]) * weights).sum(0)
    parts = [v.diffusion for v in latents]
    diffusion = None if any(p is None for p in parts) else (torch.stack([p.float() for p in parts]) * weights).sum(0)
    return Latents(ar, diffusion, tuple(c for v in latents for c in v.clips))


def load_clips(voice: Voice) -> list[Tensor]:
    """The voice's clips as mono 22.05 kHz (1, T) tensors.

    A clip that cannot be used (corrupt, empty, silent, too long) is skipped with a warning naming it, so one stray
    file does not make the voice unusable; ``VoiceError`` when no clip is left.
    """
    if not voice.clips:
        raise VoiceError(f"voice {voice.name!r} has no audio clips")
    clips, problems = [], []
    for path in voice.clips:
        try:
            clips.append(load_audio(path, AR_SAMPLE_RATE))
        except (AudioError, InvalidInputError) as e:
            problems.append(str(e))
            warnings.warn(f"voice {voice.name!r}: skipped a clip: {e}", stacklevel=2)
    if not clips:
        raise VoiceError(
            f"voice {voice.name!r} has no usable clip in {voice.path}: {problems[0]} Replace or remove the files."
        )
    return clips


@torch.inference_mode()
def compute_latents(ar_model, diffusion_model, clips: list[Tensor]) -> Latents:
    """Conditioning latents of a list of 22.05 kHz clips (1, T) with the given models (on their device).

    ``diffusion_model`` may be None: then only the AR latent is computed (fast mode). A clip longer than 6 s is
    conditioned on its middle 6 s, always the same (see ``tortoise.audio.format_conditioning``).
    """
    if not clips:
        raise VoiceError("a voice needs at least one clip")
    ar_param = next(ar_model.parameters())
    ar_mels = torch.stack([format_conditioning(c)[0] for c in clips]).unsqueeze(0)  # (1, n, 80, 517)
    ar = ar_model.get_conditioning(ar_mels.to(ar_param.device, ar_param.dtype)).float().cpu()
    if diffusion_model is None:
        return Latents(ar, None, tuple(clips))
    diff_param = next(diffusion_model.parameters())
    diff_mels = torch.stack([diffusion_conditioning_mel(c)[0] for c in clips]).unsqueeze(0)  # (1, n, 100, 401)
    diffusion = diffusion_model.get_conditioning(diff_mels.to(diff_param.device, diff_param.dtype)).float()
    return Latents(ar, diffusion.cpu(), tuple(clips))


def read_latents_file(path: Path) -> Latents:
    """A ``latents.pth`` (a pair of tensors (1, C_ar), (1, 2 C_diff)), loaded without running pickled code."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or not a tensor pair
        raise VoiceError(f"cannot read {path}: {e}. Delete it or export the voice's latents again.") from e
    if isinstance(obj, dict):
        obj = (obj.get("ar"), obj.get("diffusion"))
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(t, Tensor) for t in obj)):
        raise VoiceError(f"{path} must hold two tensors (ar latent, diffusion latent)")
    ar, diffusion = (t.float().reshape(1, -1) for t in obj)
    return Latents(ar, diffusion)


def write_latents_file(path: Path, latents: Latents) -> Path:
    if latents.diffusion is None:
        raise VoiceError("these latents lack the diffusion part; compute them with the diffusion model present")
    return atomic_write(path, lambda tmp: torch.save((latents.ar.cpu(), latents.diffusion.cpu()), tmp))


# How a latent is computed from the clips: bumped when that changes, so entries made the old way are not reused.
# 2: the AR/CVVP conditioning is the fixed middle 6 s of a long clip (audio.conditioning_window), was a random window.
LATENT_RECIPE = 2


def cache_key(voice: Voice, model_identity: str) -> str:
    """Changes when any clip's content, the models (files, configs, precision) or :data:`LATENT_RECIPE` change."""
    h = hashlib.sha256(f"recipe {LATENT_RECIPE}\n{model_identity}".encode())
    for clip in voice.clips:
        h.update(clip.name.encode())
        h.update(sha256_file(clip).encode())
    return h.hexdigest()[:24]


def default_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tortoise" / "latents"


class LatentCache:
    """Conditioning latents on disk, one file per (voice, clips, models); corrupt entries are recomputed."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, voice: Voice, model_identity: str) -> Path:
        return self.directory / f"{voice.name}-{cache_key(voice, model_identity)}.pth"

    def get(self, voice: Voice, model_identity: str) -> Latents | None:
        path = self.path(voice, model_identity)
        if not path.is_file():
            return None
        try:
            return read_latents_file(path)
        except VoiceError:
            with contextlib.suppress(OSError):  # a read-only cache: the entry is simply recomputed each time
                path.unlink(missing_ok=True)
            return None

    def put(self, voice: Voice, model_identity: str, latents: Latents) -> Path | None:
        """Store the latents; a cache folder that cannot be written only costs speed (a warning, returns None)."""
        try:
            return write_latents_file(self.path(voice, model_identity), latents)
        except OSError as e:
            warnings.warn(
                f"cannot cache the latents of voice {voice.name!r} in {self.directory} ({e.strerror or e}); "
                "they will be computed again next time",
                stacklevel=2,
            )
            return None

    def has(self, voice: Voice, model_identity: str) -> bool:
        return self.path(voice, model_identity).is_file()


class VoiceConditioner:
    """Conditioning latents of voices by name (``a&b`` mixes, ``random``): read from a latents-only voice, taken from
    the latent cache, or computed with the models (and cached)."""

    def __init__(self, voices: VoiceLibrary, cache: LatentCache, models: ModelManager):
        self.voices, self.cache, self.models = voices, cache, models

    def check(self, voice: str) -> None:
        """Raise ``VoiceError`` unless every name in ``voice`` (``a&b`` mixes) is ``random`` or a known voice."""
        names = [v.strip() for v in voice.split("&") if v.strip()]
        if not names:
            raise VoiceError("no voice given; use a voice name, several joined with '&', or 'random'")
        for name in names:
            if name != RANDOM_VOICE:
                self.voices.get(name)

    def has_cached(self, voice: str) -> bool:
        """Whether ``voice``'s conditioning latents are ready without computing (cached, or a latents-only voice)."""
        v = self.voices.get(voice)
        return not v.clips or self.cache.has(v, self.models.identity())

    def latents(self, voice: str, *, diffusion: bool = True) -> Latents:
        """Conditioning latents of ``voice``: a name, ``random``, or several names mixed with ``&``.

        With ``diffusion=False`` (fast mode) the diffusion latent may be left out, so the diffusion model is not
        needed when the voice's latents are not cached yet.
        """
        self.check(voice)
        names = [v.strip() for v in voice.split("&") if v.strip()]
        if RANDOM_VOICE in names:
            with self.models.using("rlg_auto") as (rlg_auto,):
                ar = rlg_auto.sample(1).float().cpu()
            if not diffusion:
                return Latents(ar, None)
            with self.models.using("rlg_diffuser") as (rlg_diffuser,):
                return Latents(ar, rlg_diffuser.sample(1).float().cpu())
        return mix([self._one(name, diffusion) for name in names])

    def _one(self, name: str, diffusion: bool) -> Latents:
        voice = self.voices.get(name)
        if not voice.clips:
            return read_latents_file(voice.latents)
        identity = self.models.identity()
        cached = self.cache.get(voice, identity)
        clips = load_clips(voice)
        if cached is not None:
            return Latents(cached.ar, cached.diffusion, tuple(clips))
        if not diffusion:
            with self.models.using("autoregressive") as (ar,):
                return compute_latents(ar, None, clips)
        with self.models.using("autoregressive", "diffusion_decoder") as (ar, diffusion_model):
            latents = compute_latents(ar, diffusion_model, clips)
        self.cache.put(voice, identity, latents)
        return latents
