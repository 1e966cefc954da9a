"""Golden tests for the tortoise-detect classifier (classifier.pth), data-driven from classifier.pt."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry
from tortoise.models.classifier import MAX_SAMPLES, AudioClassifier, ClassifierConfig

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return load_fixture("classifier")


@pytest.fixture(scope="module")
def model(fx: dict[str, Any]) -> AudioClassifier:
    cfg = ClassifierConfig.from_reference(fx["config"])
    return build_on_test_device(lambda: AudioClassifier(cfg), fx["state_dict"])


def test_outputs(fx: dict[str, Any], model: AudioClassifier) -> None:
    clips = {k.removeprefix("clip_"): v for k, v in fx["inputs"].items() if k.startswith("clip_")}
    assert clips, "fixture has no clip_* inputs"
    computed: dict[str, Any] = {}
    for j, clip in clips.items():
        with torch.inference_mode():
            logits = model(clip.unsqueeze(0))  # (1, 1, T) -> (1, classes)
        computed[f"logits_{j}"] = logits
        computed[f"probs_{j}"] = logits.softmax(dim=-1)
        computed[f"prob_tortoise_{j}"] = torch.tensor(model.prob_generated(clip))
    unknown = set(fx["outputs"]) - set(computed)
    assert not unknown, f"fixture outputs this test does not know how to compute: {sorted(unknown)}"
    for key in fx["outputs"]:
        assert_golden(computed[key], fx, key)


@pytest.mark.cpu_generator
def test_prob_generated_uses_first_220000_samples(model: AudioClassifier) -> None:
    g = torch.Generator().manual_seed(0)
    wav = torch.rand(1, MAX_SAMPLES + 5000, generator=g) * 2 - 1
    assert model.prob_generated(wav) == model.prob_generated(wav[:, :MAX_SAMPLES])
    assert model.prob_generated(wav[0, :MAX_SAMPLES]) == model.prob_generated(wav[:, :MAX_SAMPLES])


@pytest.mark.parametrize("bad", [torch.zeros(2, 100), torch.zeros(1, 0), torch.zeros(1, 1, 100)])
def test_prob_generated_rejects_bad_shapes(model: AudioClassifier, bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="mono waveform"):
        model.prob_generated(bad)


def test_manifest_layout() -> None:
    entry = manifest_entry("classifier")
    with torch.device("meta"):
        model = AudioClassifier(ClassifierConfig.from_reference(entry["config"]))
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == entry["keys"]
