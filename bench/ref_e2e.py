"""Reference-side worker of bench_e2e.py: tortoise-tts 3.0.0's ``TextToSpeech.tts_with_preset`` at ultra_fast.

Runs inside the reference venv WITHOUT our repo on the path; ``HF_HUB_OFFLINE=1`` (set by the driver) makes its
``hf_hub_download`` find the checkpoints in the cache layout ``common.write_real_checkpoints`` made in --models-dir.
The stages are timed by wrappers around the calls its ``tts`` makes (instance attributes, and the module-level
``do_spectrogram_diffusion`` it looks up at call time); its code is otherwise run as released.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from pathlib import Path

import common
import torch

import tortoise.api as ref_api
from tortoise.api import TextToSpeech


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, required=True)
    args = ap.parse_args()
    t = time.perf_counter()
    tts = TextToSpeech(autoregressive_batch_size=16, models_dir=str(args.models_dir), enable_redaction=False,
                       kv_cache=True, half=False)  # fmt: skip
    load_s = time.perf_counter() - t
    latents = common.write_latents(args.models_dir / "benchvoice" / "latents.pth")
    seconds: dict[str, float] = {}
    state = {"bf16": False}

    def timed(stage: str, fn, reduced: bool = False):
        @functools.wraps(fn)
        def run(*a, **kw):
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if reduced and state["bf16"] else contextlib.nullcontext()
            start = time.perf_counter()
            try:
                with ctx:
                    return fn(*a, **kw)
            finally:
                seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start

        return run

    ar = tts.autoregressive
    ar.inference_speech = timed("autoregressive", ar.inference_speech, reduced=True)
    ar.forward = timed("latents", ar.forward, reduced=True)  # tts() calls autoregressive(...) only for latents
    tts.clvp.forward = timed("clvp", tts.clvp.forward, reduced=True)
    tts.vocoder.inference = timed("vocoder", tts.vocoder.inference)
    ref_api.do_spectrogram_diffusion = timed("diffusion", ref_api.do_spectrogram_diffusion)

    def handle(req):
        if req["cmd"] == "load":
            bf16 = req["dtype"] == "bf16"
            state["bf16"] = bf16
            for model in (tts.autoregressive, tts.clvp):
                common.reference_to_bf16(model) if bf16 else model.float()
            tts.diffusion.enable_fp16 = bf16  # CPU autocast: bfloat16 for layers[1:] ...
            for layer in tts.diffusion.layers[1:]:  # ... with their weights in bf16 (no per-call weight casts)
                common.reference_to_bf16(layer) if bf16 else layer.float()
            return {"load_s": load_s}
        seconds.clear()
        cond = (latents[0].to(torch.bfloat16) if state["bf16"] else latents[0], latents[1])
        t = time.perf_counter()
        settings = dict(max_mel_tokens=req["tokens"], use_deterministic_seed=req["seed"], verbose=False)
        wav = tts.tts_with_preset(common.SENTENCE, preset="ultra_fast", conditioning_latents=cond, **settings)
        total = time.perf_counter() - t
        return {"total_s": total, "stages": dict(seconds), "audio_s": wav.shape[-1] / 24000}

    common.serve(handle)


if __name__ == "__main__":
    main()
