"""Access to the golden fixtures: data-driven, never hard-coded.

Every golden test reads its file from ``$TORTOISE_FIXTURES`` (default ``../shared/fixtures`` beside the
repository), builds its model from the file's ``config`` and compares every output with the file's own
tolerances. A file that is absent is skipped; a file that is present must pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
# The device the golden tests run the models on (cpu by default; cuda/xpu on a GPU machine). Inputs are moved there
# and outputs compared on the CPU. On a GPU the kernels sum in other orders (and cuDNN picks other algorithms), so
# float tolerances are GPU_TOLERANCE_FACTOR x the fixture's (whose atol is already 20x the float32-vs-float64 noise).
TEST_DEVICE = torch.device(os.environ.get("TORTOISE_TEST_DEVICE", "cpu"))
GPU_TOLERANCE_FACTOR = 10.0


def fixtures_dir() -> Path:
    return Path(os.environ.get("TORTOISE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def fixture_path(name: str) -> Path:
    return fixtures_dir() / name


def load_fixture(name: str, *, on_device: bool = True) -> dict[str, Any]:
    """Load ``<name>.pt`` (weights_only) or skip the test when this fixture set does not have it. With
    ``on_device``, its inputs and outputs are on ``TEST_DEVICE`` (for fixtures of models; not of CPU front ends)."""
    path = fixture_path(f"{name}.pt")
    if not path.is_file():
        pytest.skip(f"golden fixture {path} not present")
    fixture = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("inputs", "outputs"):  # outputs too: some tests feed one stage's expected output to the next
        if key in fixture and on_device:
            fixture[key] = to_test_device(fixture[key])
    return fixture


def to_test_device(obj: Any) -> Any:
    """``obj`` (a tensor, or lists/dicts of them) on ``TEST_DEVICE``; everything else unchanged."""
    if isinstance(obj, torch.Tensor):
        return obj.to(TEST_DEVICE)
    if isinstance(obj, dict):
        return {k: to_test_device(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_test_device(v) for v in obj)
    return obj


def build_on_test_device(*args: Any, **kwargs: Any) -> torch.nn.Module:
    """``tortoise.loading.build`` (the real checkpoint loader), then the model moved to ``TEST_DEVICE``."""
    from tortoise.devices import set_float32_math
    from tortoise.loading import build

    set_float32_math(TEST_DEVICE, torch.float32)  # the fixtures are float32: no TF32 on NVIDIA GPUs
    return build(*args, **kwargs).to(TEST_DEVICE)


def tolerance(fixture: dict[str, Any], key: str) -> dict[str, float] | str:
    tols = fixture.get("tolerances", {})
    if key not in tols:
        raise KeyError(f"fixture has no tolerance for {key!r}; known: {sorted(tols)}")
    return tols[key]


def assert_golden(actual: Any, fixture: dict[str, Any], key: str, *, expected: Any = None) -> None:
    """Compare ``actual`` with ``fixture['outputs'][key]`` using the fixture's tolerance for ``key``."""
    if expected is None:
        expected = fixture["outputs"][key]
    if isinstance(actual, torch.Tensor):
        actual = actual.cpu()
    if isinstance(expected, torch.Tensor):
        expected = expected.cpu()
    tol = tolerance(fixture, key)
    exact = isinstance(tol, str) and tol.startswith("exact")  # e.g. "exact (torch CPU generator)"
    if exact or not isinstance(expected, torch.Tensor) or not expected.is_floating_point():
        if isinstance(expected, torch.Tensor):
            actual = torch.as_tensor(actual).to(expected.dtype)
            torch.testing.assert_close(actual, expected, rtol=0, atol=0, msg=lambda m: f"{key}: {m}")
        else:
            assert actual == expected, f"{key}: {actual!r} != {expected!r}"
        return
    actual = torch.as_tensor(actual).to(expected.dtype)
    factor = 1.0 if TEST_DEVICE.type == "cpu" else GPU_TOLERANCE_FACTOR
    atol, rtol = tol["atol"] * factor, tol["rtol"] * factor
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol, msg=lambda m: f"{key}: {m}")


def manifest_entry(name: str) -> dict[str, Any]:
    """The ``manifests.json`` entry of a released checkpoint (real-size layout), or skip when absent."""
    import json

    path = fixtures_dir() / "manifests.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    entry = json.loads(path.read_text()).get(name)
    if entry is None:
        pytest.skip(f"manifests.json has no {name!r} entry")
    return entry
