"""CLVP against the golden fixture ``clvp.pt`` and the ``clvp2`` layout in ``manifests.json``."""

from __future__ import annotations

import pytest
import torch

from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry
from tortoise.models.clvp import CLVP, CLVPConfig, remap_keys

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fixture() -> dict:
    return load_fixture("clvp")


@pytest.fixture(scope="module")
def model(fixture: dict) -> CLVP:
    cfg = CLVPConfig.from_reference(fixture["config"])
    return build_on_test_device(lambda: CLVP(cfg), fixture["state_dict"], remap=remap_keys, what="clvp fixture")


def test_similarity(model: CLVP, fixture: dict) -> None:
    x = fixture["inputs"]
    assert_golden(model.similarity(x["text"], x["speech_tokens"]), fixture, "similarity")


def test_similarity_shared_text_row(model: CLVP, fixture: dict) -> None:
    """A single text row broadcast over the candidates equals the original's ``text.repeat(B, 1)``."""
    x = fixture["inputs"]
    B = x["speech_tokens"].shape[0]
    row = x["text"][:1]
    shared = model.similarity(row, x["speech_tokens"])
    repeated = model.similarity(row.repeat(B, 1), x["speech_tokens"])
    torch.testing.assert_close(shared, repeated, atol=1e-6, rtol=1e-6)


def test_loss(model: CLVP, fixture: dict) -> None:
    """The training loss (``return_loss=True``) is optional for inference; checked because it is cheap."""
    if "loss" not in fixture["outputs"]:
        pytest.skip("fixture has no loss output")
    x = fixture["inputs"]
    with torch.inference_mode():
        assert_golden(model.loss(x["text"], x["speech_tokens"]), fixture, "loss")


def test_manifest_clvp2_layout() -> None:
    entry = manifest_entry("clvp2")
    cfg = CLVPConfig.from_reference(entry["config"])
    with torch.device("meta"):
        model = CLVP(cfg)
    got = {k: list(v.shape) for k, v in remap_keys(dict(model.state_dict())).items()}
    assert got == {k: list(v) for k, v in entry["keys"].items()}
    assert sum(p.numel() for p in model.parameters()) == entry["n_params"]


def test_from_reference_rejects_non_xformers_path() -> None:
    with pytest.raises(ValueError, match="use_xformers"):
        CLVPConfig.from_reference({"dim_text": 64, "use_xformers": False})
    with pytest.raises(ValueError, match="unsupported"):
        CLVPConfig.from_reference({"use_xformers": True, "bogus": 1})
