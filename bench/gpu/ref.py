"""Reference side of bench/gpu/run.py: tortoise-tts 3.0.0 ``TextToSpeech`` on the GPU at its fastest.

``kv_cache=True, half=True``, its automatic batch size (``pick_best_batch_size_for_gpu``: 16 with more than 14 GB
free), no redaction, and its models kept on the GPU (its ``temporary_cuda`` moves each model to the GPU and back to
the CPU around every stage; here it leaves them there, which only removes copies). Run WITHOUT our repo on the path:
``import tortoise`` is the reference. Stages are timed like bench/ref_e2e.py, synchronised with the GPU.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common

import tortoise.api as ref_api
from tortoise.api import TextToSpeech


def _sync() -> None:
    if torch.cuda.is_available():  # the script also runs on a CPU (--quick)
        torch.cuda.synchronize()


def main() -> None:
    models_dir = Path(sys.argv[1])
    t = time.perf_counter()
    tts = TextToSpeech(models_dir=str(models_dir), enable_redaction=False, kv_cache=True, half=True)
    load_s = time.perf_counter() - t

    @contextlib.contextmanager
    def resident(model):
        yield model.to(tts.device)

    tts.temporary_cuda = resident
    latents = common.write_latents(models_dir / "benchvoice" / "latents.pth")
    seconds: dict[str, float] = {}

    def timed(stage: str, fn):
        @functools.wraps(fn)
        def run(*a, **kw):
            _sync()
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                _sync()
                seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start

        return run

    ar = tts.autoregressive
    ar.inference_speech = timed("autoregressive", ar.inference_speech)
    ar.forward = timed("latents", ar.forward)
    tts.clvp.forward = timed("clvp", tts.clvp.forward)
    tts.vocoder.inference = timed("vocoder", tts.vocoder.inference)
    ref_api.do_spectrogram_diffusion = timed("diffusion", ref_api.do_spectrogram_diffusion)

    def handle(req):
        if req["cmd"] == "load":
            return {"load_s": load_s, "batch": tts.autoregressive_batch_size}
        seconds.clear()
        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() if gpu else None
        _sync()
        t = time.perf_counter()
        settings = dict(max_mel_tokens=req["tokens"], use_deterministic_seed=req["seed"], verbose=False)
        wav = tts.tts_with_preset(req["text"], preset=req["preset"], conditioning_latents=latents, **settings)
        _sync()
        total = time.perf_counter() - t
        peak = torch.cuda.max_memory_allocated() if gpu else None
        return {"total_s": total, "stages": dict(seconds), "audio_s": wav.shape[-1] / 24000,
                "batch": tts.autoregressive_batch_size, "peak_bytes": peak, "before_bytes": before}  # fmt: skip

    common.serve(handle)


if __name__ == "__main__":
    main()
