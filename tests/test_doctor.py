"""``tortoise-tts doctor``: the wrong PyTorch build for the machine's GPU, and the deep check's CPU fallbacks."""

from __future__ import annotations

import json

import pytest

from tortoise import devices, doctor, doctor_deep, hardware


def _fake_sysfs(root, *nodes: tuple[str, str]):
    for i, (vendor, device) in enumerate(nodes):
        folder = root / f"renderD{128 + i}" / "device"
        folder.mkdir(parents=True)
        (folder / "vendor").write_text(vendor + "\n")
        (folder / "device").write_text(device + "\n")
    (root / "card0").mkdir(exist_ok=True)  # not a render node: ignored
    return root


def test_render_gpus_reads_vendor_and_device(tmp_path):
    sysfs = _fake_sysfs(tmp_path, ("0x8086", "0x56a0"), ("0x10de", "0x2330"))
    (tmp_path / "renderD200").mkdir()  # no device files (a virtual node): skipped
    gpus = hardware.render_gpus(sysfs)
    assert [(g.vendor, g.pci_id, g.node) for g in gpus] == [
        ("intel", "8086:56a0", "renderD128"),
        ("nvidia", "10de:2330", "renderD129"),
    ]
    assert hardware.render_gpus(tmp_path / "absent") == []


@pytest.mark.parametrize(
    ("vendor", "built_for", "fix"),
    [
        ("0x8086", set(), "--device xpu"),
        ("0x8086", {"cuda"}, "--device xpu"),  # a CUDA wheel on an Arc machine
        ("0x10de", {"xpu"}, "--device cuda"),
    ],
)
def test_a_gpu_the_build_cannot_use_is_named_with_the_command_that_fixes_it(tmp_path, vendor, built_for, fix):
    advice = hardware.build_mismatches(hardware.render_gpus(_fake_sysfs(tmp_path, (vendor, "0x1234"))), built_for)
    assert len(advice) == 1 and f"bash install/install.sh {fix}" in advice[0] and "1234" in advice[0]


def test_no_advice_when_the_build_matches_or_the_gpu_needs_no_backend(tmp_path):
    gpus = hardware.render_gpus(_fake_sysfs(tmp_path, ("0x8086", "0x56a0"), ("0x1002", "0x73bf")))
    assert hardware.build_mismatches(gpus, {"xpu"}) == []  # the AMD GPU: no backend of ours, no advice


def test_doctor_reports_the_gpus_and_the_mismatch(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "built_backends", lambda: set())  # a CPU-only wheel
    report = doctor.run("cpu", smoke=False, sysfs_drm=_fake_sysfs(tmp_path, ("0x8086", "0x7d55")))
    assert "intel 8086:7d55 (renderD128)" in report.text()
    assert any("install/install.sh --device xpu" in p for p in report.problems)


XPU_NAMED = (
    "The operator 'aten::_foreach_add.Scalar' is not currently supported on the XPU backend and will fall back to "
    "run on the CPU. This may have performance implications."
)
XPU_NAMED_NEWER = "The operator 'aten::linalg_eigh' on the XPU backend is falling back to run on the CPU."
XPU_UNNAMED = "Aten Op fallback from XPU to CPU happends. This may have performance implications."


def test_fallback_warnings_name_their_operators():
    text = "\n".join([XPU_NAMED, XPU_NAMED_NEWER, XPU_NAMED, "an unrelated warning"])
    assert doctor_deep.fallback_ops(text) == ["aten::_foreach_add.Scalar", "aten::linalg_eigh"]


def test_the_childs_report_becomes_problems():
    report = json.dumps({"device": "xpu:0", "seconds": 2.5, "finite": True, "warnings": [XPU_NAMED]})
    result = doctor_deep.parse("some log line\n" + report + "\n", stderr=XPU_NAMED_NEWER, returncode=0)
    assert result.fallback_ops == ["aten::_foreach_add.Scalar", "aten::linalg_eigh"]
    assert "ran on the CPU instead of xpu:0" in result.problems()[0]
    unnamed = doctor_deep.parse('{"device": "xpu:0", "finite": false, "warnings": []}', XPU_UNNAMED, 0)
    assert unnamed.unnamed_fallback and len(unnamed.problems()) == 2  # the fallback, and the NaN advice
    failed = doctor_deep.parse("", "Traceback ...\nRuntimeError: UR error", 1)
    assert failed.error == "Traceback ... | RuntimeError: UR error" and failed.problems()


def test_doctor_deep_runs_a_generation_in_a_child_process(monkeypatch, tmp_path, capsys):
    from tortoise.cli import main

    monkeypatch.setattr(hardware, "SYSFS_DRM", tmp_path)  # whatever GPU this machine has: not part of this test
    code = main(["doctor", "--deep", "--no-smoke-test", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "deep check" in out and "a tiny-model generation on cpu took" in out
    assert "no operation fell back to the CPU" in out
