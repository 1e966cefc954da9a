"""Shared pieces of the benchmarks: machine facts, memory bandwidth, timing, workers, real-size random checkpoints.

Imports only the standard library and torch at module level, so both sides can use it: our workers (run with
``PYTHONPATH=<repo>``) and the reference workers (``bench/ref_*.py``, run WITHOUT the repo on the path, so that
``import tortoise`` finds the reference tortoise-tts 3.0.0 of the throwaway venv, see ``reference_env.sh``).

Protocol between a driver and its workers: the driver writes one JSON request per line to the worker's stdin; the
worker answers each with one line ``@@BENCH <json>`` on its original stdout. Everything else a worker prints (the
reference prints progress to stdout) goes to stderr.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_REF_VENV = Path(os.environ.get("TORTOISE_REF_VENV", "/tmp/tortoise-ref-venv"))
DEFAULT_MODELS_DIR = Path(os.environ.get("TORTOISE_BENCH_MODELS", "/tmp/tortoise-bench-models"))
SENTENCE = "I'm looking for contributors who can do optimizations better than me."  # 70 characters (issue 6)
MARK = "@@BENCH "
STOP_BIAS = -1.0e4  # written into mel_head.bias[8193]: no side ever samples the stop code (fixed generation length)
HF_REPO_DIR = "models--Manmay--tortoise-tts"  # where the reference's hf_hub_download looks inside models_dir
HF_REVISION = "0" * 40


# ---- machine --------------------------------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.cache
def _our_runtime_module():
    """Our ``tortoise/cpu/runtime.py``, loaded by path: in the reference's venv ``import tortoise`` is the reference."""
    spec = importlib.util.spec_from_file_location("_our_tortoise_runtime", REPO / "tortoise" / "cpu" / "runtime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_our_process_settings(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the OpenMP waiting and heap settings of our CLI and app (tortoise/cpu/runtime.py), unless set."""
    runtime = _our_runtime_module()
    runtime.configure_openmp(env)
    env.setdefault("GLIBC_TUNABLES", runtime.allocator_tunables())
    return env


def driver_parser(description: str) -> argparse.ArgumentParser:
    """The options every ours-vs-reference driver takes; each adds its own workload options."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ours-only", action="store_true", help="run only our side (any venv with our package)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--worker", choices=["ours"], help=argparse.SUPPRESS)
    return ap


def cpu_flags() -> list[str]:
    """The CPU's instruction-set features our kernel choice depends on (Linux; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16") if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPU (model, features), cores, load, torch and its threads, our kernel choice."""
    env = _with_our_process_settings(dict(os.environ))  # what the workers get
    return {
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "cpu_kernels": env.get("TORTOISE_CPU_KERNELS", "auto"),  # tortoise/cpu/calibration.py
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "process_env": {k: env[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GLIBC_TUNABLES") if k in env},
        "mem_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def measure_bandwidth(nbytes: int = 1 << 30, repeats: int = 7) -> dict[str, float]:
    """Memory bandwidth in GB/s with torch's current threads, median of ``repeats``; 1 GiB buffers (beyond caches).

    ``copy_gbps``: ``dst.copy_(src)``, counted as bytes read + bytes written (STREAM's convention);
    ``read_gbps``: ``src.sum()``; ``gemv_gbps``: ``torch.mv(W, x)`` with W (n/4096, 4096), bytes of W read per
    second -- the access pattern of a batch-1 decode step.
    """
    n = nbytes // 4
    src = torch.rand(n)
    dst = torch.zeros_like(src)
    W, x = src.view(-1, 4096), torch.rand(4096)

    def clock(fn) -> float:
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    return {
        "copy_gbps": 2 * nbytes / clock(lambda: dst.copy_(src)) / 1e9,
        "read_gbps": nbytes / clock(src.sum) / 1e9,
        "gemv_gbps": nbytes / clock(lambda: torch.mv(W, x)) / 1e9,
    }


def median_bandwidth(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: median([s[k] for s in samples]) for k in samples[0]}


# ---- timing ---------------------------------------------------------------------------------------------------------
def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def step_times(calls: list[float], end: float) -> tuple[float, list[float]]:
    """Start times of a decoder's forward calls (prefill first) + the end time -> (prefill s, per-step s list)."""
    marks = [*calls, end]
    return marks[1] - marks[0], [b - a for a, b in itertools.pairwise(marks[1:])]


class CallClock:
    """Records the start time of every call of a wrapped callable (one per decode step for the AR models)."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)  # keeps the signature: HF generate inspects forward's parameters
        def timed(*args, **kwargs):
            self.starts.append(time.perf_counter())
            return fn(*args, **kwargs)

        return timed


def reference_to_bf16(module: torch.nn.Module) -> torch.nn.Module:
    """Cast a reference model to bfloat16 except its LayerNorms, to run under ``torch.autocast("cpu", bfloat16)``.

    The reference has no CPU bf16 mode; autocast alone would re-cast every float32 weight on every call, and CPU
    layer_norm needs float32 parameters when its input is float32 (the reference's GPT-2 adds float32 zero
    position embeddings). Matmul weights in bf16 + float32 norms is the cheapest way to run it in bf16.
    """
    module.to(torch.bfloat16)
    for m in module.modules():
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            m.float()
    return module


# ---- workers --------------------------------------------------------------------------------------------------------
def serve(handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Worker loop: JSON requests on stdin, ``@@BENCH <json>`` answers on the original stdout, all else on stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("cmd") == "quit":
            break
        try:
            res = {"ok": True, **handle(req)}
        except Exception as e:  # report, keep serving
            traceback.print_exc()
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        proto.write(MARK + json.dumps(res) + "\n")


class Worker:
    """A benchmark worker process (ours or the reference's) kept alive between requests."""

    def __init__(
        self, name: str, argv: list[str], *, with_repo: bool, threads: int | None = None, paths: list[str] = ()
    ):
        env = dict(os.environ)
        inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO]
        paths = [*paths, *inherited]  # ``paths`` first: e.g. where the reference and its pinned packages live
        if with_repo:
            paths.insert(0, str(REPO))
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["HF_HUB_OFFLINE"] = "1"
        env["TRANSFORMERS_OFFLINE"] = "1"
        _with_our_process_settings(env)  # both sides alike
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(BENCH_DIR)
        )

    def call(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(MARK):
                res = json.loads(line[len(MARK) :])
                if not res.get("ok"):
                    raise RuntimeError(f"{self.name} worker failed on {req}: {res.get('error')}")
                return res
        raise RuntimeError(f"{self.name} worker exited (code {self.proc.wait()}) during {req}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def worker_python() -> str:
    """The interpreter for workers: the driver's own (run the driver with the reference venv's python)."""
    return sys.executable


def check_reference_venv() -> None:
    """Exit with a hint unless this interpreter can import the reference (i.e. it is the reference venv's)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import tortoise.api, tortoise.models.autoregressive"],
        cwd=str(BENCH_DIR),
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        sys.exit(
            "the reference tortoise-tts 3.0.0 is not importable by this python; run\n"
            "  bash bench/reference_env.sh && /tmp/tortoise-ref-venv/bin/python bench/<script>.py\n"
            f"(or pass --ours-only). Import error:\n{probe.stderr[-2000:]}"
        )


# ---- real-size random checkpoints (our side only: imports our package) ---------------------------------------------
def write_real_checkpoints(models_dir: Path, names: list[str], *, seed: int = 0) -> Path:
    """Real-size random-weight checkpoints at the released configurations, in the released files' layout.

    Both implementations load these files. The AR model gets ``mel_head.bias[stop] = STOP_BIAS`` so that no sampled
    sequence ever ends early (fixed generation length on both sides). Files already there are kept. Also lays out the
    Hugging Face cache structure (symlinks) in which the reference's ``get_model_path`` finds them offline.
    """
    if str(REPO) not in sys.path:  # the driver runs in the reference venv: our package comes from the repo
        sys.path.insert(0, str(REPO))
    from tortoise import model_zoo
    from tortoise.weights import CHECKPOINTS

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        path = models_dir / CHECKPOINTS[name].filename
        if path.is_file():
            continue
        spec = model_zoo.SPECS[name]
        torch.manual_seed(seed + i)
        model = spec.model_cls(spec.default()).eval()
        if name == "autoregressive":
            with torch.no_grad():
                model.mel_head.bias[model.cfg.stop_mel_token] = STOP_BIAS
        sd = spec.to_file({k: v.detach().clone() for k, v in model.state_dict().items()})
        key = CHECKPOINTS[name].container_key
        tmp = path.with_suffix(".tmp")
        torch.save({key: sd} if key else sd, tmp)
        tmp.replace(path)
        print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB)", file=sys.stderr)
    snap = models_dir / HF_REPO_DIR / "snapshots" / HF_REVISION
    snap.mkdir(parents=True, exist_ok=True)
    (models_dir / HF_REPO_DIR / "refs").mkdir(exist_ok=True)
    (models_dir / HF_REPO_DIR / "refs" / "main").write_text(HF_REVISION)
    for name in names:
        filename = CHECKPOINTS[name].filename
        link = snap / filename
        if not link.is_symlink():
            link.symlink_to(models_dir / filename)
    return models_dir


def write_latents(path: Path, *, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random conditioning latents (ar (1, 1024), diffusion (1, 2048)) both sides use, saved as ``latents.pth``."""
    g = torch.Generator().manual_seed(seed)
    latents = (torch.randn(1, 1024, generator=g), torch.randn(1, 2048, generator=g))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        torch.save(latents, path)
    return torch.load(path, weights_only=True)


# ---- output ---------------------------------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    fmt = [[f"{c:.3g}" if isinstance(c, float) and abs(c) < 100 else (f"{c:.0f}" if isinstance(c, float) else str(c))
            for c in row] for row in rows]  # fmt: skip
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in fmt]
    return "\n".join(lines)


def save_json(path: Path | None, obj: Any) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(obj, indent=1))
