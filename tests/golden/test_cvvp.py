"""CVVP against the golden fixture ``cvvp.pt`` and the ``cvvp`` layout in ``manifests.json``."""

from __future__ import annotations

import pytest
import torch

from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry
from tortoise.models.cvvp import CVVP, CVVPConfig, remap_keys

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fixture() -> dict:
    return load_fixture("cvvp")


@pytest.fixture(scope="module")
def model(fixture: dict) -> CVVP:
    cfg = CVVPConfig.from_reference(fixture["config"])
    return build_on_test_device(lambda: CVVP(cfg), fixture["state_dict"], remap=remap_keys, what="cvvp fixture")


def test_score(model: CVVP, fixture: dict) -> None:
    x = fixture["inputs"]
    assert_golden(model.score(x["mel_cond"], x["mel_input"]), fixture, "score")


def test_score_shared_clip(model: CVVP, fixture: dict) -> None:
    """One conditioning clip broadcast over the candidates equals the original's ``repeat``."""
    x = fixture["inputs"]
    B = x["mel_input"].shape[0]
    clip = x["mel_cond"][:1]
    shared = model.score(clip, x["mel_input"])
    repeated = model.score(clip.repeat(B, 1, 1), x["mel_input"])
    torch.testing.assert_close(shared, repeated, atol=1e-6, rtol=1e-6)


def test_loss(model: CVVP, fixture: dict) -> None:
    """The training loss (``return_loss=True``) is optional for inference; checked because it is cheap."""
    if "loss" not in fixture["outputs"]:
        pytest.skip("fixture has no loss output")
    x = fixture["inputs"]
    with torch.inference_mode():
        assert_golden(model.loss(x["mel_cond"], x["mel_input"]), fixture, "loss")


def test_manifest_cvvp_layout() -> None:
    entry = manifest_entry("cvvp")
    cfg = CVVPConfig.from_reference(entry["config"])
    with torch.device("meta"):
        model = CVVP(cfg)
    got = {k: list(v.shape) for k, v in remap_keys(dict(model.state_dict())).items()}
    assert got == {k: list(v) for k, v in entry["keys"].items()}
    assert sum(p.numel() for p in model.parameters()) == entry["n_params"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latent_multiplier": 2}, "latent_multiplier"),
        ({"mel_codes": None}, "mel_codes"),
        ({"bogus": 1}, "unsupported"),
    ],
)
def test_from_reference_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CVVPConfig.from_reference(kwargs)
