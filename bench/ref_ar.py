"""Reference-side worker of bench_ar.py: tortoise-tts 3.0.0's UnifiedVoice + HF generate with kv_cache=True.

Runs inside the reference venv WITHOUT our repo on the path (``import tortoise`` is the reference). Builds the model
with the constructor arguments the reference's ``TextToSpeech`` uses, loads the same ``autoregressive.pth`` our side
loads, and decodes with ``inference_speech`` exactly as the reference's ``tts()`` calls it.

bf16: the reference has no CPU reduced-precision path (its ``half`` is CUDA fp16 autocast). Its weights, except the
LayerNorms, are cast to bfloat16 and it runs under ``torch.autocast("cpu", bfloat16)``: the mechanism its ``half``
uses on CUDA, without per-step weight casts (see ``common.reference_to_bf16``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import torch
import torch.nn.functional as F
from tortoise.models.autoregressive import UnifiedVoice
from tortoise.utils.tokenizer import VoiceBpeTokenizer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def build(models_dir: Path, dtype: torch.dtype) -> tuple[UnifiedVoice, dict]:
    model = UnifiedVoice(max_mel_tokens=604, max_text_tokens=402, max_conditioning_inputs=2, layers=30,
                         model_dim=1024, heads=16, number_text_tokens=255, start_text_token=255, checkpointing=False,
                         train_solo_embeddings=False).cpu().eval()  # fmt: skip
    res = model.load_state_dict(torch.load(models_dir / "autoregressive.pth", weights_only=False), strict=False)
    model.post_init_gpt2_config(use_deepspeed=False, kv_cache=True, half=False)
    if dtype == torch.bfloat16:
        common.reference_to_bf16(model)
    return model, {"missing": len(res.missing_keys), "unexpected": len(res.unexpected_keys)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", type=Path, required=True)
    args = ap.parse_args()
    tok = VoiceBpeTokenizer()
    text = F.pad(torch.IntTensor(tok.encode(common.SENTENCE)).unsqueeze(0), (0, 1))  # as tts() makes it
    cond = common.write_latents(args.models_dir / "benchvoice" / "latents.pth")[0]
    models: dict[str, tuple] = {}

    def handle(req):
        d = req["dtype"]
        if d not in models:
            models[d] = build(args.models_dir, DTYPES[d])
        model, load_info = models[d]
        if req["cmd"] == "load":
            return {**load_info, "text_tokens": text.shape[1]}
        inner = model.inference_model
        clock = common.CallClock()
        inner.forward = clock.wrap(type(inner).forward.__get__(inner))
        torch.manual_seed(req["seed"])
        try:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=d == "bf16"):
                codes = model.inference_speech(cond.to(DTYPES[d]), text, do_sample=True, top_p=0.8, temperature=0.8,
                                               num_return_sequences=req["batch"], length_penalty=1.0,
                                               repetition_penalty=2.0, max_generate_length=req["tokens"])  # fmt: skip
        finally:
            del inner.forward
        end = time.perf_counter()
        prefill, steps = common.step_times(clock.starts, end)
        return {"prefill_s": prefill, "step_s": common.median(steps), "steps": len(steps),
                "stops": int((codes == model.stop_mel_token).sum()), "codes": list(codes.shape)}  # fmt: skip

    common.serve(handle)


if __name__ == "__main__":
    main()
