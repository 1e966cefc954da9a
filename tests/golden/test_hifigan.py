"""Golden tests for the api_fast HiFi-GAN decoder (hifidecoder.pth), data-driven from hifidecoder.pt."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry
from tortoise.errors import CheckpointError
from tortoise.models.hifigan import HifiConfig, HifiganDecoder, remap_keys

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return load_fixture("hifidecoder")


def build_decoder(fx: dict[str, Any], sd: dict[str, torch.Tensor] | None = None) -> HifiganDecoder:
    cfg = HifiConfig.from_reference(fx["config"])
    return build_on_test_device(lambda: HifiganDecoder(cfg), fx["state_dict"] if sd is None else sd, remap=remap_keys)


def test_outputs(fx: dict[str, Any]) -> None:
    model = build_decoder(fx)
    latents, cond = fx["inputs"]["latents"], fx["inputs"]["cond_latent"]
    computed = {
        "upsampled": HifiganDecoder.upsample_latents(latents),
        "wav": model.inference(latents, cond),
    }
    unknown = set(fx["outputs"]) - set(computed)
    assert not unknown, f"fixture outputs this test does not know how to compute: {sorted(unknown)}"
    for key in fx["outputs"]:
        assert_golden(computed[key], fx, key)


def test_forward_on_reference_upsampled_input(fx: dict[str, Any]) -> None:
    """forward() alone, fed the reference's own upsampled latents (isolates the generator from the resampling)."""
    if "upsampled" not in fx["outputs"] or "wav" not in fx["outputs"]:
        pytest.skip("fixture lacks upsampled/wav")
    model = build_decoder(fx)
    g = fx["inputs"]["cond_latent"][:, :, None]  # (1, C, 1)
    with torch.inference_mode():
        assert_golden(model(fx["outputs"]["upsampled"], g), fx, "wav")


def test_parametrization_form_loads_the_same(fx: dict[str, Any]) -> None:
    """Weight norm saved by torch >= 2.1 (``parametrizations.weight.original0/1``) folds to the same weights."""
    sd = {}
    for key, value in fx["state_dict"].items():
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        sd[key.replace(".weight_v", ".parametrizations.weight.original1")] = value
    a, b = build_decoder(fx), build_decoder(fx, sd)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_strict_load_rejects_extra_and_missing_keys(fx: dict[str, Any]) -> None:
    """What the original's strict=False would hide raises here."""
    sd = dict(fx["state_dict"])
    with pytest.raises(CheckpointError, match="unexpected"):
        build_decoder(fx, {**sd, "speaker_encoder.fc.weight": torch.zeros(1)})
    missing = {k: v for k, v in sd.items() if not k.startswith("cond_layer.")}
    with pytest.raises(CheckpointError, match="missing"):
        build_decoder(fx, missing)


def test_manifest_layout() -> None:
    """Real-size hifidecoder: every manifest key is consumed by a strict load (after folding), none is hidden."""
    entry = manifest_entry("hifidecoder")
    with torch.device("meta"):
        model = HifiganDecoder(HifiConfig.from_reference(entry["config"]))
        sd = {k: torch.empty(shape) for k, shape in entry["keys"].items()}
    own = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert {k: list(v.shape) for k, v in remap_keys(sd).items()} == own
