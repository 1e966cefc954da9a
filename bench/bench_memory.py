"""Memory per autoregressive candidate at the real model size on the CPU, against TextToSpeech's batch-size estimate.

    python bench/bench_memory.py [--batches 1 4 16] [--dtypes fp32 bf16] [--max-tokens 500]

``TextToSpeech.batch_size`` picks how many candidates to decode at once from an estimate of the bytes one candidate
costs (its KV cache for the longest generation, plus a margin for activations) and the free memory. This measures
that cost: each (dtype, batch) runs in a fresh process that loads the model as ``TextToSpeech`` does on a CPU
(pre-packed), warms up, resets the peak resident-set size (``/proc/self/clear_refs``), sets up the caches for
``--max-tokens`` codes and decodes a few codes (activations do not grow with the step), and reports the peak
increase next to ``api.candidate_bytes`` for the same prompt. A straight line through the batches separates the
per-candidate cost from a fixed overhead. Linux only (``VmHWM``); our side only, no reference needed. Real-size
random weights in --models-dir (see README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

DECODED = 8  # codes actually decoded per measurement


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def worker(models_dir: Path, dtype_name: str, batch: int, max_tokens: int) -> None:
    import torch

    from tortoise import devices, sampling
    from tortoise.api import TextToSpeech, candidate_bytes
    from tortoise.cpu import runtime
    from tortoise.text import TextTokenizer

    runtime.configure_allocator()
    dtype = devices.torch_dtype(dtype_name)
    model = TextToSpeech(models_dir=models_dir, device="cpu", precision=dtype_name).model("autoregressive")
    cond = common.write_latents(models_dir / "benchvoice" / "latents.pth")[0].to(dtype)
    text = torch.tensor([TextTokenizer().encode_for_model(common.SENTENCE)])
    kwargs = dict(sampling=sampling.SamplingParams(temperature=0.8, top_p=0.8, top_k=50, repetition_penalty=2.0))
    with torch.inference_mode():
        sampling.generate(model, cond, text, num_samples=1, max_tokens=2, **kwargs)  # warm-up: kernels, pages
        runtime.release_memory()  # free heap pages (e.g. load-time casts) would hide new allocations
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
        base = _peak_rss()
        model.setup_caches(batch, text.shape[1] + 3 + max_tokens)  # the cache for the longest generation
        sampling.generate(model, cond, text, num_samples=batch, max_tokens=DECODED, **kwargs)
        peak = _peak_rss()
    estimate = candidate_bytes(model.cfg, max_tokens, dtype, text.shape[1])
    print(json.dumps({"increase": peak - base, "estimate": estimate}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", type=Path, default=common.DEFAULT_MODELS_DIR)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--max-tokens", type=int, default=500)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.models_dir, args.worker[0], int(args.worker[1]), args.max_tokens)
    common.write_real_checkpoints(args.models_dir, ["autoregressive"])
    rows = []
    for dtype in args.dtypes:
        points = []
        for batch in args.batches:
            argv = [
                sys.executable,
                __file__,
                "--models-dir",
                str(args.models_dir),
                "--max-tokens",
                str(args.max_tokens),
            ]
            out = subprocess.run([*argv, "--worker", dtype, str(batch)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            points.append((batch, result["increase"]))
            rows.append([dtype, batch, f"{result['increase'] / 2**20:.0f}", f"{result['increase'] / batch / 2**20:.1f}",
                         f"{result['estimate'] / 2**20:.1f}"])  # fmt: skip
            print(f"{dtype} batch {batch}: +{result['increase'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
        if len(points) > 1:
            (b0, m0), (b1, m1) = points[0], points[-1]
            slope = (m1 - m0) / (b1 - b0)
            rows.append([dtype, "slope", "", f"{slope / 2**20:.1f}", f"{result['estimate'] / 2**20:.1f}"])
    print(f"# Memory per AR candidate, real size, CPU, caches for {args.max_tokens} codes\n")
    print(f"machine: {common.machine_info()}\n")
    headers = ["dtype", "batch", "peak increase MiB", "MiB per candidate", "estimate MiB per candidate"]
    print(common.table(headers, rows))


if __name__ == "__main__":
    main()
