"""Device selection, precision policy, batch sizing and offload logic, on the CPU and with injected capabilities."""

from __future__ import annotations

import types
import warnings

import pytest
import torch
from torch import nn

from tortoise import devices
from tortoise.devices import Capabilities
from tortoise.errors import DeviceError

GiB = 1024**3
ARC_A770 = Capabilities(
    "xpu", "Intel Arc A770", total_memory=16 * GiB, free_memory=None, bf16=True, fp16=True, fp64=False
)
RTX_3060 = Capabilities("cuda", "RTX 3060", total_memory=12 * GiB, free_memory=10 * GiB, bf16=True, fp16=True)
OLD_GPU = Capabilities("cuda", "GTX 1060", total_memory=6 * GiB, free_memory=5 * GiB, bf16=False, fp16=True)
CPU = Capabilities("cpu", "CPU", total_memory=24 * GiB, free_memory=20 * GiB, bf16=True, fp16=False)


def test_pick_on_a_cpu_machine():
    assert devices.pick() == torch.device("cpu")
    assert devices.pick("auto") == torch.device("cpu")
    assert devices.pick("cpu") == torch.device("cpu")
    assert torch.device("cpu") in devices.available()


@pytest.mark.parametrize("kind", ["cuda", "xpu", "mps"])
def test_explicit_unavailable_device_says_why(kind):
    if devices.is_available(kind):
        pytest.skip(f"{kind} is available here")
    with pytest.raises(DeviceError, match=r"not available: .+"):
        devices.pick(kind)


def test_a_device_kind_is_one_entry(monkeypatch):
    """A device type unknown to the package (here a stand-in backend under MTIA's device name) needs only its entry."""
    state = {"up": True}

    class Backend:  # stands for a torch.<backend> module
        is_available = staticmethod(lambda: state["up"])
        device_count = staticmethod(lambda: 2)
        memory_allocated = staticmethod(lambda device: 1234)
        Graph = object

    caps = Capabilities("mtia", "Stand-in GPU", 8 * GiB, 6 * GiB, bf16=True, fp16=True)
    entry = devices.DeviceKind(
        "mtia", module="stand_in", indexed=True, advice=lambda: "plug it in", capabilities=lambda d: caps, graph="Graph"
    )
    monkeypatch.setattr(torch, "stand_in", Backend, raising=False)
    monkeypatch.setattr(devices, "KINDS", {"mtia": entry, **devices.KINDS})
    if getattr(torch, "accelerator", None) is not None:  # a real GPU here would be picked first
        monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert devices.pick() == torch.device("mtia", 0)
    found = devices.available()
    assert found[:2] == [torch.device("mtia", 0), torch.device("mtia", 1)] and found[-1] == torch.device("cpu")
    assert devices.pick("mtia:1") == torch.device("mtia", 1)
    with pytest.raises(DeviceError, match="does not exist: 2 mtia device"):
        devices.pick("mtia:2")
    assert devices.capabilities(torch.device("mtia", 1)) is caps
    assert devices.allocated_memory(torch.device("mtia", 0)) == 1234
    assert devices.peak_memory(torch.device("mtia", 0)) is None  # the backend keeps no peak: not measured
    assert devices.graph_class(torch.device("mtia", 0)) is object
    state["up"] = False
    assert devices.pick().type != "mtia" and devices.graph_class(torch.device("mtia", 0)) is None
    with pytest.raises(DeviceError, match="not available: plug it in"):
        devices.pick("mtia")


def test_unknown_device_name():
    with pytest.raises(DeviceError, match="unknown device"):
        devices.pick("tpu-9000")


def test_capabilities_of_the_cpu():
    caps = devices.capabilities(torch.device("cpu"))
    assert caps.type == "cpu" and caps.fp64
    assert caps.total_memory is None or caps.total_memory > 0


def test_precision_policy_defaults_to_fp32_everywhere():
    for caps in (ARC_A770, RTX_3060, OLD_GPU, CPU):
        assert devices.resolve_precision("auto", caps) == torch.float32
        assert devices.resolve_precision("fp32", caps) == torch.float32


def test_reduced_precision_is_opt_in_with_fallbacks():
    assert devices.resolve_precision("bf16", ARC_A770) == torch.bfloat16
    assert devices.resolve_precision("fp16", RTX_3060) == torch.float16
    with pytest.warns(UserWarning, match="bf16 is not supported"):
        assert devices.resolve_precision("bf16", OLD_GPU) == torch.float16
    with pytest.warns(UserWarning, match="fp16 is not supported"):
        assert devices.resolve_precision("fp16", CPU) == torch.float32
    with pytest.raises(DeviceError, match="unknown precision"):
        devices.resolve_precision("int4", CPU)


def test_batch_size_uses_free_memory_when_known():
    per = 512 * 1024**2  # free memory is measured with the models already resident: 10 GiB x 0.8 -> 16 x 0.5 GiB
    assert devices.auto_batch_size(RTX_3060, bytes_per_candidate=per, resident_bytes=4 * GiB) == 16
    tight = Capabilities("cuda", "small", 4 * GiB, free_memory=700 * 1024**2, fp16=True)
    assert devices.auto_batch_size(tight, bytes_per_candidate=per, resident_bytes=3 * GiB) == 1


def test_batch_size_without_free_memory_uses_total_minus_resident():
    # XPU on WSL2 reports no free memory: 16 GiB * 0.8 - 4 GiB of models = 8.8 GiB,
    # x 0.8 headroom = 7 GiB -> 8 candidates of 0.5 GiB
    per = 512 * 1024**2
    assert devices.auto_batch_size(ARC_A770, bytes_per_candidate=per, resident_bytes=4 * GiB) == 8
    unknown = Capabilities("xpu", "mystery", None, None)
    assert devices.auto_batch_size(unknown, bytes_per_candidate=per, resident_bytes=0) == 4
    assert devices.auto_batch_size(unknown, bytes_per_candidate=per, resident_bytes=0, max_batch=2) == 2


def test_offload_policy():
    assert devices.offload_policy("auto", CPU, total_model_bytes=4 * GiB) == "none"
    assert devices.offload_policy("auto", ARC_A770, total_model_bytes=4 * GiB) == "none"
    assert devices.offload_policy("auto", OLD_GPU, total_model_bytes=4 * GiB) == "models"
    assert devices.offload_policy("auto", Capabilities("xpu", "?"), total_model_bytes=1) == "models"
    assert devices.offload_policy("models", RTX_3060, total_model_bytes=1) == "models"
    with pytest.raises(DeviceError):
        devices.offload_policy("sometimes", CPU, total_model_bytes=1)


def test_on_device_context_moves_back_when_offloading():
    module = nn.Linear(2, 2)
    with devices.on_device(module, torch.device("cpu"), offload=True) as m:
        assert next(m.parameters()).device.type == "cpu"
    assert next(module.parameters()).device.type == "cpu"


def test_seed_all_makes_every_generator_repeat():
    import random

    import numpy as np

    devices.seed_all(42)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    devices.seed_all(42)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_intel_extension_path_through_an_injected_module():
    calls = []

    def optimize(model, dtype, inplace, weights_prepack):
        calls.append((dtype, inplace, weights_prepack))
        return model

    fake = types.SimpleNamespace(optimize=optimize)
    model = nn.Linear(2, 2)
    assert devices.optimize_for_device(model, torch.device("cpu"), torch.float32, ipex=fake) is model
    assert calls == [(torch.float32, True, False)]


def test_intel_extension_failure_only_warns():
    def optimize(*args, **kwargs):
        raise RuntimeError("built for torch 2.8")

    model = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="continuing without it"):
        out = devices.optimize_for_device(
            model, torch.device("cpu"), torch.float32, ipex=types.SimpleNamespace(optimize=optimize)
        )
    assert out is model


def test_no_extension_means_model_unchanged():
    model = nn.Linear(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.optimize_for_device(model, torch.device("cpu"), torch.float32) is model


def test_no_other_module_touches_backends_directly():
    from pathlib import Path

    root = Path(devices.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "devices.py":
            continue
        text = path.read_text()
        for needle in ("torch.cuda", "torch.xpu", "torch.backends.mps", "intel_extension_for_pytorch", '"cuda"'):
            if needle in text:
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert not offenders, offenders


def test_out_of_memory_detection_across_backends():
    assert devices.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert devices.is_out_of_memory(RuntimeError("UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY"))
    assert devices.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    assert devices.is_out_of_memory(MemoryError("out of memory"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not devices.is_out_of_memory(ValueError("out of memory"))  # not an allocation error type


def test_compile_function_matches_eager_and_falls_back(monkeypatch):
    def f(x):
        return torch.sin(x) * 2 + 1

    x = torch.randn(8)
    compiled = devices.compile_function(f, torch.device("cpu"), backend="eager")
    torch.testing.assert_close(compiled(x), f(x))

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    fallback = devices.compile_function(f, torch.device("cpu"))
    with pytest.warns(UserWarning, match="running without it"):
        torch.testing.assert_close(fallback(x), f(x))
    torch.testing.assert_close(fallback(x), f(x))  # stays on eager, no second warning needed


def test_openmp_wait_default_only_when_the_user_chose_nothing():
    from tortoise.cpu import runtime

    env: dict[str, str] = {}
    runtime.configure_openmp(env)
    assert env == {"GOMP_SPINCOUNT": runtime.SPIN_COUNT}
    for mine in ({"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": "0"}):
        env = dict(mine)
        runtime.configure_openmp(env)
        assert env == mine


def test_allocator_settings_apply_on_glibc_and_memory_can_be_released(monkeypatch):
    import platform

    from tortoise.cpu import runtime

    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert runtime.configure_allocator() is on_glibc
    runtime.release_memory()  # returns nothing; must not fail on any C library
    assert str(runtime.MMAP_THRESHOLD) in runtime.allocator_tunables()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert runtime.configure_allocator() is False  # the user's settings win


class _FakeStream:
    def __init__(self, device=None):
        pass

    def wait_stream(self, other):
        pass


class _FakeBackend:
    """Stands for torch.cuda / torch.xpu in the graph-recording code: streams that do nothing."""

    Stream = _FakeStream

    @staticmethod
    def current_stream(device=None):
        return _FakeStream()

    @staticmethod
    def stream(s):
        import contextlib

        return contextlib.nullcontext()


class _ReplayingGraph:
    """A graph class whose replay re-runs what was recorded (the function, on the same buffers)."""

    recording = None

    def capture_begin(self):
        _ReplayingGraph.recording = self

    def capture_end(self):
        pass

    def replay(self):
        self.replays = getattr(self, "replays", 0) + 1
        out = self.fn(*self.args)
        self.target.copy_(out)


def test_captured_call_replays_on_static_buffers_and_records_again_when_the_key_changes(monkeypatch):
    monkeypatch.setattr(devices, "_backend", lambda kind: _FakeBackend)
    calls = []

    def fn(x, pos):
        calls.append(1)
        return x * 2 + pos

    version = {"v": 0}
    step = devices.CapturedCall(fn, torch.device("cpu"), _ReplayingGraph, key=lambda: version["v"], warmup=1)
    real_capture = step._capture

    def capture(args):
        real_capture(args)
        step.graph.fn, step.graph.args, step.graph.target = fn, step.inputs, step.output

    step._capture = capture
    a = step(torch.ones(2), torch.tensor([1.0]))
    torch.testing.assert_close(a, torch.tensor([3.0, 3.0]))
    b = step(torch.full((2,), 5.0), torch.tensor([2.0]))  # same shapes: the buffers take the new values
    torch.testing.assert_close(b, torch.tensor([12.0, 12.0]))
    assert step.captures == 1 and a is b  # the graph's own output buffer, overwritten by each call
    step(torch.ones(3), torch.tensor([1.0]))  # another shape: recorded again
    version["v"] = 1
    step(torch.ones(3), torch.tensor([1.0]))  # the caches were reallocated: recorded again
    assert step.captures == 3


def test_capture_or_compile_falls_back_to_eager_once_when_recording_fails(monkeypatch):
    monkeypatch.setattr(devices, "_backend", lambda kind: _FakeBackend)

    class BrokenGraph(_ReplayingGraph):
        def capture_begin(self):
            raise RuntimeError("operation not permitted when stream is capturing")

    step = devices._CapturedOrEager(lambda x: x + 1, torch.device("cpu"), BrokenGraph)
    with pytest.warns(UserWarning, match="running it eagerly"):
        torch.testing.assert_close(step(torch.zeros(2)), torch.ones(2))
    torch.testing.assert_close(step(torch.ones(2)), torch.full((2,), 2.0))  # eager from then on, no new warning


def test_graph_class_is_none_off_gpus_and_compile_is_used_there():
    assert devices.graph_class(torch.device("cpu")) is None
    fn = devices.capture_or_compile(lambda x: x, torch.device("cpu"))
    assert not isinstance(fn, devices.CapturedCall)


def test_float32_means_no_tf32_on_nvidia():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        devices.set_float32_math(torch.device("cuda"), torch.float32)
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        devices.set_float32_math(torch.device("cuda"), torch.bfloat16)
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
