"""``tortoise-tts doctor --deep``: a short generation on the device, naming every operation that ran on the CPU.

PyTorch's XPU backend runs an operation it lacks on the CPU instead, with one easily missed warning; with
``PYTORCH_DEBUG_XPU_FALLBACK=1`` it names each one. That variable is read when torch loads, so the generation runs
in a child process (``python -m tortoise.doctor_deep``) started with it set. The child writes tiny random-weight
models into a temporary folder (no download, no weights needed), speaks two short sentences with the random voice
(the standard path and fast mode) and prints one JSON line: device, seconds, every warning, whether the audio is
finite. Apple's MPS fallback warnings use the same wording and are reported the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# "The operator 'aten::foo' is not currently supported on the XPU backend and will fall back to run on the CPU."
# "The operator 'aten::foo' on the XPU backend is falling back to run on the CPU." (other torch versions)
NAMED_FALLBACK = re.compile(r"operator '([^']+)'[^.]*?fall(?:s|ing)? back to run on the CPU")
UNNAMED_FALLBACK = "fallback from XPU to CPU"  # the once-only warning without PYTORCH_DEBUG_XPU_FALLBACK


def fallback_ops(text: str) -> list[str]:
    """The operators named in fallback warnings in ``text``, sorted, each once."""
    return sorted(set(NAMED_FALLBACK.findall(text)))


@dataclass
class DeepResult:
    device: str = "?"
    seconds: float = 0.0
    fallback_ops: list[str] = field(default_factory=list)
    unnamed_fallback: bool = False  # a fallback happened but torch did not name the operator
    finite: bool = True
    error: str | None = None  # the child failed: its last lines

    def problems(self) -> list[str]:
        out = []
        if self.error:
            out.append(f"the deep check failed on {self.device}: {self.error}")
        if self.fallback_ops:
            out.append(
                f"operations ran on the CPU instead of {self.device} (slow): {', '.join(self.fallback_ops)}; "
                "a newer PyTorch build may have them (`bash install/install.sh` upgrades it)"
            )
        elif self.unnamed_fallback:
            out.append(f"some operation ran on the CPU instead of {self.device} (torch did not say which)")
        if not self.finite:
            out.append(
                f"the generation on {self.device} produced NaN or infinite samples: try --precision fp32, "
                "a newer GPU driver, or --device cpu"
            )
        return out

    def summary(self) -> str:
        if self.error:
            return "failed (see problems)"
        fallback = (
            "no operation fell back to the CPU"
            if not (self.fallback_ops or self.unnamed_fallback)
            else (f"{len(self.fallback_ops) or 'some'} operation(s) fell back to the CPU")
        )
        return f"a tiny-model generation on {self.device} took {self.seconds:.1f} s; {fallback}"


def parse(stdout: str, stderr: str, returncode: int) -> DeepResult:
    """The child's report (its last JSON line on stdout) and any fallback named in its warnings or stderr."""
    report = None
    for line in reversed(stdout.strip().splitlines()):
        try:
            report = json.loads(line)
            break
        except ValueError:
            continue
    if returncode != 0 or not isinstance(report, dict):
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or f"exit code {returncode}"
        return DeepResult(error=tail)
    text = "\n".join([*map(str, report.get("warnings", [])), stderr])
    return DeepResult(
        device=str(report.get("device", "?")),
        seconds=float(report.get("seconds", 0.0)),
        fallback_ops=fallback_ops(text),
        unnamed_fallback=UNNAMED_FALLBACK in text,
        finite=bool(report.get("finite", False)),
    )


def run(device: str | None = None, *, timeout: float = 900.0) -> DeepResult:
    """Run the child on ``device`` (None: the best available) and read its report."""
    env = {**os.environ, "PYTORCH_DEBUG_XPU_FALLBACK": "1"}
    command = [sys.executable, "-m", "tortoise.doctor_deep", "--device", device or "auto"]
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return DeepResult(device=device or "auto", error=f"no answer within {timeout:.0f} s")
    return parse(proc.stdout, proc.stderr, proc.returncode)


def _generate(device: str) -> dict:
    import torch

    from .api import TextToSpeech
    from .conditioning import LatentCache
    from .model_zoo import write_tiny_models
    from .options import preset
    from .voices import VoiceLibrary

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = Path(tmp)
        tts = TextToSpeech(
            models_dir=write_tiny_models(root / "models"),
            device=None if device == "auto" else device,
            voices=VoiceLibrary(user_dir=root / "voices"),
            latent_cache=LatentCache(root / "latents"),
            enable_redaction=False,
        )
        start = time.perf_counter()
        runs = [
            preset("ultra_fast", num_autoregressive_samples=2, diffusion_steps=4, max_mel_tokens=40, seed=1),
            preset("fast_mode", max_mel_tokens=40, seed=2),
        ]
        audio = [a for options in runs for a in tts.tts("Checking the device.", "random", options).audio]
        seconds = time.perf_counter() - start
    return {
        "device": str(tts.device),
        "seconds": seconds,
        "finite": all(bool(torch.isfinite(a).all()) for a in audio),
        "warnings": [str(w.message) for w in caught],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tortoise.doctor_deep", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    print(json.dumps(_generate(args.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
