"""Progress bars and the timing summary the CLI prints."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm.auto import tqdm


class StageBars:
    """One tqdm bar per pipeline stage of the current segment, fed by ``TextToSpeech.tts(progress=...)``."""

    def __init__(self, *, disable: bool = False):
        self.disable = disable
        self.bar: tqdm | None = None
        self.stage: str | None = None
        self.prefix = ""

    def start_segment(self, index: int, count: int, text: str) -> None:
        self.prefix = f"[{index + 1}/{count}] " if count > 1 else ""
        if not self.disable:
            preview = text if len(text) <= 70 else text[:67] + "..."
            print(f"{self.prefix}{preview}", file=sys.stderr)

    def update(self, stage: str, fraction: float) -> None:
        if self.disable:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=100, desc=f"{self.prefix}{stage:<14}", leave=False, file=sys.stderr,
                            bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")  # fmt: skip
        self.bar.n = round(100 * fraction)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = None


def print_timings(result, combined: Path) -> None:
    """Per-stage seconds and the real-time factor of what was generated in this run."""
    import soundfile as sf

    total = sum(result.timings.values())
    stages = " | ".join(f"{stage} {seconds:.1f}s" for stage, seconds in result.timings.items())
    generated = len(result.generated)
    try:
        audio_seconds = sf.info(str(combined)).duration * generated / max(len(result.segments), 1)
    except RuntimeError:
        audio_seconds = 0.0
    rtf = total / audio_seconds if audio_seconds > 0 else float("nan")
    print(f"timings: {stages}")
    print(f"total {total:.1f}s for {audio_seconds:.1f}s of speech ({generated} segment(s)), real-time factor {rtf:.2f}")
