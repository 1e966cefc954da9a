"""Shared pytest set-up: deterministic, single-threaded-friendly CPU tests."""

from __future__ import annotations

import os

import pytest
import torch

# Keep test runs reproducible and light on a 2-core machine unless the caller says otherwise.
torch.set_num_threads(int(os.environ.get("TORTOISE_TEST_THREADS", "2")))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
