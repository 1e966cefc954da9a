"""The one place that knows about accelerators: picking a device, its precision, memory, sync, seeds, offload.

No other module calls ``torch.cuda``, ``torch.xpu``, ``torch.backends.mps`` or imports Intel's extension. Everything
that depends on a backend goes through a :class:`Capabilities` record, which tests can build by hand (the logic
that uses it — dtype policy, batch sizing, offload — is then tested without any GPU). What choosing and measuring a
device needs to know about its type (backend module, numbered or not, availability, advice, capabilities, graph
class) is one :class:`DeviceKind` entry in :data:`KINDS`: adding a device type is adding an entry. Tunings for one
type (TF32 on CUDA, Intel's extension, CPU weight packing) test the type where they apply.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .cpu import runtime
from .errors import DeviceError
from .options import OFFLOAD_POLICIES, PRECISIONS  # the choices' names (torch-free, for the CLI and the app)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Capabilities:
    """What a device can do. Built by :func:`capabilities`, or by hand in tests."""

    type: str
    name: str
    total_memory: int | None = None  # bytes
    free_memory: int | None = None  # bytes; None where the backend cannot report it (XPU on WSL2)
    bf16: bool = False
    fp16: bool = False
    fp64: bool = True


@dataclass(frozen=True)
class DeviceKind:
    """One device type: what picking, describing and measuring such a device needs (an entry of :data:`KINDS`)."""

    name: str  # the torch.device type
    module: str | None  # the backend module's attribute on ``torch`` (torch.cuda, ...); None for the CPU
    indexed: bool  # numbered devices ("cuda:1"), each with its own allocator statistics
    advice: Callable[[], str]  # why it is not usable, with what to do about it
    capabilities: Callable[[torch.device], Capabilities]  # properties and memory probe
    probe: Callable[[], bool] | None = None  # whether it is usable; None: ask the backend module's is_available()
    build: Callable[[], str | None] = lambda: None  # this PyTorch build's support for it, for `tortoise-tts doctor`
    graph: str | None = None  # the backend's graph-capture class
    graph_since: str | None = None  # the torch that added it, where older builds lack it
    pci_vendor: str | None = None  # the vendor of the GPUs it drives, as `tortoise.hardware` names them


def _xpu_built() -> bool:
    xpu = getattr(torch, "xpu", None)
    return xpu is not None and xpu._is_compiled()


def _xpu_advice() -> str:
    if getattr(torch, "xpu", None) is None:
        return "this PyTorch build has no XPU support; install the XPU wheels (see `tortoise-tts doctor`)"
    if not _xpu_built():
        return (
            f"this PyTorch build ({torch.__version__}) was not built for Intel GPUs; reinstall with "
            "`install/install.sh --device xpu` (PyTorch's xpu wheel index)"
        )
    return (
        "PyTorch has XPU support but sees no Intel GPU: check the GPU driver (intel-opencl-icd, level-zero), "
        "that your user is in the 'render' group, and inside conda that the env's libstdc++ is new enough "
        "(`conda install -c conda-forge libstdcxx-ng`); `SYCL_UR_TRACE=1 tortoise-tts doctor` shows details"
    )


def _cuda_advice() -> str:
    if torch.version.cuda is None:
        return "this PyTorch build has no CUDA support; install the CUDA wheels (`install/install.sh --device cuda`)"
    return "PyTorch has CUDA support but finds no NVIDIA GPU: check the driver with `nvidia-smi`"


def _cuda_capabilities(device: torch.device) -> Capabilities:
    props = torch.cuda.get_device_properties(device)
    free, total = torch.cuda.mem_get_info(device)
    return Capabilities("cuda", props.name, total, free, torch.cuda.is_bf16_supported(), True, True)


def _xpu_capabilities(device: torch.device) -> Capabilities:
    props = torch.xpu.get_device_properties(device)
    total = int(getattr(props, "total_memory", 0)) or None
    free = None
    with contextlib.suppress(Exception):  # not supported on every driver (e.g. WSL2)
        free = int(torch.xpu.mem_get_info(device)[0])
    return Capabilities(
        "xpu",
        props.name,
        total,
        free,
        bf16=bool(getattr(props, "has_bfloat16_conversions", True)),
        fp16=bool(getattr(props, "has_fp16", True)),
        fp64=bool(getattr(props, "has_fp64", False)),
    )


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _mps_capabilities(device: torch.device) -> Capabilities:
    total = int(torch.mps.recommended_max_memory()) if hasattr(torch.mps, "recommended_max_memory") else None
    return Capabilities("mps", "Apple GPU (MPS)", total, None, bf16=False, fp16=True, fp64=False)


def _cpu_capabilities(device: torch.device) -> Capabilities:
    return Capabilities("cpu", _cpu_name(), _system_memory(), _system_memory(available=True), bf16=True, fp16=False)


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "CPU"


def _system_memory(available: bool = False) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        key = "MemAvailable:" if available else "MemTotal:"
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    return None


# fmt: off
KINDS: dict[str, DeviceKind] = {  # best first: the order `pick` tries them in
    kind.name: kind
    for kind in (
        DeviceKind("cuda", "cuda", indexed=True, advice=_cuda_advice, capabilities=_cuda_capabilities,
                   build=lambda: f"CUDA {torch.version.cuda}" if torch.version.cuda else None, graph="CUDAGraph",
                   pci_vendor="nvidia"),
        DeviceKind("xpu", "xpu", indexed=True, advice=_xpu_advice, capabilities=_xpu_capabilities,
                   build=lambda: "XPU (Intel GPU) support" if _xpu_built() else None, graph="XPUGraph",
                   graph_since="torch >= 2.10", pci_vendor="intel"),
        DeviceKind("mps", "mps", indexed=False, capabilities=_mps_capabilities, probe=_mps_available,
                   advice=lambda: "Apple's Metal backend is only available on Apple-silicon Macs with macOS 12.3+"),
        DeviceKind("cpu", None, indexed=False, advice=lambda: "the CPU is always available",
                   capabilities=_cpu_capabilities, probe=lambda: True),
    )
}
# fmt: on
ORDER = tuple(KINDS)  # the device types, best first


def _backend(kind: str):
    """The torch backend module for a device type, or None when this torch build lacks it (and for the CPU)."""
    entry = KINDS.get(kind)
    return getattr(torch, entry.module, None) if entry is not None and entry.module else None


def _first(kind: str) -> torch.device:
    return torch.device(kind, 0) if KINDS[kind].indexed else torch.device(kind)


def is_available(kind: str) -> bool:
    entry = KINDS.get(kind)
    if entry is None:
        return False
    try:
        if entry.probe is not None:
            return bool(entry.probe())
        backend = _backend(kind)
        return bool(backend is not None and backend.is_available())
    except Exception:  # a broken driver stack raises instead of answering
        return False


def available() -> list[torch.device]:
    """Every usable device, best first (cuda, xpu, mps, cpu)."""
    out = []
    for kind, entry in KINDS.items():
        if is_available(kind):
            count = _backend(kind).device_count() if entry.indexed else 1
            out.extend(torch.device(kind, i) if entry.indexed else torch.device(kind) for i in range(count))
    return out


def pick(preference: str | torch.device | None = None) -> torch.device:
    """The device to run on: an explicit choice ("xpu", "cuda:1", "cpu", ...) or the best available.

    Raises ``DeviceError`` (with the reason and what to do) when an explicit choice is not usable.
    """
    if preference not in (None, "", "auto"):
        try:
            device = torch.device(preference)
        except RuntimeError as e:
            raise DeviceError(f"unknown device {preference!r}; use one of auto, {', '.join(KINDS)}") from e
        if not is_available(device.type):
            raise DeviceError(f"device {preference!r} is not available: {why_unavailable(device.type)}")
        if device.index is not None and KINDS[device.type].indexed:
            count = _backend(device.type).device_count()
            if device.index >= count:
                raise DeviceError(f"device {preference!r} does not exist: {count} {device.type} device(s) found")
        return device
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None and accelerator.is_available():
        current = accelerator.current_accelerator()
        if current is not None and current.type in KINDS:
            return _first(current.type)
    for kind in KINDS:
        if is_available(kind):
            return _first(kind)
    return torch.device("cpu")


def why_unavailable(kind: str) -> str:
    """A sentence on why a backend is not usable, with what to do about it."""
    entry = KINDS.get(kind)
    return entry.advice() if entry is not None else "unknown device type"


def capabilities(device: torch.device) -> Capabilities:
    return KINDS.get(device.type, KINDS["cpu"]).capabilities(device)


def build_support() -> list[str]:
    """What this PyTorch build supports besides the CPU, in words ("CUDA 12.8", ...); empty for a CPU-only build."""
    return [note for kind in KINDS.values() if (note := kind.build()) is not None]


def built_backends() -> set[str]:
    """The device types this PyTorch build was compiled for besides the CPU, whether or not such a device is present."""
    return {name for name, kind in KINDS.items() if kind.build() is not None}


def backend_for_vendor(vendor: str) -> str | None:
    """The device type that drives a PCI vendor's GPUs ("intel" -> "xpu"), or None when none of ours does."""
    return next((name for name, kind in KINDS.items() if kind.pci_vendor == vendor), None)


def resolve_precision(precision: str, caps: Capabilities) -> torch.dtype:
    """Turn a user's precision choice into a dtype the device supports.

    ``auto`` is float32 everywhere: it is the precision known to sound right (fp16 artefacts were reported on Arc,
    and half precision changes outputs audibly without conditioning-free guidance). ``bf16``/``fp16`` are opt-in;
    where the device lacks them this warns and falls back (bf16 -> fp16 -> fp32).
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision in ("auto", "fp32"):
        return torch.float32
    if precision == "bf16" and caps.bf16:
        return torch.bfloat16
    if precision == "fp16" and caps.fp16:
        return torch.float16
    fallback = torch.float16 if precision == "bf16" and caps.fp16 else torch.float32
    warnings.warn(f"{precision} is not supported on {caps.name}; using {fallback}", stacklevel=2)
    return fallback


_OOM_MARKERS = ("out of memory", "out_of_device_memory", "out_of_host_memory", "mps backend out of memory")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device (or host) allocation failure, on any backend."""
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, (RuntimeError, MemoryError)) and any(m in str(error).lower() for m in _OOM_MARKERS)


def is_cuda(device: torch.device) -> bool:
    """For third-party APIs that only know "CUDA or not" (e.g. voicefixer's ``cuda=`` flag)."""
    return torch.device(device).type == "cuda"


def synchronize(device: torch.device) -> None:
    backend = _backend(device.type)
    if backend is not None and hasattr(backend, "synchronize") and is_available(device.type):
        backend.synchronize()


def empty_cache(device: torch.device) -> None:
    """Free cached allocator memory (between jobs and offloaded models) and collect Python garbage.

    ``TORTOISE_NO_EMPTY_CACHE=1`` keeps the device allocator's cache: ``torch.xpu.empty_cache()`` was reported to
    corrupt memory (NaN outputs) on Arc A-series with some drivers; nothing here needs it for correctness, only to
    give memory back to other programs.
    """
    gc.collect()
    runtime.release_memory()  # the C heap's free memory, kept for reuse during a job (tortoise/cpu/runtime.py)
    if os.environ.get("TORTOISE_NO_EMPTY_CACHE", "") not in ("", "0"):
        return
    backend = _backend(device.type)
    if backend is not None and hasattr(backend, "empty_cache") and is_available(device.type):
        backend.empty_cache()


def set_float32_math(device: torch.device, dtype: torch.dtype) -> None:
    """In float32, float32 products and convolutions on NVIDIA GPUs (no TF32, which cuDNN uses by default and which
    keeps 10 mantissa bits); in reduced precision TF32 is allowed for the float32 parts. Process-wide setting."""
    if device.type == "cuda":
        exact = dtype == torch.float32
        torch.backends.cuda.matmul.allow_tf32 = not exact
        torch.backends.cudnn.allow_tf32 = not exact


def _allocator(device: torch.device):
    """The backend keeping per-device allocator statistics for ``device`` (an indexed GPU), or None."""
    entry = KINDS.get(device.type)
    return _backend(device.type) if entry is not None and entry.indexed and is_available(device.type) else None


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory measurement on a GPU (nothing on the CPU)."""
    backend = _allocator(device)
    if hasattr(backend, "reset_peak_memory_stats"):
        backend.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """Bytes allocated at most on a GPU since the last :func:`reset_peak_memory`; None where not measured."""
    backend = _allocator(device)
    if hasattr(backend, "max_memory_allocated"):
        return int(backend.max_memory_allocated(device))
    return None


def allocated_memory(device: torch.device) -> int | None:
    """Bytes now allocated by tensors on a GPU; None where not measured."""
    backend = _allocator(device)
    if hasattr(backend, "memory_allocated"):
        return int(backend.memory_allocated(device))
    return None


def limit_memory(device: torch.device, fraction: float) -> None:
    """Cap this process's allocations on a GPU at ``fraction`` of its memory (benchmarks of out-of-memory paths)."""
    backend = _backend(device.type)
    if hasattr(backend, "set_per_process_memory_fraction"):
        index = device.index if device.index is not None else backend.current_device()
        backend.set_per_process_memory_fraction(fraction, index)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and every torch generator (CPU and all accelerators)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds cuda, xpu and mps generators


def auto_batch_size(
    caps: Capabilities,
    *,
    bytes_per_candidate: int,
    resident_bytes: int,
    max_batch: int = 16,
    headroom: float = 0.8,
) -> int:
    """Largest power-of-two batch of AR candidates that fits in memory.

    ``bytes_per_candidate`` is the measured cost of one candidate (KV cache + activations at the longest
    generation), ``resident_bytes`` what the models on the device already take. Uses free memory where the backend
    reports it, else ``headroom`` x total; with neither known, a conservative 4 on GPUs.
    """
    if caps.type == "cpu":
        budget = caps.free_memory or caps.total_memory
    else:
        budget = caps.free_memory if caps.free_memory is not None else None
        if budget is None and caps.total_memory is not None:
            budget = int(caps.total_memory * headroom) - resident_bytes
    if budget is None:
        return min(4, max_batch)
    batch = 1
    while batch * 2 <= max_batch and (batch * 2) * bytes_per_candidate <= budget * headroom:
        batch *= 2
    return batch


def offload_policy(choice: str, caps: Capabilities, *, total_model_bytes: int) -> str:
    """``none`` keeps every model on the device; ``models`` moves each model there only while it runs.

    ``auto`` keeps everything resident when the models take under half of the device memory (or when running on
    the CPU, where moving is pointless), else offloads.
    """
    if choice not in OFFLOAD_POLICIES:
        raise DeviceError(f"unknown offload policy {choice!r}; choose one of {', '.join(OFFLOAD_POLICIES)}")
    if choice != "auto":
        return choice
    if caps.type == "cpu":
        return "none"
    if caps.total_memory is None:
        return "models"
    return "none" if total_model_bytes < caps.total_memory * 0.5 else "models"


@contextlib.contextmanager
def on_device(module: nn.Module, device: torch.device, *, offload: bool) -> Iterator[nn.Module]:
    """Use ``module`` on ``device``; with ``offload`` it goes back to the CPU (and memory is freed) afterwards."""
    if not offload:
        yield module.to(device)
        return
    module.to(device)
    try:
        yield module
    finally:
        module.to("cpu")
        empty_cache(device)


class _CompiledOrEager:
    """A ``torch.compile``d function that falls back to eager, with one warning, if compiling fails at first use."""

    def __init__(self, compiled, eager):
        self.compiled, self.eager, self.failed = compiled, eager, False

    def __call__(self, *args, **kwargs):
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as e:  # no C++ compiler, unsupported backend or op: eager still works
                self.failed = True
                warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); running without it", stacklevel=2)
        return self.eager(*args, **kwargs)


def graph_class(device: torch.device):
    """The backend's graph-capture class (``torch.cuda.CUDAGraph``, ``torch.xpu.XPUGraph`` in recent torch), or
    None where the device or this torch build has none."""
    entry = KINDS.get(device.type)
    if entry is None or entry.graph is None or not is_available(device.type):
        return None
    return getattr(_backend(device.type), entry.graph, None)


class CapturedCall:
    """``fn(*tensors)`` recorded once as a device graph and replayed: one launch instead of hundreds of kernels.

    For a function with fixed shapes that reads and writes only tensors whose addresses do not change between
    calls (the decode step over a static KV cache). The arguments are copied into static buffers before each replay
    and the returned tensor is the graph's own output buffer, overwritten by the next call: use it before calling
    again. ``key()`` names whatever the recording depends on besides the argument shapes (e.g. which KV cache is
    allocated); when it or a shape changes, the call is recorded again.
    """

    def __init__(self, fn, device: torch.device, graph_cls, *, key=lambda: None, warmup: int = 2):
        self.fn, self.device, self.graph_cls, self.key_fn, self.warmup = fn, device, graph_cls, key, warmup
        self.key = self.graph = self.inputs = self.output = None
        self.captures = 0

    def _capture(self, args) -> None:
        backend = _backend(self.device.type)
        self.graph = self.output = None  # release the previous recording's memory pool first
        self.inputs = [a.clone() for a in args]
        stream = backend.Stream(self.device)
        stream.wait_stream(backend.current_stream(self.device))
        with backend.stream(stream):  # warm-up runs (library handles, workspaces) off the default stream
            for _ in range(self.warmup):
                self.fn(*self.inputs)
            graph = self.graph_cls()
            graph.capture_begin()
            try:
                output = self.fn(*self.inputs)
            finally:
                graph.capture_end()
        backend.current_stream(self.device).wait_stream(stream)
        self.graph, self.output = graph, output
        self.captures += 1

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        key = (tuple((a.shape, a.dtype) for a in args), self.key_fn())
        if key != self.key:
            self._capture(args)
            self.key = key
        for buffer, a in zip(self.inputs, args):
            buffer.copy_(a)
        self.graph.replay()
        return self.output


class _CapturedOrEager(CapturedCall):
    """A :class:`CapturedCall` that runs ``fn`` eagerly from then on, with one warning, if recording fails."""

    failed = False

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return super().__call__(*args)
            except Exception as e:  # an operation that cannot be recorded, or a driver without graph support
                self.failed = True
                self.graph = self.output = self.inputs = None
                warnings.warn(f"recording the decode step as a device graph failed ({e}); running it eagerly",
                              stacklevel=2)  # fmt: skip
        return self.fn(*args)


def capture_or_compile(fn, device: torch.device, *, key=lambda: None):
    """The decode step made cheap to launch: a device graph where the backend records them (CUDA, XPU with
    ``XPUGraph``), else ``torch.compile`` (see :func:`compile_function`)."""
    graph_cls = graph_class(device)
    if graph_cls is not None:
        return _CapturedOrEager(fn, device, graph_cls, key=key)
    entry = KINDS.get(device.type)
    if entry is not None and entry.graph_since is not None:
        warnings.warn(f"this PyTorch has no torch.{entry.module}.{entry.graph} ({entry.graph_since} has): decode step "
                      "not recorded", stacklevel=2)  # fmt: skip
    return compile_function(fn, device)


def compile_function(fn, device: torch.device, *, backend: str | None = None):
    """``torch.compile`` for ``device``, or ``fn`` itself with a warning. (Graphs do nothing on XPU in
    ``torch.compile``'s "reduce-overhead" mode, and CUDA graphs are recorded by :class:`CapturedCall` instead.)"""
    compile_ = getattr(torch, "compile", None)
    if compile_ is None:
        warnings.warn("this PyTorch has no torch.compile; running without it", stacklevel=2)
        return fn
    mode = "default"
    try:
        compiled = compile_(fn, mode=mode, backend=backend or "inductor")
    except Exception as e:
        warnings.warn(f"torch.compile is not available ({e}); running without it", stacklevel=2)
        return fn
    return _CompiledOrEager(compiled, fn)


def intel_extension(module_override=None):
    """Intel's legacy extension if installed (optional; never required), else None. Imported lazily."""
    if module_override is not None:
        return module_override
    if os.environ.get("TORTOISE_NO_IPEX"):
        return None
    try:
        return importlib.import_module("intel_extension_for_pytorch")
    except Exception:  # not installed, or built for another torch version: both mean "do without"
        return None


def optimize_for_device(model: nn.Module, device: torch.device, dtype: torch.dtype, *, ipex=None) -> nn.Module:
    """Apply the legacy extension's ``optimize`` on XPU/CPU when it is present; otherwise return the model as is."""
    ext = intel_extension(ipex)
    if ext is None or device.type not in ("xpu", "cpu"):
        return model
    try:
        # weights_prepack=False: its bf16 prepacking needs AVX-512 and changes the module's parameters
        return ext.optimize(model.eval(), dtype=dtype, inplace=True, weights_prepack=False)
    except Exception as e:  # a version mismatch must never stop generation
        warnings.warn(f"intel_extension_for_pytorch.optimize failed ({e}); continuing without it", stacklevel=2)
        return model


def torch_dtype(name: str) -> torch.dtype:
    return _DTYPES[name]
