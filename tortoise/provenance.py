"""What determines a take's audio besides its text, voice, options and seed, for the output files' metadata.

With the same text, voice, options and seed, what is recorded here (device kind, precision, how the random numbers
are drawn, the model files, the voice's clips, the library and torch versions) gives the same audio again: in another
process, at another batch size, after another precision was used (README, "Reproducible takes").
"""

from __future__ import annotations

import hashlib

import torch

from . import __version__
from .options import GenerationOptions
from .vocoders import VOCODERS
from .voices import RANDOM_VOICE


def models_used(voice: str, options: GenerationOptions) -> list[str]:
    """The checkpoints a generation with these settings runs (the redaction aligner aside)."""
    names = ["autoregressive"]
    if options.mode == "fast":
        names.append("hifidecoder")
    else:
        if options.num_autoregressive_samples > options.candidates:
            names.append("clvp2")
        if options.cvvp_amount > 0:
            names.append("cvvp")
        names += ["diffusion_decoder", VOCODERS[options.vocoder].checkpoint]
    if RANDOM_VOICE in _voice_names(voice):
        names += ["rlg_auto"] + ([] if options.mode == "fast" else ["rlg_diffuser"])
    return names


def _voice_names(voice: str) -> list[str]:
    return [v.strip() for v in voice.split("&") if v.strip()]


def _model_files(tts, names: list[str]) -> dict[str, dict]:
    """Each checkpoint's file and size, with its sha256 where the models folder's manifest recorded it for that size."""
    from . import model_zoo
    from .weights import read_manifest

    manifest = read_manifest(tts.models_dir)
    out = {}
    for name in names:
        custom = tts.checkpoints.get(name)
        path = custom or model_zoo.expected_path(name, tts.models_dir)
        size = path.stat().st_size if path.is_file() else None
        entry = {"file": str(path) if custom else path.name, "bytes": size}
        recorded = manifest.get(path.name) if not custom else None
        if recorded and recorded.get("size") == size:
            entry["sha256"] = recorded["sha256"]
        out[name] = entry
    return out


def _voice_digests(tts, voice: str) -> dict[str, str]:
    """sha256 (24 hex digits) over each named voice's clip names and contents, or its latents file."""
    from .weights import sha256_file

    out = {}
    for name in _voice_names(voice):
        if name == RANDOM_VOICE:
            out[name] = RANDOM_VOICE  # made from the seed by the rlg models
            continue
        v = tts.voices.get(name)
        h = hashlib.sha256()
        for path in v.clips or (v.latents,):
            h.update(path.name.encode())
            h.update(sha256_file(path).encode())
        out[name] = h.hexdigest()[:24]
    return out


def describe(tts, voice: str, options: GenerationOptions) -> dict:
    """The engine settings and files behind a take of ``voice`` with ``options`` on the ``TextToSpeech`` ``tts``."""
    return {
        "device": tts.device.type,  # the kind: results are reproducible on the same kind of device
        "precision": str(tts.dtype).removeprefix("torch."),
        "draws": tts.draws,  # per_candidate: independent of the batch size
        "compile": bool(tts.compile),
        "redaction": bool(tts.enable_redaction),
        "models": _model_files(tts, models_used(voice, options)),
        "voice": _voice_digests(tts, voice),
        "tortoise": __version__,
        "torch": torch.__version__,
    }
