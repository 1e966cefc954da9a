"""Our side of bench/gpu/run.py: one long-lived worker holding a ``TextToSpeech`` per (precision, graph) setting.

Requests (JSON lines, see bench/common.py ``serve``): ``load``, ``tts``, ``first_audio``, ``step``, ``memory``,
``oom``. Every figure is synchronised with the device (the pipeline's own stage timer synchronises).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common

from tortoise import devices, sampling
from tortoise.api import TextToSpeech, candidate_bytes
from tortoise.options import preset
from tortoise.voices import VoiceLibrary

VOICE = "benchvoice"


class Ours:
    def __init__(self, models_dir: Path, device: str):
        self.models_dir, self.device = models_dir, torch.device(device)
        self.tts: dict[tuple[str, bool], TextToSpeech] = {}

    def get(self, dtype: str, graph: bool) -> TextToSpeech:
        return self.tts[(dtype, graph)]

    def load(self, dtype: str, graph: bool) -> dict:
        t = time.perf_counter()
        tts = TextToSpeech(models_dir=self.models_dir, device=self.device, precision=dtype, offload="none",
                           compile=graph, voices=VoiceLibrary([self.models_dir]))  # fmt: skip
        for name in ["autoregressive", "clvp2", "diffusion_decoder", "vocoder", "hifidecoder"]:
            tts.model(name)
        load_s = time.perf_counter() - t
        warm_s = tts.warm_up()
        self.tts[(dtype, graph)] = tts
        resident = tts.models.resident_bytes()
        return {"load_s": load_s, "warm_up_s": warm_s, "resident_bytes": resident}

    def run_tts(self, dtype: str, graph: bool, text: str, preset_name: str, tokens: int, seed: int) -> dict:
        tts = self.get(dtype, graph)
        options = preset(preset_name, max_mel_tokens=tokens, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no stop code": every sample is exactly `tokens` codes by design
            before = devices.allocated_memory(self.device)
            devices.reset_peak_memory(self.device)
            devices.synchronize(self.device)
            t = time.perf_counter()
            result = tts.tts(text, VOICE, options)
            total = time.perf_counter() - t
        peak = devices.peak_memory(self.device)
        return {"total_s": total, "stages": result.timings, "audio_s": result.seconds,
                "batch": tts.batch_size(tts.model("autoregressive"), tokens, len(tts.tokenizer.encode_for_model(text))),
                "peak_bytes": peak, "before_bytes": before}  # fmt: skip

    def first_audio(self, dtype: str, graph: bool, text: str, tokens: int, seed: int) -> dict:
        """Fast mode (HiFi-GAN), streamed: seconds to the first chunk and to the end."""
        tts = self.get(dtype, graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            devices.synchronize(self.device)
            t = time.perf_counter()
            first, n = None, 0
            for chunk in tts.stream(text, VOICE, preset("fast_mode", max_mel_tokens=tokens, seed=seed)):
                first = time.perf_counter() - t if first is None else first
                n += chunk.numel()
        return {"first_s": first, "total_s": time.perf_counter() - t, "audio_s": n / 24000}

    @torch.inference_mode()  # like TextToSpeech.tts: the KV caches were made there, as inference tensors
    def step(self, dtype: str, batches: list[int], n1: int, n2: int) -> dict:
        """ms per decode step, eager vs recorded graph, from the difference of two generation lengths."""
        out = {}
        for graph in (False, True):
            tts = self.get(dtype, graph)
            ar = tts.model("autoregressive")
            step = tts.decode_steps.get("autoregressive")  # the recorded step (graph), else None: eager
            cond = torch.randn(1, ar.cfg.model_dim, device=self.device, dtype=next(ar.parameters()).dtype)
            text = torch.tensor([tts.tokenizer.encode_for_model(common.SENTENCE)], device=self.device)
            for B in batches:
                times = {}
                for n in (n1, n2, n1, n2):
                    devices.synchronize(self.device)
                    t = time.perf_counter()
                    sampling.generate(ar, cond, text, num_samples=B, max_tokens=n, stop_check_every=16, step=step)
                    devices.synchronize(self.device)
                    times.setdefault(n, []).append(time.perf_counter() - t)
                ms = (min(times[n2]) - min(times[n1])) / (n2 - n1) * 1e3
                out[f"{'graph' if graph else 'eager'} B={B}"] = ms
        return out

    @torch.inference_mode()
    def memory(self, dtype: str, batches: list[int], tokens: int) -> dict:
        """Measured bytes per AR candidate (peak over the generation, KV cache allocated anew) vs the estimate."""
        tts = self.get(dtype, False)
        ar = tts.model("autoregressive")
        cond = torch.randn(1, ar.cfg.model_dim, device=self.device, dtype=next(ar.parameters()).dtype)
        ids = tts.tokenizer.encode_for_model(common.SENTENCE)
        text = torch.tensor([ids], device=self.device)
        out = {}
        for B in batches:
            for block in ar.gpt.h:  # drop the caches so that this batch allocates its own
                block.attn.kv_cache = None
            ar.gpt.max_batch = ar.gpt.max_seq = 0
            devices.empty_cache(self.device)
            before = devices.allocated_memory(self.device)
            devices.reset_peak_memory(self.device)
            sampling.generate(ar, cond, text, num_samples=B, max_tokens=tokens)
            peak = devices.peak_memory(self.device) - before
            estimate = candidate_bytes(ar.cfg, tokens, tts.dtype, len(ids))
            out[str(B)] = {"peak_bytes": peak, "per_candidate": peak / B, "estimate_per_candidate": estimate}
        return out

    def oom(self, dtype: str, ask: int, fits: int, tokens: int) -> dict:
        """Cap this process's GPU memory so that ``fits`` candidates fit and ``ask`` do not; ask for ``ask``."""
        tts = TextToSpeech(models_dir=self.models_dir, device=self.device, precision=dtype, offload="none",
                           batch_size=ask, voices=VoiceLibrary([self.models_dir]))  # fmt: skip
        tts.models.loaded.update(self.get(dtype, False).models.loaded)  # the loaded models, shared
        ar = tts.model("autoregressive")
        for block in ar.gpt.h:
            block.attn.kv_cache = None
        ar.gpt.max_batch = ar.gpt.max_seq = 0
        devices.empty_cache(self.device)
        ids = tts.tokenizer.encode_for_model(common.SENTENCE)
        per = candidate_bytes(ar.cfg, tokens, tts.dtype, len(ids))
        total = devices.capabilities(self.device).total_memory
        cap = devices.allocated_memory(self.device) + int(per * fits * 1.3)
        devices.limit_memory(self.device, cap / total)
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                t = time.perf_counter()
                result = tts.tts(common.SENTENCE, VOICE, preset("ultra_fast", num_autoregressive_samples=ask,
                                                                max_mel_tokens=tokens, seed=1))  # fmt: skip
                elapsed = time.perf_counter() - t
        finally:
            devices.limit_memory(self.device, 1.0)
        notes = [str(w.message) for w in seen if "out of memory" in str(w.message)]
        return {"asked": ask, "cap_bytes": cap, "per_candidate_estimate": per, "final_batch": tts._batch_size,
                "warnings": notes, "candidates": len(result.scores), "seconds": elapsed}  # fmt: skip


def main() -> None:
    models_dir, device = Path(sys.argv[1]), sys.argv[2]
    ours = Ours(models_dir, device)

    def handle(req: dict) -> dict:
        cmd = req.pop("cmd")
        if cmd == "load":
            return ours.load(**req)
        if cmd == "tts":
            return ours.run_tts(**req)
        return getattr(ours, cmd)(**req)

    common.serve(handle)


if __name__ == "__main__":
    main()
