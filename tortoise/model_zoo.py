"""Which class, config and key remapping serve each checkpoint, and loading one from a models folder.

A models folder normally holds the released files at their released configurations. It may also hold a
``tortoise-models.json`` manifest mapping checkpoint names to the reference constructor arguments (the same form as
the golden fixtures' ``config``): then those configurations are used. :func:`write_tiny_models` makes such a folder
with tiny random-weight checkpoints, saved in the released files' own layout, so that the whole pipeline (and the
real loading code) can run end to end in seconds without the multi-GB weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import CheckpointError
from .loading import build, read_state_dict
from .models import bigvgan, classifier, clvp, cvvp, diffusion_decoder, gpt, hifigan, rlg, univnet
from .weights import CONFIGS_MANIFEST


@dataclass(frozen=True)
class ModelSpec:
    """How checkpoint files map to one model. No remap is the identity ``remap_keys`` of its model file (never None)."""

    config_cls: type
    model_cls: type[nn.Module]
    remap: Callable[[dict[str, Tensor]], dict[str, Tensor]]  # the model file's remap_keys: released layout -> ours
    default: Callable[[], Any]  # the released configuration
    to_file: Callable[[dict[str, Tensor]], dict[str, Tensor]] = lambda sd: sd  # ours -> released layout (inverse)


def _gpt_to_file(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Back to GPT-2 ``Conv1D`` (in, out) weights, as ``autoregressive.pth`` stores them."""
    return {k: (v.t().contiguous() if gpt._CONV1D_KEY.fullmatch(k) else v) for k, v in sd.items()}


SPECS: dict[str, ModelSpec] = {
    "autoregressive": ModelSpec(gpt.GPTConfig, gpt.UnifiedVoice, gpt.remap_keys, gpt.GPTConfig, _gpt_to_file),
    "diffusion_decoder": ModelSpec(
        diffusion_decoder.DiffusionConfig,
        diffusion_decoder.DiffusionTts,
        diffusion_decoder.remap_keys,
        diffusion_decoder.DiffusionConfig,
    ),
    "clvp2": ModelSpec(clvp.CLVPConfig, clvp.CLVP, clvp.remap_keys, clvp.CLVPConfig),
    "cvvp": ModelSpec(cvvp.CVVPConfig, cvvp.CVVP, cvvp.remap_keys, cvvp.CVVPConfig),
    "vocoder": ModelSpec(univnet.VocoderConfig, univnet.UnivNetGenerator, univnet.remap_keys, univnet.VocoderConfig),
    "rlg_auto": ModelSpec(rlg.RLGConfig, rlg.RandomLatentConverter, rlg.remap_keys, lambda: rlg.RLGConfig(1024)),
    "rlg_diffuser": ModelSpec(rlg.RLGConfig, rlg.RandomLatentConverter, rlg.remap_keys, lambda: rlg.RLGConfig(2048)),
    "classifier": ModelSpec(
        classifier.ClassifierConfig, classifier.AudioClassifier, classifier.remap_keys, classifier.ClassifierConfig
    ),
    "hifidecoder": ModelSpec(hifigan.HifiConfig, hifigan.HifiganDecoder, hifigan.remap_keys, hifigan.HifiConfig),
    "bigvgan_base_24khz_100band": ModelSpec(
        bigvgan.BigVGANConfig, bigvgan.BigVGAN, bigvgan.remap_keys, bigvgan.BigVGANConfig
    ),
}

# Tiny configurations (reference constructor arguments) whose shapes fit together like the released ones:
# AR width 64 = diffusion latent width = HiFi-GAN input; RLG widths = AR width and 2 x diffusion width.
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "autoregressive": dict(layers=2, model_dim=64, heads=4, max_text_tokens=402, max_mel_tokens=604,
                           max_conditioning_inputs=2, number_text_tokens=255, start_text_token=255,
                           checkpointing=False, train_solo_embeddings=False),
    "diffusion_decoder": dict(model_channels=64, num_layers=2, in_channels=100, out_channels=200,
                              in_latent_channels=64, in_tokens=8193, dropout=0, use_fp16=False, num_heads=4,
                              layer_drop=0, unconditioned_percentage=0),
    "clvp2": dict(dim_text=64, dim_speech=64, dim_latent=64, num_text_tokens=256, text_enc_depth=1, text_seq_len=350,
                  text_heads=2, num_speech_tokens=8192, speech_enc_depth=1, speech_heads=2, speech_seq_len=430,
                  use_xformers=True),
    "cvvp": dict(model_dim=64, transformer_heads=2, dropout=0, mel_codes=8192, conditioning_enc_depth=1,
                 cond_mask_percentage=0, speech_enc_depth=1, speech_mask_percentage=0, latent_multiplier=1),
    "vocoder": dict(noise_dim=16, channel_size=8, dilations=[1, 3, 9, 27], strides=[8, 8, 4], lReLU_slope=0.2,
                    kpnet_conv_size=3, hop_length=256, n_mel_channels=100),
    "rlg_auto": dict(channels=64),
    "rlg_diffuser": dict(channels=128),
    "classifier": dict(classes=2, spec_dim=1, embedding_dim=32, depth=3, downsample_factor=4, resnet_blocks=1,
                       attn_blocks=1, num_attn_heads=2, base_channels=8, dropout=0, kernel_size=5,
                       distribute_zero_label=False),
    "hifidecoder": dict(in_channels=64, out_channels=1, resblock_type="1",
                        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], resblock_kernel_sizes=[3, 7, 11],
                        upsample_kernel_sizes=[16, 16, 4, 4], upsample_initial_channel=32,
                        upsample_factors=[8, 8, 2, 2], cond_channels=64),
    "bigvgan_base_24khz_100band": dict(resblock="1", upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
                                       upsample_initial_channel=32, resblock_kernel_sizes=[3, 7, 11],
                                       resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                                       activation="snakebeta", snake_logscale=True, num_mels=100),
}  # fmt: skip


def _spec(name: str) -> ModelSpec:
    if name not in SPECS:
        raise CheckpointError(f"unknown model {name!r}; known: {', '.join(SPECS)}")
    return SPECS[name]


def read_model_configs(models_dir: Path | None) -> dict[str, dict[str, Any]]:
    """``{checkpoint name: constructor arguments}`` from the folder's ``tortoise-models.json``; {} when it has none."""
    path = Path(models_dir) / CONFIGS_MANIFEST if models_dir is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}; fix or delete it") from e
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.get("configs", {}).values()):
        raise CheckpointError(f"{path} must hold {{'configs': {{name: {{constructor arguments}}}}}}")
    return data.get("configs", {})


def model_config(name: str, models_dir: Path | None = None) -> Any:
    """The configuration of checkpoint ``name``: from the folder's manifest when it has one, else the released one."""
    spec = _spec(name)
    kwargs = read_model_configs(models_dir).get(name)
    if kwargs is None:
        return spec.default()
    try:
        return spec.config_cls.from_reference(kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{CONFIGS_MANIFEST}: bad configuration for {name!r}: {e}") from e


def expected_path(name: str, models_dir: Path) -> Path:
    """Where checkpoint ``name`` lives in ``models_dir`` (it may not be there yet)."""
    from .weights import CHECKPOINTS

    return Path(models_dir) / CHECKPOINTS[name].filename


def load_model(
    name: str,
    *,
    models_dir: Path,
    path: Path | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    config: Any = None,
) -> nn.Module:
    """Build model ``name`` and load its checkpoint strictly (``path`` overrides the folder's file)."""
    from .weights import CHECKPOINTS, checkpoint_path

    spec = _spec(name)
    cfg = config if config is not None else model_config(name, models_dir)
    path = Path(path) if path is not None else checkpoint_path(name, models_dir)  # raises, saying how to get it
    sd = read_state_dict(path, key=CHECKPOINTS[name].container_key)
    return build(lambda: spec.model_cls(cfg), sd, device=device, dtype=dtype, remap=spec.remap, what=str(path))


def _make_observable(name: str, model: nn.Module) -> None:
    """Random weights never emit the AR stop code; raise its logit bias so sampled sequences end (tiny models)."""
    if name == "autoregressive":
        with torch.no_grad():
            model.mel_head.bias[model.cfg.stop_mel_token] += 2.0  # stops after ~5..150 codes


def write_tiny_models(models_dir: Path, *, seed: int = 0, names: list[str] | None = None) -> Path:
    """Write tiny random-weight checkpoints in the released files' layout, plus their manifest. Returns the folder."""
    from .audio_io import atomic_write
    from .weights import CHECKPOINTS

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    configs = {}
    for i, name in enumerate(names or list(SPECS)):
        spec = _spec(name)
        torch.manual_seed(seed + i)
        model = spec.model_cls(spec.config_cls.from_reference(TINY_CONFIGS[name])).eval()
        _make_observable(name, model)
        sd = spec.to_file({k: v.detach().clone() for k, v in model.state_dict().items()})
        key = CHECKPOINTS[name].container_key
        obj = {key: sd} if key else sd
        atomic_write(models_dir / CHECKPOINTS[name].filename, lambda tmp, o=obj: torch.save(o, tmp))
        configs[name] = TINY_CONFIGS[name]
    manifest = {"note": "tiny random-weight models for tests; not for speech", "configs": configs}
    atomic_write(models_dir / CONFIGS_MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
    return models_dir
