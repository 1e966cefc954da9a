"""End to end, preset ultra_fast, real-size random weights: our pipeline vs tortoise-tts 3.0.0, per stage.

    bash bench/reference_env.sh
    /tmp/tortoise-ref-venv/bin/python bench/bench_e2e.py [--tokens 48] [--repeats 3] [--dtypes fp32 bf16]

Speaks the 70-character sentence "I'm looking for contributors who can do optimizations better than me." with the
ultra_fast preset (16 AR samples in one batch of 16, CLVP ranking, 30 ancestral p-sampler diffusion steps without
conditioning-free guidance, UnivNet) and a fixed generation length: both sides load the same real-size random-weight
checkpoints from --models-dir, whose AR stop-code logit bias is -1e4, so every sample is exactly --tokens codes
(``max_mel_tokens``) long on both sides. Both use the same conditioning latents (``benchvoice/latents.pth``).

Ours: ``TextToSpeech(device="cpu", precision=fp32|bf16, batch_size=16)``, models loaded before the clock starts, and
its own per-stage timings. Reference: ``TextToSpeech(autoregressive_batch_size=16, kv_cache=True,
enable_redaction=False)`` (its CPU default batch size is 1: 16 sequential batches; 16 is the fair, faster setting),
``tts_with_preset(..., "ultra_fast", max_mel_tokens=--tokens)``, stages timed by wrappers around its AR generation,
CLVP, AR latent pass, ``do_spectrogram_diffusion`` and vocoder calls (the rest is "other"). bf16 on the reference:
AR and CLVP weights in bfloat16 under ``torch.autocast("cpu", bfloat16)``, its diffusion ``enable_fp16`` (CPU autocast
= bfloat16 for layers[1:]); vocoder fp32 -- what our ``precision="bf16"`` does. Sides alternate run by run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from bench_diffusion import vocoder_checkpoint

STAGES = ["conditioning", "autoregressive", "clvp", "latents", "diffusion", "vocoder"]
NAMES = ["autoregressive", "diffusion_decoder", "clvp2"]


def our_worker(models_dir: Path) -> None:
    from tortoise.api import TextToSpeech
    from tortoise.options import preset
    from tortoise.voices import VoiceLibrary

    state: dict = {}

    def handle(req):
        if req["cmd"] == "load":
            state.clear()
            tts = TextToSpeech(models_dir=models_dir, device="cpu", precision=req["dtype"], batch_size=16,
                               offload="none", voices=VoiceLibrary([models_dir]))  # fmt: skip
            t = time.perf_counter()
            for name in ["autoregressive", "clvp2", "diffusion_decoder", "vocoder"]:
                tts.model(name)
            state["tts"] = tts
            return {"load_s": time.perf_counter() - t}
        options = preset("ultra_fast", max_mel_tokens=req["tokens"], seed=req["seed"])
        t = time.perf_counter()
        result = state["tts"].tts(common.SENTENCE, "benchvoice", options)
        total = time.perf_counter() - t
        return {"total_s": total, "stages": result.timings, "audio_s": result.seconds}

    common.serve(handle)


def main() -> None:
    ap = common.driver_parser(__doc__)
    ap.add_argument("--tokens", type=int, default=48, help="fixed AR codes per sample (max_mel_tokens)")
    args = ap.parse_args()
    if args.worker:
        return our_worker(args.models_dir)
    if not args.ours_only:
        common.check_reference_venv()
    common.write_real_checkpoints(args.models_dir, NAMES)
    vocoder_checkpoint(args.models_dir, not args.ours_only)
    common.write_latents(args.models_dir / "benchvoice" / "latents.pth")
    info = common.machine_info()
    py, here, md = common.worker_python(), str(Path(__file__).resolve()), str(args.models_dir)
    workers = {"ours": common.Worker("ours", [py, here, "--worker", "ours", "--models-dir", md], with_repo=True)}
    if not args.ours_only:
        workers["ref"] = common.Worker("ref", [py, str(common.BENCH_DIR / "ref_e2e.py"), "--models-dir", md],
                                       with_repo=False)  # fmt: skip
    runs: dict[tuple, list[dict]] = {}
    t0 = time.perf_counter()
    try:
        for d in args.dtypes:
            for s, w in workers.items():
                print(f"{s} {d}: {w.call(cmd='load', dtype=d)}", file=sys.stderr)
            for rep in range(args.repeats):
                for s in list(workers) if rep % 2 == 0 else list(workers)[::-1]:
                    r = workers[s].call(cmd="tts", tokens=args.tokens, seed=100 + rep)
                    runs.setdefault((s, d), []).append(r)
                    stages = " ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
                    print(f"rep {rep} {s:4} {d}: {r['total_s']:.1f} s ({stages}) audio {r['audio_s']:.2f} s "
                          f"[{time.perf_counter() - t0:.0f} s]", file=sys.stderr)  # fmt: skip
    finally:
        for w in workers.values():
            w.close()
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report(args, info, runs, list(workers))


def report(args, info, runs, sides) -> None:
    print(
        f"# End to end, ultra_fast, {args.tokens} AR codes per sample (fixed), 16 samples in one batch, "
        f"30 diffusion steps; seconds, medians of {args.repeats} runs"
    )
    print(f'text: "{common.SENTENCE}" ({len(common.SENTENCE)} characters)')
    print(f"machine: {info}\n")
    stages = [*STAGES, "other", "total"]
    summary = {}
    for d in args.dtypes:
        cols = {}
        for s in sides:
            rr = runs[(s, d)]
            med = {k: common.median([r["stages"].get(k, 0.0) for r in rr]) for k in STAGES}
            med["total"] = common.median([r["total_s"] for r in rr])
            med["other"] = common.median([r["total_s"] - sum(r["stages"].values()) for r in rr])
            cols[s] = med
        rows = []
        for k in stages:
            row = [k] + [cols[s][k] for s in sides]
            if "ref" in sides:
                row.append(cols["ref"][k] / cols["ours"][k] if cols["ours"][k] > 1e-3 else "-")
            rows.append(row)
        headers = ["stage", *(f"{s} {d} s" for s in sides)] + (["ref/ours"] if "ref" in sides else [])
        print(f"## {d}\n")
        print(common.table(headers, rows))
        print()
        summary[d] = cols
    if "ref" in sides and len(args.dtypes) > 1:
        best_ref = min(summary[d]["ref"]["total"] for d in args.dtypes)
        for d in args.dtypes:
            print(f"ours {d} vs the reference's fastest setting: {best_ref / summary[d]['ours']['total']:.2f}x")
    audio = common.median([r["audio_s"] for r in runs[("ours", args.dtypes[0])]])
    print(f"audio per run: {audio:.2f} s")
    common.save_json(args.json, {"machine": info, "summary": summary, "runs": {str(k): v for k, v in runs.items()}})


if __name__ == "__main__":
    main()
