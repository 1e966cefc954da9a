"""Autoregressive decode ms/step at the real model size: ours vs the reference tortoise-tts 3.0.0 (kv_cache on).

    bash bench/reference_env.sh                      # once: the throwaway venv with the reference (~6 GB, /tmp)
    /tmp/tortoise-ref-venv/bin/python bench/bench_ar.py [--batches 1 4 16] [--dtypes fp32 bf16] [--tokens 32]

Both sides load the same real-size random-weight ``autoregressive.pth`` (written once to --models-dir; its stop-code
logit bias is -1e4 so every row decodes exactly --tokens codes), decode the 70-character sentence of issue 6 with the
ultra_fast sampling settings (temperature 0.8, top_p 0.8, top_k 50, repetition penalty 2), on the same torch, in two
worker processes timed alternately (ours, reference, reference, ours, ...). A step's time is the interval between
the starts of two consecutive decoder forwards (so it includes sampling); the prefill (the prompt pass, the first
call) is reported separately. Figures are medians over the steps of a run, then over --repeats runs.

The memory-bandwidth floor at batch 1 is the bytes of the weights read per step (30 GPT-2 blocks, ln_f,
final_norm, mel_head) divided by the measured copy bandwidth (read + write bytes per second).
``--ours-only`` runs just our side (any venv with our package).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SAMPLING = dict(temperature=0.8, top_p=0.8, top_k=50, repetition_penalty=2.0)


# ---- our worker -----------------------------------------------------------------------------------------------------
def weight_bytes(model) -> int:
    """Bytes of the parameters every decode step reads: the GPT-2 blocks, ln_f, final_norm and mel_head."""
    mods = [model.gpt, model.final_norm, model.mel_head]
    return sum(p.numel() * p.element_size() for m in mods for p in m.parameters())


def our_worker(models_dir: Path) -> None:
    from tortoise import sampling
    from tortoise.api import TextToSpeech
    from tortoise.text import TextTokenizer

    params = sampling.SamplingParams(**SAMPLING)
    models, cond = {}, common.write_latents(models_dir / "benchvoice" / "latents.pth")[0]
    text = torch.tensor([TextTokenizer().encode_for_model(common.SENTENCE)])

    def model(dtype: str):
        if dtype not in models:
            tts = TextToSpeech(models_dir=models_dir, device="cpu", precision=dtype)  # the pipeline's CPU set-up
            models[dtype] = tts.model("autoregressive")
        return models[dtype]

    def handle(req):
        if req["cmd"] == "bandwidth":
            return {**common.measure_bandwidth(), "threads": torch.get_num_threads()}
        m = model(req["dtype"])
        if req["cmd"] == "load":
            return {"weight_bytes": weight_bytes(m), "text_tokens": text.shape[1]}
        clock = common.CallClock()
        m.next_logits = clock.wrap(type(m).next_logits.__get__(m))
        torch.manual_seed(req["seed"])
        try:
            codes = sampling.generate(
                m, cond.to(DTYPES[req["dtype"]]), text, num_samples=req["batch"], max_tokens=req["tokens"],
                sampling=params,
            )  # fmt: skip
        finally:
            del m.next_logits
        end = time.perf_counter()
        prefill, steps = common.step_times(clock.starts, end)
        stops = int((codes == m.cfg.stop_mel_token).sum())
        return {"prefill_s": prefill, "step_s": common.median(steps), "steps": len(steps), "stops": stops,
                "codes": list(codes.shape)}  # fmt: skip

    common.serve(handle)


# ---- driver ---------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = common.driver_parser(__doc__)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--tokens", type=int, default=32, help="codes generated per row (fixed)")
    args = ap.parse_args()
    if args.worker:
        return our_worker(args.models_dir)
    if not args.ours_only:
        common.check_reference_venv()

    common.write_real_checkpoints(args.models_dir, ["autoregressive"])
    common.write_latents(args.models_dir / "benchvoice" / "latents.pth")
    info = common.machine_info()
    py, here = common.worker_python(), str(Path(__file__).resolve())
    workers = {"ours": common.Worker("ours", [py, here, "--worker", "ours", "--models-dir", str(args.models_dir)],
                                     with_repo=True)}  # fmt: skip
    if not args.ours_only:
        ref_script = str(common.BENCH_DIR / "ref_ar.py")
        workers["ref"] = common.Worker("ref", [py, ref_script, "--models-dir", str(args.models_dir)], with_repo=False)
    try:
        loads = {(s, d): w.call(cmd="load", dtype=d) for s, w in workers.items() for d in args.dtypes}
        for (s, d), r in loads.items():
            print(f"{s} {d}: loaded; {r}", file=sys.stderr)
        bws = [workers["ours"].call(cmd="bandwidth")]  # in a worker: same threads and OpenMP settings as the runs
        runs: dict[tuple, list[dict]] = {}
        t0 = time.perf_counter()
        for rep in range(args.repeats):
            for d in args.dtypes:
                for b in args.batches:
                    order = list(workers) if (rep + b) % 2 == 0 else list(workers)[::-1]
                    for s in order:
                        r = workers[s].call(cmd="ar", dtype=d, batch=b, tokens=args.tokens, seed=1234 + rep)
                        runs.setdefault((s, d, b), []).append(r)
                        print(f"rep {rep} {s:4} {d} B={b:2}: step {r['step_s'] * 1e3:7.1f} ms, prefill "
                              f"{r['prefill_s']:.2f} s, stops {r['stops']} [{time.perf_counter() - t0:.0f} s]",
                              file=sys.stderr)  # fmt: skip
            bws.append(workers["ours"].call(cmd="bandwidth"))  # between rounds: the machine is shared
            print(f"bandwidth {bws[-1]}", file=sys.stderr)
    finally:
        for w in workers.values():
            w.close()
    info["loadavg_after"] = [round(x, 2) for x in __import__("os").getloadavg()]
    bw = common.median_bandwidth([{k: v for k, v in b.items() if k.endswith("gbps")} for b in bws])
    report(args, info, bw, loads, runs, list(workers))


def report(args, info, bw, loads, runs, sides) -> None:
    print(f"# Autoregressive decode, real size, {args.tokens} codes/row, medians of {args.repeats} runs")
    print(f"machine: {info}")
    print(
        f"memory bandwidth (median of {args.repeats + 1} measurements): copy {bw['copy_gbps']:.1f} GB/s "
        f"(read+write), read {bw['read_gbps']:.1f} GB/s, gemv {bw['gemv_gbps']:.1f} GB/s\n"
    )
    headers = ["dtype", "batch", "ours ms/step", "ours prefill s"]
    if "ref" in sides:
        headers += ["ref ms/step", "ref prefill s", "ref/ours (step)"]
    headers += ["floor ms/step", "ours/floor"]
    rows, out = [], {"machine": info, "bandwidth": bw, "args": {k: str(v) for k, v in vars(args).items()}, "rows": []}
    for d in args.dtypes:
        wb = loads[("ours", d)]["weight_bytes"]
        floor = wb / (bw["copy_gbps"] * 1e9) * 1e3
        for b in args.batches:
            ours = runs[("ours", d, b)]
            o_step = common.median([r["step_s"] for r in ours]) * 1e3
            row = [d, b, o_step, common.median([r["prefill_s"] for r in ours])]
            rec = {"dtype": d, "batch": b, "ours_ms": o_step, "floor_ms": floor, "weight_bytes": wb,
                   "stops": sum(r["stops"] for s in sides for r in runs[(s, d, b)])}  # fmt: skip
            if "ref" in sides:
                ref = runs[("ref", d, b)]
                r_step = common.median([r["step_s"] for r in ref]) * 1e3
                row += [r_step, common.median([r["prefill_s"] for r in ref]), r_step / o_step]
                rec["ref_ms"] = r_step
            row += [floor, o_step / floor]
            rows.append(row)
            out["rows"].append(rec)
    print(common.table(headers, rows))
    stops = sum(r["stops"] for rr in runs.values() for r in rr)
    print(f"\nstop codes sampled in all runs: {stops} (0 = every row decoded the full {args.tokens} codes)")
    common.save_json(args.json, out)


if __name__ == "__main__":
    main()
