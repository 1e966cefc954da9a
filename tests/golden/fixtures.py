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


def fixtures_dir() -> Path:
    return Path(os.environ.get("TORTOISE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def fixture_path(name: str) -> Path:
    return fixtures_dir() / name


def load_fixture(name: str) -> dict[str, Any]:
    """Load ``<name>.pt`` (weights_only) or skip the test when this fixture set does not have it."""
    path = fixture_path(f"{name}.pt")
    if not path.is_file():
        pytest.skip(f"golden fixture {path} not present")
    return torch.load(path, map_location="cpu", weights_only=True)


def tolerance(fixture: dict[str, Any], key: str) -> dict[str, float] | str:
    tols = fixture.get("tolerances", {})
    if key not in tols:
        raise KeyError(f"fixture has no tolerance for {key!r}; known: {sorted(tols)}")
    return tols[key]


def assert_golden(actual: Any, fixture: dict[str, Any], key: str, *, expected: Any = None) -> None:
    """Compare ``actual`` with ``fixture['outputs'][key]`` using the fixture's tolerance for ``key``."""
    if expected is None:
        expected = fixture["outputs"][key]
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
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"], msg=lambda m: f"{key}: {m}")


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
