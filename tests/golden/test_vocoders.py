"""Golden tests for the mel vocoders: UnivNet (vocoder.pth) and BigVGAN (fast-fork option).

Data-driven: each model is built from the fixture's ``config`` and its weight-norm ``state_dict`` is loaded strictly
through ``tortoise.loading.build`` with the model's ``remap_keys`` (folding g/v), exactly as the released files are.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.golden.fixtures import assert_golden, build_on_test_device, load_fixture, manifest_entry, tolerance
from tortoise.models import bigvgan, univnet
from tortoise.models.weight_norm import fold_state_dict

pytestmark = pytest.mark.golden


def check(actual: torch.Tensor, fx: dict[str, Any], key: str) -> None:
    """``assert_golden``, plus tolerances spelled as text starting with "exact" (e.g. "exact (torch CPU generator)")."""
    tol = tolerance(fx, key)
    if isinstance(tol, str) and tol.startswith("exact"):
        expected = fx["outputs"][key]
        assert actual.shape == expected.shape and torch.equal(actual.to(expected.dtype), expected), key
    else:
        assert_golden(actual, fx, key)


def meta_state_dict(keys: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in keys.items()}


# ---------------------------------------------------------------------------------------------------- UnivNet


@pytest.fixture(scope="module")
def univnet_fx() -> dict[str, Any]:
    return load_fixture("univnet")


def build_univnet(fx: dict[str, Any], sd: dict[str, torch.Tensor] | None = None) -> univnet.UnivNetGenerator:
    cfg = univnet.VocoderConfig.from_reference(fx["config"])
    return build_on_test_device(lambda: univnet.UnivNetGenerator(cfg), sd or fx["state_dict"], remap=univnet.remap_keys)


def test_univnet_outputs(univnet_fx: dict[str, Any]) -> None:
    fx, model = univnet_fx, build_univnet(univnet_fx)
    inp = fx["inputs"]

    def seeded() -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(int(inp["inference_seed"]))
        z = torch.randn(inp["mel"].shape[0], model.cfg.noise_dim, inp["mel"].shape[2] + int(inp["pad_frames"]))
        torch.manual_seed(int(inp["inference_seed"]))
        return model.inference(inp["mel"]), z  # the model draws z itself, from the same global CPU RNG state

    with torch.inference_mode():
        forward = model(inp["mel"], inp["z"])
    audio_seeded, z_seeded = seeded()
    computed = {
        "forward": forward,  # reference in weight-norm form ...
        "forward_after_weight_norm_removal": forward,  # ... and after remove_weight_norm: one folded model for both
        "inference": model.inference(inp["mel"], z=inp["z_inference"]),
        "inference_seeded": audio_seeded,
        "inference_seeded_z": z_seeded,
    }
    unknown = set(fx["outputs"]) - set(computed)
    assert not unknown, f"fixture outputs this test does not know how to compute: {sorted(unknown)}"
    for key in fx["outputs"]:
        check(computed[key], fx, key)


def test_univnet_loads_folded_state_dict(univnet_fx: dict[str, Any]) -> None:
    """An already-folded state dict (what remove_weight_norm leaves) loads strictly and gives the same audio."""
    fx = univnet_fx
    folded = fold_state_dict(fx["state_dict"])
    assert not any(k.endswith(("weight_g", "weight_v")) for k in folded)
    model = build_univnet(fx, folded)
    with torch.inference_mode():
        check(model(fx["inputs"]["mel"], fx["inputs"]["z"]), fx, "forward_after_weight_norm_removal")


@pytest.mark.cpu_generator
def test_univnet_lvc_matches_per_hop_loop() -> None:
    """The batched LVC equals a literal per-segment conv1d loop (dilation 1, zero 'same' padding)."""
    g = torch.Generator().manual_seed(0)
    B, Cin, Cout, K, L, hop = 2, 3, 4, 3, 5, 8
    x = torch.randn(B, Cin, L * hop, generator=g)
    kernel = torch.randn(B, Cin, Cout, K, L, generator=g)
    bias = torch.randn(B, Cout, L, generator=g)
    xp = torch.nn.functional.pad(x, (1, 1))
    ref = torch.empty(B, Cout, L * hop)
    for b in range(B):
        for l in range(L):
            segment = xp[b : b + 1, :, l * hop : (l + 1) * hop + 2]  # (1, Cin, hop + 2)
            w = kernel[b, :, :, :, l].transpose(0, 1)  # (Cout, Cin, K)
            ref[b, :, l * hop : (l + 1) * hop] = torch.nn.functional.conv1d(segment, w, bias[b, :, l])[0]
    torch.testing.assert_close(univnet.location_variable_conv(x, kernel, bias, hop), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.cpu_generator
def test_univnet_generator_argument_is_reproducible(univnet_fx: dict[str, Any]) -> None:
    model = build_univnet(univnet_fx)
    mel = univnet_fx["inputs"]["mel"]
    a = model.inference(mel, generator=torch.Generator().manual_seed(5))
    b = model.inference(mel, generator=torch.Generator().manual_seed(5))
    assert a.shape == (mel.shape[0], 1, mel.shape[2] * model.cfg.hop_length)
    assert torch.equal(a, b) and a.abs().max() <= 1


def test_univnet_manifest_layouts() -> None:
    """Real-size vocoder.pth: weight-norm form folds onto our keys, which equal the listed folded keys."""
    entry = manifest_entry("vocoder")
    with torch.device("meta"):
        model = univnet.UnivNetGenerator(univnet.VocoderConfig.from_reference(entry["config"]))
    own = {k: list(v.shape) for k, v in model.state_dict().items()}
    folded = {k: list(v.shape) for k, v in univnet.remap_keys(meta_state_dict(entry["keys"])).items()}
    assert folded == own
    if "keys_after_weight_norm_removal" in entry:
        assert own == entry["keys_after_weight_norm_removal"]


# ---------------------------------------------------------------------------------------------------- BigVGAN


@pytest.fixture(scope="module")
def bigvgan_fx() -> dict[str, Any]:
    return load_fixture("bigvgan")


def test_bigvgan_outputs(bigvgan_fx: dict[str, Any]) -> None:
    fx = bigvgan_fx
    cfg = bigvgan.BigVGANConfig.from_reference(fx["config"])
    model = build_on_test_device(lambda: bigvgan.BigVGAN(cfg), fx["state_dict"], remap=bigvgan.remap_keys)
    mel = fx["inputs"]["mel"]
    with torch.inference_mode():
        forward = model(mel)
    inference = model.inference(mel)
    computed = {
        "forward": forward,
        "forward_after_weight_norm_removal": forward,
        "inference": inference,
        "fork_inference": inference,  # the fork's eval(inference=True) + inference(): same folded model, same call
    }
    unknown = set(fx["outputs"]) - set(computed)
    assert not unknown, f"fixture outputs this test does not know how to compute: {sorted(unknown)}"
    for key in fx["outputs"]:
        check(computed[key], fx, key)


def test_bigvgan_filters_match_checkpoint_buffers(bigvgan_fx: dict[str, Any]) -> None:
    """The kaiser-sinc filters we compute for a fresh model equal the checkpoint's persistent buffers."""
    model = bigvgan.BigVGAN(bigvgan.BigVGANConfig.from_reference(bigvgan_fx["config"]))
    own = model.state_dict()
    for key, value in bigvgan_fx["state_dict"].items():
        if key.endswith(".filter"):
            torch.testing.assert_close(own[key], value, atol=1e-7, rtol=0)


def test_bigvgan_full_base_config_size(bigvgan_fx: dict[str, Any]) -> None:
    """At the real base config (our defaults) the weight-norm form has the key and parameter counts in the meta."""
    meta = bigvgan_fx["meta"]
    if "full_base_config_n_keys" not in meta:
        pytest.skip("fixture meta has no full-size counts")
    with torch.device("meta"):
        model = bigvgan.BigVGAN()
    n_keys, n_params = _weight_norm_form_size(model)
    assert n_keys == meta["full_base_config_n_keys"]
    assert n_params == meta["full_base_config_n_params"]


def _weight_norm_form_size(model: torch.nn.Module) -> tuple[int, int]:
    """(keys, parameters) the module would have in weight-norm form: every conv's weight -> weight_g + weight_v."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d | torch.nn.ConvTranspose1d)]
    n_keys = len(model.state_dict()) + len(convs)
    n_params = sum(p.numel() for p in model.parameters()) + sum(c.weight.shape[0] for c in convs)
    return n_keys, n_params


# NVIDIA BigVGAN v2 configs/bigvgan_v2_24khz_100band_256x.json (public), training keys included on purpose
BIGVGAN_V2_24K_100BAND = {
    "resblock": "1", "num_gpus": 0, "batch_size": 4, "learning_rate": 0.0001, "adam_b1": 0.8, "adam_b2": 0.99,
    "lr_decay": 0.9999996, "seed": 1234, "upsample_rates": [4, 4, 2, 2, 2, 2],
    "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4], "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "use_tanh_at_final": False,
    "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True, "use_cqtd_instead_of_mrd": True,
    "cqtd_filters": 128, "cqtd_max_filters": 1024, "cqtd_filters_scale": 1, "cqtd_dilations": [1, 2, 4],
    "cqtd_hop_lengths": [512, 256, 256], "cqtd_n_octaves": [9, 9, 9], "cqtd_bins_per_octaves": [24, 36, 48],
    "mpd_reshapes": [2, 3, 5, 7, 11], "use_spectral_norm": False, "discriminator_channel_mult": 1,
    "use_multiscale_melloss": True, "lambda_melloss": 15, "clip_grad_norm": 500, "segment_size": 65536,
    "num_mels": 100, "num_freq": 1025, "n_fft": 1024, "hop_size": 256, "win_size": 1024, "sampling_rate": 24000,
    "fmin": 0, "fmax": None, "fmax_for_loss": None, "num_workers": 4,
    "dist_config": {"dist_backend": "nccl", "dist_url": "tcp://localhost:54321", "world_size": 1},
}  # fmt: skip


def test_bigvgan_reference_layout_counts() -> None:
    """Weight-norm key counts of the fast fork's BigVGAN generators (152334H/tortoise-tts-fast, its ``generator``
    entry): base 526, large (``bigvgan_24khz_100band``) 784."""
    with torch.device("meta"):
        base = bigvgan.BigVGAN()
        rates, kernels = (4, 4, 2, 2, 2, 2), (8, 8, 4, 4, 4, 4)
        large_cfg = bigvgan.BigVGANConfig(
            upsample_rates=rates, upsample_kernel_sizes=kernels, upsample_initial_channel=1536
        )
        large = bigvgan.BigVGAN(large_cfg)
    assert _weight_norm_form_size(base)[0] == 526
    assert _weight_norm_form_size(large)[0] == 784
    assert tuple(large.state_dict()["conv_pre.weight"].shape) == (1536, 100, 7)


def test_bigvgan_v2_24khz_config_fits() -> None:
    """NVIDIA's v2 24 kHz 100-band json maps onto our class: large layout without conv_post.bias, clamp not tanh."""
    cfg = bigvgan.BigVGANConfig.from_reference(BIGVGAN_V2_24K_100BAND)
    assert not cfg.use_tanh_at_final and not cfg.use_bias_at_final and cfg.fmax is None
    with torch.device("meta"):
        model = bigvgan.BigVGAN(cfg)
    sd = model.state_dict()
    assert "conv_post.bias" not in sd and tuple(sd["conv_post.weight"].shape) == (1, 24, 7)
    assert _weight_norm_form_size(model)[0] == 783
    x = torch.full((1, 100, 3), 50.0)
    small_cfg = bigvgan.BigVGANConfig.from_reference({**BIGVGAN_V2_24K_100BAND, "upsample_initial_channel": 64})
    small = bigvgan.BigVGAN(small_cfg)
    with torch.inference_mode():
        y = small(x)
    assert y.shape == (1, 1, 3 * 256) and y.abs().max() <= 1.0
