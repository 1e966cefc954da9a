"""Small shared helpers for the reliability tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tortoise.options import preset
from tortoise.voices import builtin_voices_dirs

QUICK_CLI = ("-p", "ultra_fast", "--num-autoregressive-samples", "1", "--steps", "2", "--max-mel-tokens", "20", "-q")


def quick(preset_name: str = "ultra_fast", **overrides):
    """The cheapest pipeline run on the tiny models: one candidate, two diffusion steps, short speech."""
    settings = dict(num_autoregressive_samples=1, diffusion_steps=2, max_mel_tokens=20, seed=1)
    return preset(preset_name, **{**settings, **overrides})


def tone(seconds: float, sr: int, *, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class PickleBomb:
    """Unpickling this runs code that writes ``marker``: proof that a loader executed pickled code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder`` (what an interrupted atomic write would leave)."""
    return sorted(
        str(p.relative_to(folder))
        for p in Path(folder).rglob("*")
        if p.name.endswith((".part", ".partial", ".tmp")) or ".partial" in p.name or p.name.startswith(".")
    )


def one_line(err: str) -> bool:
    """A CLI error as promised: exactly one non-empty line on stderr, no traceback."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning: ")]
    return len(lines) == 1 and "Traceback" not in err


REPO = Path(__file__).resolve().parents[2]
BUILTIN_CLIP = sorted((builtin_voices_dirs()[0] / "train_grace").iterdir())[0]  # a real recording we ship
