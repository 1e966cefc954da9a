"""UnivNet-c32 vocoder (``vocoder.pth['model_g']``): 100-band 24 kHz log-mel -> waveform.

Jang et al. 2021, "UnivNet: A Neural Vocoder with Multi-Resolution Spectrogram Discriminators for High-Fidelity
Waveform Generation". Noise ``z`` is upsampled x256 by three location-variable convolution (LVC) blocks whose
per-frame conv kernels are predicted from the mel. Submodule names follow the checkpoint; weight norm is folded
at load time (``remap_keys``), so the module holds plain weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import from_reference_kwargs
from .weight_norm import fold_state_dict

MEL_PAD_VALUE = -11.5129  # ~log(1e-5): the log-mel floor, i.e. silence
MEL_PAD_FRAMES = 10  # frames of silence appended before vocoding, trimmed from the audio afterwards
_REFERENCE_NAMES = {"lReLU_slope": "lrelu_slope"}  # reference constructor argument -> config field


@dataclass(frozen=True)
class VocoderConfig:
    """UnivNetGenerator hyperparameters; defaults are the released ``vocoder.pth``."""

    noise_dim: int = 64
    channel_size: int = 32
    dilations: tuple[int, ...] = (1, 3, 9, 27)
    strides: tuple[int, ...] = (8, 8, 4)
    lrelu_slope: float = 0.2
    kpnet_conv_size: int = 3
    hop_length: int = 256
    n_mel_channels: int = 100
    kpnet_hidden_channels: int = 64  # fixed in the reference (not a constructor argument)
    conv_kernel_size: int = 3  # LVC kernel size, fixed in the reference

    @classmethod
    def from_reference(cls, kwargs: dict[str, Any]) -> VocoderConfig:
        """Map ``UnivNetGenerator(**kwargs)`` constructor arguments onto a config."""
        return from_reference_kwargs(cls, kwargs, what="UnivNetGenerator", renames=_REFERENCE_NAMES)


def remap_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Checkpoint (weight-norm g/v, 132 keys) or already-folded (88 keys) state dict -> this module's keys."""
    return fold_state_dict(sd)


def location_variable_conv(x: Tensor, kernel: Tensor, bias: Tensor, hop: int) -> Tensor:
    """Convolve each hop-long segment of ``x`` with its own kernel (dilation 1, 'same' zero padding).

    x: (B, Cin, L*hop); kernel: (B, Cin, Cout, K, L); bias: (B, Cout, L) -> (B, Cout, L*hop). One batched matmul
    over all segments instead of a loop over hops.
    """
    B, Cin, T = x.shape
    _, _, Cout, K, L = kernel.shape
    if L * hop != T:
        raise ValueError(f"LVC: input length {T} != {L} kernels x hop {hop}")
    pad = (K - 1) // 2
    win = F.pad(x, (pad, pad)).unfold(2, K, 1)  # (B, Cin, T, K): win[..., t, k] = x_pad[..., t + k]
    win = win.reshape(B, Cin, L, hop, K).permute(0, 2, 3, 1, 4).reshape(B * L, hop, Cin * K)
    w = kernel.permute(0, 4, 1, 3, 2).reshape(B * L, Cin * K, Cout)  # (B*L, Cin*K, Cout), same (i, k) order
    o = torch.bmm(win, w).view(B, L, hop, Cout) + bias.transpose(1, 2)[:, :, None, :]  # (B, L, hop, Cout)
    return o.permute(0, 3, 1, 2).reshape(B, Cout, T)


class KernelPredictor(nn.Module):
    """Mel (B, n_mel, L) -> per-frame LVC kernels (B, layers, Cin, Cout, K, L) and biases (B, layers, Cout, L)."""

    def __init__(self, cfg: VocoderConfig, conv_in: int, conv_out: int):
        super().__init__()
        H, k, slope = cfg.kpnet_hidden_channels, cfg.kpnet_conv_size, cfg.lrelu_slope
        self.shape = (len(cfg.dilations), conv_in, conv_out, cfg.conv_kernel_size)
        self.input_conv = nn.Sequential(nn.Conv1d(cfg.n_mel_channels, H, 5, padding=2), nn.LeakyReLU(slope))
        # index 0 is a Dropout in the reference (p=0): Identity keeps the checkpoint's indices 1 and 3
        self.residual_convs = nn.ModuleList(
            nn.Sequential(
                nn.Identity(),
                nn.Conv1d(H, H, k, padding=(k - 1) // 2),
                nn.LeakyReLU(slope),
                nn.Conv1d(H, H, k, padding=(k - 1) // 2),
                nn.LeakyReLU(slope),
            )
            for _ in range(3)
        )
        n_layers, cin, cout, ksize = self.shape
        self.kernel_conv = nn.Conv1d(H, n_layers * cin * cout * ksize, k, padding=(k - 1) // 2)
        self.bias_conv = nn.Conv1d(H, n_layers * cout, k, padding=(k - 1) // 2)

    def forward(self, c: Tensor) -> tuple[Tensor, Tensor]:
        B, _, L = c.shape
        h = self.input_conv(c)
        for block in self.residual_convs:
            h = h + block(h)
        n_layers, cin, cout, ksize = self.shape
        kernels = self.kernel_conv(h).view(B, n_layers, cin, cout, ksize, L)
        bias = self.bias_conv(h).view(B, n_layers, cout, L)
        return kernels, bias


class LVCBlock(nn.Module):
    """Transposed-conv upsample by ``stride``, then dilated convs each followed by an LVC and a gated unit."""

    def __init__(self, cfg: VocoderConfig, stride: int, cond_hop_length: int):
        super().__init__()
        C, slope = cfg.channel_size, cfg.lrelu_slope
        self.cond_hop_length = cond_hop_length
        self.kernel_predictor = KernelPredictor(cfg, conv_in=C, conv_out=2 * C)
        self.convt_pre = nn.Sequential(
            nn.LeakyReLU(slope),
            nn.ConvTranspose1d(
                C, C, 2 * stride, stride=stride, padding=stride // 2 + stride % 2, output_padding=stride % 2
            ),
        )
        k = cfg.conv_kernel_size
        self.conv_blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(slope),
                nn.Conv1d(C, C, k, padding=d * (k - 1) // 2, dilation=d),
                nn.LeakyReLU(slope),
            )
            for d in cfg.dilations
        )

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T*stride); c: mel (B, n_mel, L) with T*stride == L*cond_hop_length."""
        C = x.shape[1]
        x = self.convt_pre(x)
        kernels, bias = self.kernel_predictor(c)
        for i, conv in enumerate(self.conv_blocks):
            o = location_variable_conv(conv(x), kernels[:, i], bias[:, i], self.cond_hop_length)  # (B, 2C, T)
            x = x + torch.sigmoid(o[:, :C]) * torch.tanh(o[:, C:])  # gated activation unit
        return x


class UnivNetGenerator(nn.Module):
    """UnivNet generator: ``forward(mel, z)`` and the pipeline's ``inference(mel)``."""

    def __init__(self, cfg: VocoderConfig | None = None):
        super().__init__()
        cfg = cfg or VocoderConfig()
        self.cfg = cfg
        C = cfg.channel_size
        hops = [math.prod(cfg.strides[: i + 1]) for i in range(len(cfg.strides))]  # 8, 64, 256
        self.res_stack = nn.ModuleList(LVCBlock(cfg, s, h) for s, h in zip(cfg.strides, hops))
        self.conv_pre = nn.Conv1d(cfg.noise_dim, C, 7, padding=3, padding_mode="reflect")
        self.conv_post = nn.Sequential(
            nn.LeakyReLU(cfg.lrelu_slope), nn.Conv1d(C, 1, 7, padding=3, padding_mode="reflect"), nn.Tanh()
        )

    def forward(self, mel: Tensor, z: Tensor) -> Tensor:
        """mel: (B, n_mel, L) natural-log magnitude mel; z: (B, noise_dim, L) noise -> (B, 1, L*prod(strides))."""
        x = self.conv_pre(z)  # (B, C, L)
        for block in self.res_stack:
            x = block(x, mel)  # (B, C, L * s_0 * ... * s_i)
        return self.conv_post(x)

    @torch.inference_mode()
    def inference(self, mel: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Vocode a (denormalised) mel as the original pipeline does.

        Parameters
        ----------
        mel : (B, n_mel, L) natural-log magnitude mel at 24 kHz / hop 256.
        z : optional noise (B, noise_dim, L + 10); drawn with ``torch.randn`` when omitted.
        generator : RNG for ``z``. Without one, ``z`` is drawn from the global CPU generator and then moved to
            ``mel.device``, exactly as the original does, so seeded runs match it on every device.

        Returns
        -------
        (B, 1, L * hop_length) waveform at 24 kHz in [-1, 1]. The 10 frames of silence appended to the mel
        (against edge artifacts) are removed again from the audio.
        """
        B, n_mel, _ = mel.shape
        pad = mel.new_full((B, n_mel, MEL_PAD_FRAMES), MEL_PAD_VALUE)
        mel = torch.cat([mel, pad], dim=2)  # (B, n_mel, L + 10)
        if z is None:
            device = generator.device if generator is not None else torch.device("cpu")
            z = torch.randn(B, self.cfg.noise_dim, mel.shape[2], generator=generator, device=device)
        z = z.to(device=mel.device, dtype=mel.dtype)
        audio = self.forward(mel, z)
        audio = audio[:, :, : -(self.cfg.hop_length * MEL_PAD_FRAMES)]
        return audio.clamp(-1, 1)
