"""``tortoise-tts doctor``: what this machine offers, why a GPU is or is not used, and a tiny run on the device."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import devices, doctor_deep, hardware
from .cpu import calibration
from .cpu.prepacked import packing_works
from .errors import InvalidInputError


@dataclass
class DoctorReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.lines.append(f"{label:<22} {value}")

    def text(self) -> str:
        out = list(self.lines)
        if self.problems:
            out.append("")
            out.extend(f"problem: {p}" for p in self.problems)
        return "\n".join(out)


def _gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1024**3:.1f} GiB"


def _build_info() -> str:
    return ", ".join([f"torch {torch.__version__}", *(devices.build_support() or ["CPU-only build"])])


def smoke_test(device: torch.device, dtype: torch.dtype) -> float:
    """Run a tiny attention model forward on ``device``; returns the milliseconds of the second run."""
    from .models.layers import AttentionBlock

    block = AttentionBlock(64, 4, relative_pos_embeddings=True).to(device=device, dtype=dtype).eval()
    x = torch.randn(2, 64, 100, device=device, dtype=dtype)
    with torch.inference_mode():
        block(x)  # first call may compile kernels (XPU) or load libraries
        devices.synchronize(device)
        start = time.perf_counter()
        y = block(x)
        devices.synchronize(device)
        elapsed = (time.perf_counter() - start) * 1000
    if not torch.isfinite(y.float()).all():
        raise RuntimeError("the smoke test produced non-finite numbers")
    return elapsed


def run(
    preference: str | None = None, *, smoke: bool = True, deep: bool = False, sysfs_drm: Path | None = None
) -> DoctorReport:
    """The report; ``deep`` adds a tiny-model generation on the device (:mod:`tortoise.doctor_deep`)."""
    r = DoctorReport()
    r.add("python", f"{sys.version.split()[0]} ({sys.executable})")
    r.add("platform", f"{platform.system()} {platform.release()} {platform.machine()}")
    if "microsoft" in platform.release().lower():
        r.add("wsl2", "yes (Intel GPUs need the Windows driver; free memory cannot be queried on XPU)")
    built_for = devices.built_backends()
    r.add("pytorch build", _build_info())
    gpus = hardware.render_gpus(sysfs_drm)
    if gpus:
        r.add("gpus (kernel)", ", ".join(f"{g.vendor} {g.pci_id} ({g.node})" for g in gpus))
    r.problems.extend(hardware.build_mismatches(gpus, built_for))
    if os.environ.get("CONDA_PREFIX"):
        r.add("conda env", os.environ["CONDA_PREFIX"])
    for kind in devices.ORDER[:-1]:
        ok = devices.is_available(kind)
        r.add(f"{kind}", "available" if ok else f"not used: {devices.why_unavailable(kind)}")
    ext = devices.intel_extension()
    r.add("intel extension", f"{ext.__version__} (optional)" if ext is not None else "not installed (optional)")
    try:
        device = devices.pick(preference)
    except Exception as e:
        r.problems.append(str(e))
        device = torch.device("cpu")
    caps = devices.capabilities(device)
    r.add("chosen device", f"{device} ({caps.name})")
    r.add("memory", f"total {_gib(caps.total_memory)}, free {_gib(caps.free_memory)}")
    if device.type != "cpu" and caps.free_memory is None:
        assumed = "the total minus the loaded models" if caps.total_memory else "a batch of 4 candidates"
        r.add("memory note", f"the driver cannot report free memory (integrated GPU or WSL2): batches assume {assumed}")
    precisions = ["fp32"] + [p for p, ok in (("bf16", caps.bf16), ("fp16", caps.fp16)) if ok]
    r.add("precisions", f"{', '.join(precisions)} (default fp32; others opt-in with --precision)")
    if not caps.fp64:
        r.add("float64", "not supported (schedules are computed on the CPU)")
    if device.type == "cpu":
        r.add("note", "running on the CPU: generation works but is slow")
        if os.environ.get("TORTOISE_NO_PACK"):
            r.add("cpu weight packing", "off (TORTOISE_NO_PACK is set)")
        else:
            packing = [name for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)) if packing_works(dt)]
            try:
                choice = calibration.describe(calibration.Calibration())
            except InvalidInputError as e:
                r.problems.append(str(e))
                choice = "not chosen (see the problem below)"
            r.add(
                "cpu weight packing",
                (", ".join(packing) if packing else "unavailable in this PyTorch (slower)")
                + f" (also Winograd F(4,3) for fp32 diffusion kernel-3 convolutions); which layers get them: {choice}",
            )
        waiting = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
        wait_text = ", ".join(f"{k}={v}" for k, v in waiting.items()) or "OpenMP's default waiting"
        r.add("cpu threads", f"{torch.get_num_threads()} ({wait_text})")
    if smoke:
        try:
            ms = smoke_test(device, torch.float32)
            r.add("smoke test", f"ok ({ms:.1f} ms for a tiny attention block on {device})")
        except Exception as e:
            r.problems.append(f"the smoke test failed on {device}: {e}")
    if deep:
        result = doctor_deep.run(str(device))
        r.add("deep check", result.summary())
        r.problems.extend(result.problems())
    return r
