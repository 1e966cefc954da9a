"""Progress bars and the timing summary the CLI prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from tqdm.auto import tqdm


class StageBars:
    """Progress of each pipeline stage of the current segment, fed by ``TextToSpeech.tts(progress=...)``.

    On a terminal, one tqdm bar per stage, redrawn in place. Otherwise (stderr redirected to a file or a pipe: scripts
    and logs) one plain line as each stage starts, and no carriage-return frames.
    """

    def __init__(self, *, disable: bool = False, file: TextIO | None = None):
        self.disable = disable
        self.file = file if file is not None else sys.stderr
        self.plain = not getattr(self.file, "isatty", lambda: False)()
        self.bar: tqdm | None = None
        self.stage: str | None = None
        self.prefix = ""

    def start_segment(self, index: int, count: int, text: str) -> None:
        self.close()
        self.prefix = f"[{index + 1}/{count}] " if count > 1 else ""
        if not self.disable:
            preview = text if len(text) <= 70 else text[:67] + "..."
            print(f"{self.prefix}{preview}", file=self.file, flush=True)

    def update(self, stage: str, fraction: float) -> None:
        if self.disable:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            if self.plain:
                print(f"{self.prefix}{stage}", file=self.file, flush=True)
            else:
                self.bar = tqdm(total=100, desc=f"{self.prefix}{stage:<14}", leave=False, file=self.file,
                                bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")  # fmt: skip
        if self.bar is not None:
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
