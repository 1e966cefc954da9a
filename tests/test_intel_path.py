"""The Intel GPU path without an Intel GPU: what Arc and Core Ultra users run into, checked with fakes."""

from __future__ import annotations

import sys
import types

import torch

from tortoise import devices, doctor, hardware


def test_the_intel_extension_is_never_required(monkeypatch, tmp_path):
    monkeypatch.delenv("TORTOISE_NO_IPEX", raising=False)
    monkeypatch.setitem(sys.modules, "intel_extension_for_pytorch", None)  # not installed: import fails
    assert devices.intel_extension() is None
    broken = tmp_path / "intel_extension_for_pytorch"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('built for torch 2.8, this is 2.13')\n")
    monkeypatch.delitem(sys.modules, "intel_extension_for_pytorch")
    monkeypatch.syspath_prepend(str(tmp_path))  # installed but built for another torch: import raises
    assert devices.intel_extension() is None
    model = torch.nn.Linear(2, 2)
    assert devices.optimize_for_device(model, torch.device("cpu"), torch.float32) is model


def _fake_xpu(monkeypatch, *, total: int, mem_get_info):
    props = types.SimpleNamespace(name="Intel(R) Arc(TM) 140V GPU (16GB)", total_memory=total, has_fp64=False)
    fake = types.SimpleNamespace(
        get_device_properties=lambda device: props, mem_get_info=mem_get_info, _is_compiled=lambda: True
    )
    monkeypatch.setattr(torch, "xpu", fake, raising=False)


def test_free_memory_unknown_on_integrated_gpus_and_wsl2(monkeypatch):
    def unsupported(device):
        raise RuntimeError("The device (Intel(R) Arc(TM) 140V GPU) doesn't support querying the available free memory")

    _fake_xpu(monkeypatch, total=16 * 2**30, mem_get_info=unsupported)
    caps = devices.capabilities(torch.device("xpu", 0))
    assert caps.free_memory is None and caps.total_memory == 16 * 2**30 and not caps.fp64
    batch = devices.auto_batch_size(caps, bytes_per_candidate=512 * 2**20, resident_bytes=4 * 2**30)
    assert 1 <= batch <= 16  # planned from the total (shared system memory), never an error


def test_doctor_says_what_it_assumed_about_memory(monkeypatch, tmp_path):
    _fake_xpu(monkeypatch, total=16 * 2**30, mem_get_info=lambda device: (_ for _ in ()).throw(RuntimeError("no")))
    monkeypatch.setattr(devices, "pick", lambda preference=None: torch.device("xpu", 0))
    monkeypatch.setattr(devices, "is_available", lambda kind: kind in ("cpu", "xpu"))
    monkeypatch.setattr(hardware, "SYSFS_DRM", tmp_path)
    report = doctor.run("xpu", smoke=False).text()
    assert "chosen device          xpu:0 (Intel(R) Arc(TM) 140V GPU (16GB))" in report
    assert "the driver cannot report free memory" in report and "the total minus the loaded models" in report
