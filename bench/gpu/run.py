"""Everything issue 20 measures on a GPU, in one run that writes its figures and logs into one folder.

    python bench/gpu/run.py --device cuda --out DIR [--ref PATHS] [--budget-s 420]
    python bench/gpu/run.py --device cpu --out DIR --quick            # the same script, tried on a CPU

Parts, in this order (each skipped, and said so, once --budget-s seconds have passed):
1. tests: the golden tests and the tiny-model pipeline tests with the models on --device, in fp32 (golden +
   pipeline), bf16 and fp16 (pipeline), via TORTOISE_TEST_DEVICE / TORTOISE_TEST_PRECISION;
2. end to end, real-size random weights (bench/common.py; AR stop code never sampled, so every candidate is exactly
   the given number of codes on both sides): text A (the 70-character sentence) and a 400-character paragraph,
   presets ultra_fast, fast, standard; ours in fp32 and bf16, each eager and with the decode step recorded as a
   device graph (--compile); the original (tortoise-tts 3.0.0, kv_cache=True, half=True, its automatic batch
   size) when --ref names where it is importable from; per stage, peak GPU memory; time to first audio in fast mode;
3. the decode step: ms per step, eager vs graph, batch 1/16/64;
4. memory: measured bytes per AR candidate next to the estimate the automatic batch size uses; the out-of-memory
   halving with a process memory cap that fits a quarter of the batch asked for.
Outputs: DIR/report.md (tables), DIR/results.json (raw), DIR/tests.log, DIR/run.log.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common
from bench_diffusion import vocoder_checkpoint

HERE = Path(__file__).resolve().parent

PARAGRAPH = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, counting each of the one hundred and "
    "twelve steps aloud. At the top he wound the old clockwork, trimmed the wick, and watched the beam sweep across "
    "the grey water. Ships he would never meet passed safely in the dark. In the morning he wrote a single line in "
    "the logbook, the same line as always: the light burned all night, and the sea was calm."
)
TEXTS = {"A": common.SENTENCE, "P": PARAGRAPH}
PRESETS = ["ultra_fast", "fast", "standard"]
CHECKPOINTS = ["autoregressive", "diffusion_decoder", "clvp2", "hifidecoder"]


def attempt(run, what: str, call):
    """``call()``, or None with the error logged and kept (one failing part must not end the run)."""
    try:
        return call()
    except (RuntimeError, OSError) as e:
        run.log(f"{what} failed: {e}")
        run.results.setdefault("failures", []).append(f"{what}: {e}")
        return None


class Run:
    def __init__(self, args):
        self.args, self.t0 = args, time.perf_counter()
        self.out = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.results: dict = {"skipped": []}
        self.log_file = open(self.out / "run.log", "a", buffering=1)  # noqa: SIM115

    def log(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.t0:6.1f} s] {msg}"
        print(line, file=sys.stderr, flush=True)
        self.log_file.write(line + "\n")

    def time_left(self, what: str) -> bool:
        if time.perf_counter() - self.t0 < self.args.budget_s:
            return True
        self.results["skipped"].append(what)
        self.log(f"skipped (time budget): {what}")
        return False

    def save(self) -> None:
        self.results["elapsed_s"] = time.perf_counter() - self.t0
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str))


def machine(device: str) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": common.cpu_name(),
            "nproc": os.cpu_count(), "device": device}  # fmt: skip
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())  # fmt: skip
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm", "--format=csv,noheader"],
                             capture_output=True, text=True)  # fmt: skip
        info["nvidia_smi"] = smi.stdout.strip()
    return info


def run_tests(run: Run) -> None:
    a = run.args
    env = dict(os.environ, TORTOISE_TEST_DEVICE=a.device, TORTOISE_FIXTURES=str(a.fixtures))
    env["PYTHONPATH"] = os.pathsep.join([str(common.REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    summary = {}
    with open(run.out / "tests.log", "w") as log:
        for precision in a.precisions:
            if not run.time_left(f"tests {precision}"):
                continue
            paths = ["tests/golden", "tests/test_pipeline.py"] if precision == "fp32" else ["tests/test_pipeline.py"]
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rfEs", *paths]
            log.write(f"\n===== {precision}: {' '.join(cmd)}\n")
            log.flush()
            t = time.perf_counter()
            env["TORTOISE_TEST_PRECISION"] = precision
            try:
                proc = subprocess.run(cmd, cwd=common.REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=a.test_timeout)  # fmt: skip
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                proc = subprocess.CompletedProcess(cmd, -1, out + f"\ntimed out after {a.test_timeout} s")
            log.write(proc.stdout)
            last = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:] or ["(no output)"]
            summary[precision] = {"rc": proc.returncode, "summary": last[0], "seconds": time.perf_counter() - t}
            run.log(f"tests {precision}: {last[0]}")
    run.results["tests"] = summary
    run.save()


def load(run: Run, ours: common.Worker, ref: common.Worker | None) -> common.Worker | None:
    a = run.args
    configs = [(d, g) for d in a.dtypes for g in (False, True)]
    for d, g in configs:
        r = ours.call(cmd="load", dtype=d, graph=g)
        run.log(f"ours {d} graph={g} loaded: {r}")
        run.results.setdefault("loads", {})[f"ours {d} graph={g}"] = r
    if ref is not None:
        try:
            r = ref.call(cmd="load")
        except (RuntimeError, OSError) as e:  # the reference failed to start: go on with our side alone
            run.log(f"reference unavailable: {e}")
            run.results["reference_error"] = str(e)
            ref = None
        else:
            run.log(f"reference loaded: {r}")
            run.results.setdefault("loads", {})["reference"] = r
    return ref


def e2e(run: Run, ours: common.Worker, ref: common.Worker | None, order: list[tuple[str, str]]) -> None:
    """End to end for each (text, preset) of ``order``; the first run of each side is a warm-up, not counted."""
    a = run.args
    configs = [(d, g) for d in a.dtypes for g in (False, True)]
    runs = run.results.setdefault("e2e", [])
    warm = run.results.setdefault("_warm", [])
    for text_key, preset_name in order:
        tokens = a.tokens[list(TEXTS).index(text_key)]
        ours_sides = [("ours", d, g) for d, g in configs if g or not a.graph_only]
        sides = ours_sides + ([("reference", "fp16", False)] if ref is not None else [])
        for side, d, g in sides:
            what = f"e2e {text_key} {preset_name} {side} {d} graph={g}"
            if not run.time_left(what):
                continue
            req = dict(text=TEXTS[text_key], preset=preset_name, tokens=tokens, seed=11)
            first = what.split(" ", 3)[3] not in warm  # this side's first run: a warm-up run before it
            warm.append(what.split(" ", 3)[3])
            for rep in range(a.repeats + (1 if first else 0)):
                if side == "ours":
                    ask = dict(cmd="tts", dtype=d, graph=g, preset_name=preset_name, text=req["text"],
                               tokens=tokens, seed=req["seed"])  # fmt: skip
                    r = attempt(run, what, lambda ask=ask: ours.call(**ask))
                    if r is None:
                        break
                else:
                    try:
                        r = ref.call(cmd="tts", **req)
                    except RuntimeError as e:
                        run.log(f"{what}: {e}")
                        run.results.setdefault("reference_failures", []).append(f"{what}: {e}")
                        break
                if rep > 0 or not first or a.repeats == 0:
                    runs.append({"text": text_key, "preset": preset_name, "tokens": tokens, "side": side,
                                 "dtype": d, "graph": g, **r})  # fmt: skip
                run.log(f"{what} rep {rep}: {r['total_s']:.2f} s "
                        + " ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()))  # fmt: skip
            run.save()


def first_audio(run: Run, ours: common.Worker) -> None:
    a = run.args
    for d in a.dtypes:
        if run.time_left(f"first audio {d}"):
            req = dict(cmd="first_audio", dtype=d, graph=True, text=TEXTS["A"], tokens=a.tokens[0], seed=3)
            attempt(run, "first audio warm-up", lambda req=req: ours.call(**req))
            r = attempt(run, f"first audio {d}", lambda req=req: ours.call(**req))
            run.results.setdefault("first_audio", {})[d] = r
            run.log(f"first audio {d}: {r}")
    run.save()


def micro(run: Run, ours: common.Worker) -> None:
    a = run.args
    for d in a.dtypes if "step" in a.parts else []:
        if run.time_left(f"step {d}"):
            req = dict(cmd="step", dtype=d, batches=a.step_batches, n1=a.step_tokens[0], n2=a.step_tokens[1])
            r = attempt(run, f"step {d}", lambda req=req: ours.call(**req))
            run.results.setdefault("step_ms", {})[d] = r
            run.log(f"decode step {d}: {r}")
            run.save()
    for d in a.dtypes if "memory" in a.parts else []:
        if run.time_left(f"memory {d}"):
            req = dict(cmd="memory", dtype=d, batches=a.memory_batches, tokens=a.memory_tokens)
            r = attempt(run, f"memory {d}", lambda req=req: ours.call(**req))
            run.results.setdefault("memory", {})[d] = r
            run.log(f"memory {d}: {r}")
            run.save()
    if a.device != "cpu" and "oom" in a.parts and run.time_left("oom"):
        req = dict(cmd="oom", dtype=a.dtypes[-1], ask=a.oom_ask, fits=a.oom_ask // 4, tokens=a.oom_tokens)
        r = attempt(run, "oom", lambda: ours.call(**req))
        run.results["oom"] = r
        run.log(f"oom halving: {r}")
        run.save()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--models-dir", type=Path, default=common.DEFAULT_MODELS_DIR)
    fixtures = os.environ.get("TORTOISE_FIXTURES", common.REPO / ".gpu" / "fixtures")
    ap.add_argument("--fixtures", type=Path, default=Path(fixtures))
    ap.add_argument("--ref", nargs="*", default=None, help="paths the reference is importable from (none: ours only)")
    ap.add_argument("--budget-s", type=float, default=420)
    ap.add_argument("--quick", action="store_true", help="tiny workloads: to try the script on a CPU")
    ap.add_argument("--parts", nargs="+", default=["tests", "e2e", "step", "memory", "oom"])
    ap.add_argument("--presets", nargs="+", default=PRESETS, choices=PRESETS)
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--graph-only", action="store_true", help="end to end: ours with the recorded decode step only")
    ap.add_argument("--test-timeout", type=float, default=150)
    ap.add_argument("--texts", nargs="+", default=list(TEXTS), choices=list(TEXTS))
    a = ap.parse_args()
    a.precisions = ["fp32", "bf16", "fp16"] if a.device != "cpu" else ["fp32", "bf16"]
    a.repeats = 1
    a.tokens = [100, 250]
    a.step_batches, a.step_tokens, a.memory_batches, a.memory_tokens = [1, 16, 64], (32, 96), [1, 16, 64], 500
    a.oom_ask, a.oom_tokens = 64, 64
    if a.quick:
        a.texts, a.presets, a.tokens, a.repeats, a.dtypes = ["A"], ["ultra_fast"], [8, 8], 0, ["bf16"]
        a.step_batches, a.step_tokens, a.memory_batches, a.memory_tokens = [1, 4], (4, 8), [1, 4], 16
    run = Run(a)
    run.results["machine"] = machine(a.device)
    run.results["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    run.log(f"machine: {run.results['machine']}")
    if "tests" in a.parts:
        run_tests(run)
    if {"e2e", "step", "memory", "oom"} & set(a.parts):
        t = time.perf_counter()
        common.write_real_checkpoints(a.models_dir, CHECKPOINTS)
        vocoder_checkpoint(a.models_dir, a.ref is not None, a.ref)
        common.write_latents(a.models_dir / "benchvoice" / "latents.pth")
        run.log(f"checkpoints ready in {time.perf_counter() - t:.0f} s")
        py, md = sys.executable, str(a.models_dir)
        ours = common.Worker("ours", [py, str(HERE / "ours.py"), md, a.device], with_repo=True)
        ref = None
        if a.ref is not None and "e2e" in a.parts:
            ref = common.Worker("reference", [py, str(HERE / "ref.py"), md], with_repo=False, paths=a.ref)
        # what matters most first: text A at ultra_fast on every side, the decode step and memory, then the rest
        order = [(t, p) for t in TEXTS for p in PRESETS if t in a.texts and p in a.presets]
        try:
            ref = load(run, ours, ref)
            if "e2e" in a.parts:
                e2e(run, ours, ref, order[:1])
                first_audio(run, ours)
            micro(run, ours)
            if "e2e" in a.parts:
                e2e(run, ours, ref, order[1:])
        finally:
            for w in (ours, ref):
                if w is not None:
                    w.close()
    run.save()
    from report import write_report

    (a.out / "report.md").write_text(write_report(run.results))
    run.log("done")


if __name__ == "__main__":
    main()
