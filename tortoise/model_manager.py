"""``ModelManager``: the pipeline's models, each loaded on first use, prepared for the device, kept until unloaded.

Where a model lives: on the device, or with offloading on the CPU and moved to the device only while it runs
(:meth:`ModelManager.using`). How it is prepared once loaded: the diffusion decoder's reduced-precision layers, the
autoregressive decode step made cheap to launch (``compile``), the CPU's kernels (:func:`tortoise.cpu.prepare`) and
Intel's optional extension. Nothing is loaded when the manager is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from . import cpu, devices, model_zoo
from .errors import InvalidInputError
from .models.gpt import CachePos
from .sampling import Step

REDUCED_PRECISION = ("autoregressive", "clvp2", "cvvp")  # run in the chosen precision; the others in float32


def compiled_decode_step(ar: nn.Module, device: torch.device) -> Step:
    """The AR decode step recorded as a device graph, else compiled (``devices.capture_or_compile``).

    Static shapes: it reads the whole KV cache with a mask (it ignores ``pos.end``), and it is recorded anew when the
    caches are reallocated.
    """

    def static_logits(x: Tensor, index: Tensor) -> Tensor:
        return ar.next_logits(x, CachePos(index))

    fn = devices.capture_or_compile(static_logits, device, key=lambda: ar.gpt.cache_version)
    return lambda x, pos: fn(x, pos.index)


class ModelManager:
    """The loaded models of one pipeline, by checkpoint name (``model_zoo.SPECS``).

    Parameters
    ----------
    models_dir : folder with the checkpoints.
    device, dtype, caps : where and in what precision the models run, and what the device can do.
    offload : "auto", "none", "models" or "cpu" (see ``TextToSpeech``).
    checkpoints : replacement files for fine-tuned models, by checkpoint name.
    compile : record or compile the autoregressive decode step (see ``TextToSpeech``).

    Raises ``InvalidInputError`` for a replacement file of an unknown checkpoint name.
    """

    def __init__(
        self,
        *,
        models_dir: Path,
        device: torch.device,
        dtype: torch.dtype,
        caps: devices.Capabilities,
        offload: str = "auto",
        checkpoints: dict[str, str | Path] | None = None,
        compile: bool = False,
    ):
        self.models_dir, self.device, self.dtype, self.caps = models_dir, device, dtype, caps
        self.offload_choice = offload
        self.checkpoints = {k: Path(v) for k, v in (checkpoints or {}).items()}
        unknown = set(self.checkpoints) - set(model_zoo.SPECS)
        if unknown:
            raise InvalidInputError(f"unknown checkpoint name(s) {sorted(unknown)}; known: {list(model_zoo.SPECS)}")
        self.compile = compile
        self.loaded: dict[str, nn.Module] = {}
        self.decode_steps: dict[str, Step] = {}  # with compile: the recorded/compiled step per model name

    def get(self, name: str) -> nn.Module:
        """Model ``name`` (a checkpoint name), loaded on first use: on the device, or on the CPU when offloading."""
        if name not in self.loaded:
            dtype = self.dtype if name in REDUCED_PRECISION else torch.float32
            where = self.device if self.offload == "none" else torch.device("cpu")
            model = model_zoo.load_model(
                name, models_dir=self.models_dir, path=self.checkpoints.get(name), device=where, dtype=dtype
            )
            if name == "diffusion_decoder" and self.dtype != torch.float32:
                model.set_layer_dtype(self.dtype)
            if name == "autoregressive" and self.compile:
                self.decode_steps[name] = compiled_decode_step(model, self.device)
            else:  # a compiled decode step runs on the weights as loaded
                cpu.prepare(name, model, self.device)
            self.loaded[name] = devices.optimize_for_device(model, self.device, dtype)
        return self.loaded[name]

    @property
    def offload(self) -> str:
        """The offload policy in effect: "none" or "models" ("auto" decided from the checkpoints' sizes)."""
        if self.offload_choice in ("none", "models", "cpu"):
            return "none" if self.offload_choice == "cpu" else self.offload_choice
        sizes = [model_zoo.expected_path(n, self.models_dir) for n in ("autoregressive", "diffusion_decoder", "clvp2")]
        total = sum(p.stat().st_size for p in sizes if p.is_file())
        return devices.offload_policy("auto", self.caps, total_model_bytes=total)

    @contextlib.contextmanager
    def using(self, *names: str) -> Iterator[list[nn.Module]]:
        """The models ``names`` on the device for the ``with`` block (back to the CPU afterwards when offloading)."""
        models = [self.get(n) for n in names]
        with contextlib.ExitStack() as stack:
            offload = self.offload == "models"
            yield [stack.enter_context(devices.on_device(m, self.device, offload=offload)) for m in models]

    def resident_bytes(self) -> int:
        """Bytes the parameters of the loaded models take."""
        return sum(p.numel() * p.element_size() for m in self.loaded.values() for p in m.parameters())

    def identity(self) -> str:
        """What cached conditioning latents are keyed on: the AR and diffusion files and configurations, and the
        precision and device kind they run in (a bf16 latent is not the fp32 one, a CPU latent not the GPU one)."""
        parts = [f"{self.dtype}:{self.device.type}"]
        for name in ("autoregressive", "diffusion_decoder"):
            path = self.checkpoints.get(name) or model_zoo.expected_path(name, self.models_dir)
            stat = path.stat() if path.is_file() else None
            parts.append(f"{name}:{path.name}:{stat.st_size if stat else 0}:{int(stat.st_mtime) if stat else 0}")
            parts.append(repr(model_zoo.model_config(name, self.models_dir)))
        return "|".join(parts)

    def unload(self) -> None:
        """Drop every loaded model and free device memory."""
        self.loaded.clear()
        self.decode_steps.clear()  # a step holds its model: it goes with it
        devices.empty_cache(self.device)
