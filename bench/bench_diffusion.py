"""Diffusion decoder ms/step and vocoder real-time factor at real size on CPU: ours vs tortoise-tts 3.0.0.

    bash bench/reference_env.sh
    /tmp/tortoise-ref-venv/bin/python bench/bench_diffusion.py [--codes 64] [--steps 4] [--repeats 3]

Both sides load the same real-size random-weight ``diffusion_decoder.pth`` and ``vocoder.pth``, get the same random
GPT latents for --codes AR codes (L = codes * 4 * 24000 // 22050 mel frames) and the same diffusion voice latent,
and run the original ancestral ``p`` sampler for --steps respaced steps (the per-step cost does not depend on which
trained timesteps are used) with conditioning-free guidance off (ultra_fast) and on (fast, standard, ...). The
aligned embeddings are computed before the clock starts; a step is the sampler loop's time / steps. The reference
runs the cond-free pass as a second forward; ours stacks both into one batch-2 forward.

bf16: ours ``set_layer_dtype(bfloat16)`` (layers[1:] under autocast, their weights pre-packed for oneDNN, as our
pipeline's ``precision="bf16"`` on a CPU); the reference's own switch, ``enable_fp16 = True``, which on CPU is
``torch.autocast("cpu")``, i.e. bfloat16, for the same layers, with those layers' weights (not norms) cast to bf16
so autocast does not re-cast them every call. The vocoder runs in float32 on both sides (as both pipelines run
it). Vocoder real-time factor = seconds of computing / seconds of audio produced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common


def inputs(models_dir: Path, codes: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Random GPT latents (1, codes, 1024), the diffusion voice latent (1, 2048) and L (both sides: same values)."""
    g = torch.Generator().manual_seed(7)
    latents = torch.randn(1, codes, 1024, generator=g)
    cond = common.write_latents(models_dir / "benchvoice" / "latents.pth")[1]
    return latents, cond, codes * 4 * 24000 // 22050


def vocoder_checkpoint(models_dir: Path, with_reference: bool, reference_paths: list[str] | None = None) -> None:
    """``vocoder.pth`` in the released layout (weight-norm g/v, key ``model_g``).

    Our module stores folded weights, so the file is made by the reference's own ``UnivNetGenerator`` with random
    init (our loader folds the g/v pairs). Without the reference (--ours-only) our folded layout is written.
    ``reference_paths``: where the reference is importable from (else from this interpreter's own site-packages).
    """
    path = models_dir / "vocoder.pth"
    if path.is_file():
        return
    if not with_reference:
        common.write_real_checkpoints(models_dir, ["vocoder"])
        return
    code = ("import torch; from tortoise.models.vocoder import UnivNetGenerator; torch.manual_seed(3); "
            f"torch.save({{'model_g': UnivNetGenerator().state_dict()}}, {str(path) + '.tmp'!r})")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if reference_paths:
        env["PYTHONPATH"] = os.pathsep.join(reference_paths)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(common.BENCH_DIR))
    Path(str(path) + ".tmp").replace(path)
    common.write_real_checkpoints(models_dir, ["vocoder"])  # the HF-cache symlink for the reference


# ---- our worker -----------------------------------------------------------------------------------------------------
def our_worker(models_dir: Path, codes: int) -> None:
    from tortoise import model_zoo
    from tortoise.api import TextToSpeech
    from tortoise.diffusion import decode_mel

    models = {}

    def model(dtype: str):
        """One decoder per dtype, set up by ``TextToSpeech`` on a CPU (bf16: layers[1:] cast and pre-packed)."""
        if dtype not in models:
            tts = TextToSpeech(models_dir=models_dir, device="cpu", precision=dtype)
            models[dtype] = tts.model("diffusion_decoder")
        return models[dtype]

    diffusion = model("fp32")
    vocoder = model_zoo.load_model("vocoder", models_dir=models_dir)
    latents, cond, L = inputs(models_dir, codes)
    aligned = diffusion.timestep_independent(latents, cond, L)
    mel = torch.randn(1, 100, L, generator=torch.Generator().manual_seed(9)) * 2 - 6

    def handle(req):
        if req["cmd"] == "load":
            return {"L": L, "params": sum(p.numel() for p in diffusion.parameters())}
        if req["cmd"] == "vocoder":
            t = time.perf_counter()
            wav = vocoder.inference(mel)
            return {"s": time.perf_counter() - t, "samples": wav.shape[-1]}
        decoder = model(req["dtype"])  # loaded (and, in bf16, pre-packed) before the clock starts
        torch.manual_seed(req["seed"])
        t = time.perf_counter()
        decode_mel(decoder, aligned, L, sampler="p", steps=req["steps"], cond_free=req["cond_free"])
        return {"step_s": (time.perf_counter() - t) / req["steps"]}

    common.serve(handle)


# ---- driver ---------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = common.driver_parser(__doc__)
    ap.add_argument("--codes", type=int, default=64, help="AR codes decoded (L = codes * 4 * 24000 // 22050 frames)")
    ap.add_argument("--steps", type=int, default=4, help="diffusion steps per run")
    args = ap.parse_args()
    if args.worker:
        return our_worker(args.models_dir, args.codes)
    if not args.ours_only:
        common.check_reference_venv()
    common.write_real_checkpoints(args.models_dir, ["diffusion_decoder"])
    vocoder_checkpoint(args.models_dir, not args.ours_only)
    common.write_latents(args.models_dir / "benchvoice" / "latents.pth")
    info = common.machine_info()
    py, here, md = common.worker_python(), str(Path(__file__).resolve()), str(args.models_dir)
    common_args = ["--models-dir", md, "--codes", str(args.codes)]
    workers = {"ours": common.Worker("ours", [py, here, "--worker", "ours", *common_args], with_repo=True)}
    if not args.ours_only:
        ref = str(common.BENCH_DIR / "ref_diffusion.py")
        workers["ref"] = common.Worker("ref", [py, ref, *common_args], with_repo=False)
    runs: dict[tuple, list[float]] = {}
    try:
        loads = {s: w.call(cmd="load") for s, w in workers.items()}
        print(f"loaded: {loads}", file=sys.stderr)
        L = loads["ours"]["L"]
        t0 = time.perf_counter()
        for rep in range(args.repeats):
            order = list(workers) if rep % 2 == 0 else list(workers)[::-1]
            for d in args.dtypes:
                for cf in (False, True):
                    for s in order:
                        r = workers[s].call(cmd="diffusion", dtype=d, cond_free=cf, steps=args.steps, seed=rep)
                        runs.setdefault((s, d, cf), []).append(r["step_s"])
                        print(f"rep {rep} {s:4} {d} cond_free={cf!s:5}: {r['step_s'] * 1e3:7.0f} ms/step "
                              f"[{time.perf_counter() - t0:.0f} s]", file=sys.stderr)  # fmt: skip
            for s in order:
                r = workers[s].call(cmd="vocoder")
                runs.setdefault((s, "vocoder"), []).append(r["s"])
                print(f"rep {rep} {s:4} vocoder: {r['s']:.2f} s for {r['samples']} samples", file=sys.stderr)
    finally:
        for w in workers.values():
            w.close()
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    audio_s = L * 256 / 24000
    print(
        f"# Diffusion decoder (p sampler) and UnivNet vocoder, real size, L = {L} mel frames ({audio_s:.2f} s of "
        f"audio, {args.codes} AR codes), {args.steps} steps a run, medians of {args.repeats} runs"
    )
    print(f"machine: {info}\n")
    sides = list(workers)
    headers = ["dtype", "cond_free", "ours ms/step"] + (["ref ms/step", "ref/ours"] if "ref" in sides else [])
    rows = []
    for d in args.dtypes:
        for cf in (False, True):
            o = common.median(runs[("ours", d, cf)]) * 1e3
            row = [d, cf, o]
            if "ref" in sides:
                r = common.median(runs[("ref", d, cf)]) * 1e3
                row += [r, r / o]
            rows.append(row)
    print(common.table(headers, rows))
    print()
    vrows = []
    for s in sides:
        sec = common.median(runs[(s, "vocoder")])
        vrows.append([s, "fp32", sec, sec / audio_s])
    print(common.table(["vocoder", "dtype", f"s for {audio_s:.2f} s audio", "real-time factor"], vrows))
    if "ref" in sides:
        ratio = common.median(runs[("ref", "vocoder")]) / common.median(runs[("ours", "vocoder")])
        print(f"\nvocoder ref/ours: {ratio:.2f}")
    common.save_json(args.json, {"machine": info, "L": L, "runs": {str(k): v for k, v in runs.items()}})


if __name__ == "__main__":
    main()
