"""Reference-side worker of bench_diffusion.py: tortoise-tts 3.0.0's DiffusionTts, SpacedDiffusion and UnivNet.

Runs inside the reference venv WITHOUT our repo on the path. Models are built with the constructor arguments of the
reference's ``TextToSpeech`` and load the same files; sampling is the reference's own ``p_sample_loop`` through
``load_discrete_vocoder_diffuser`` (what its ``do_spectrogram_diffusion`` runs), vocoding its ``inference``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import torch
from bench_diffusion import inputs
from tortoise.models.vocoder import UnivNetGenerator

from tortoise.api import load_discrete_vocoder_diffuser
from tortoise.models.diffusion_decoder import DiffusionTts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, required=True)
    ap.add_argument("--codes", type=int, required=True)
    args = ap.parse_args()
    diffusion = DiffusionTts(model_channels=1024, num_layers=10, in_channels=100, out_channels=200,
                             in_latent_channels=1024, in_tokens=8193, dropout=0, use_fp16=False, num_heads=16,
                             layer_drop=0, unconditioned_percentage=0).cpu().eval()  # fmt: skip
    diffusion.load_state_dict(torch.load(args.models_dir / "diffusion_decoder.pth", weights_only=False))
    vocoder = UnivNetGenerator().cpu()
    vocoder.load_state_dict(torch.load(args.models_dir / "vocoder.pth", weights_only=False)["model_g"])
    vocoder.eval(inference=True)
    latents, cond, L = inputs(args.models_dir, args.codes)
    with torch.no_grad():
        aligned = diffusion.timestep_independent(latents, cond, L, False)
    mel = torch.randn(1, 100, L, generator=torch.Generator().manual_seed(9)) * 2 - 6

    def handle(req):
        if req["cmd"] == "load":
            return {"L": L, "params": sum(p.numel() for p in diffusion.parameters())}
        if req["cmd"] == "vocoder":
            t = time.perf_counter()
            with torch.no_grad():
                wav = vocoder.inference(mel)
            return {"s": time.perf_counter() - t, "samples": wav.shape[-1]}
        bf16 = req["dtype"] == "bf16"
        diffusion.enable_fp16 = bf16  # CPU autocast = bfloat16 for layers[1:]
        for layer in diffusion.layers[1:]:  # and their weights in bf16: no per-call weight casts
            common.reference_to_bf16(layer) if bf16 else layer.float()
        diffuser = load_discrete_vocoder_diffuser(desired_diffusion_steps=req["steps"], cond_free=req["cond_free"],
                                                  cond_free_k=2.0)  # fmt: skip
        torch.manual_seed(req["seed"])
        t = time.perf_counter()
        with torch.no_grad():
            noise = torch.randn(1, 100, L)
            kwargs = {"precomputed_aligned_embeddings": aligned}
            diffuser.p_sample_loop(diffusion, (1, 100, L), noise=noise, model_kwargs=kwargs, progress=False)
        return {"step_s": (time.perf_counter() - t) / req["steps"]}

    common.serve(handle)


if __name__ == "__main__":
    main()
