"""What preparation did and found: per-source step reports, per-clip stats and verdicts, score and advice."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

GOOD, WARN, REJECTED = "good", "warn", "rejected"


@dataclass(frozen=True)
class StepReport:
    """One step on one recording: whether it ran, what it did (one line) and any warnings."""

    step: str
    applied: bool
    detail: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceReport:
    """One input recording and the steps run on it (before slicing)."""

    name: str
    path: str | None
    sha256: str | None
    sample_rate: int
    channels: int
    duration_s: float
    format: str | None
    steps: tuple[StepReport, ...]
    snr_before_db: float  # estimated, on the mono 22.05 kHz recording before noise reduction
    snr_after_db: float  # estimated, after noise reduction and trimming


@dataclass(frozen=True)
class ClipStats:
    """Measurements of one clip. Input loudness and clipping refer to the recording before any gain."""

    duration_s: float
    loudness_in_lufs: float
    loudness_lufs: float
    true_peak_db: float
    gain_db: float
    limiter_db: float  # the deepest gain reduction of the peak limiter (0 when it never engaged)
    snr_in_db: float  # estimated before noise reduction: how noisy the speech itself is (judged)
    snr_db: float  # estimated after noise reduction (the pauses are quieter; noise under speech remains)
    active_fraction: float
    clipped_runs: int
    clipped_fraction: float


@dataclass(frozen=True)
class ClipReport:
    """One clip: where it came from, its stats, its verdict (good / warn / rejected) and why."""

    index: int
    source: str
    start_s: float  # in the source's own timeline
    end_s: float
    stats: ClipStats
    verdict: str
    reasons: tuple[str, ...]
    file: str | None = None  # file name inside the voice folder; None when not saved


@dataclass(frozen=True)
class VoiceReport:
    """The result of ``prepare_voice``.

    ``voice_dir`` is None when nothing was saved (a dry run, or no clip passed validation). ``score`` is 0-100.
    """

    name: str
    voice_dir: Path | None
    sources: tuple[SourceReport, ...]
    clips: tuple[ClipReport, ...]
    steps: tuple[StepReport, ...]  # steps that run on the clips (slicing summary, loudness)
    score: int
    grade: str
    advice: tuple[str, ...]
    options: dict
    warnings: tuple[str, ...] = ()

    @property
    def saved_clips(self) -> tuple[ClipReport, ...]:
        return tuple(c for c in self.clips if c.file is not None)

    def to_dict(self) -> dict:
        """JSON-ready form (the body of voice.json)."""
        d = dataclasses.asdict(self)
        d["voice_dir"] = str(self.voice_dir) if self.voice_dir else None
        return d


def _fmt_db(x: float) -> str:
    return "-inf" if x == float("-inf") else f"{x:.1f}"


def format_report(report: VoiceReport) -> str:
    """A readable multi-line report for the terminal."""
    lines = [f"Voice {report.name!r}: {len(report.sources)} recording(s)"]
    for i, src in enumerate(report.sources, 1):
        lines.append(
            f"[{i}/{len(report.sources)}] {src.name}: {src.sample_rate} Hz, {src.channels} ch, "
            f"{src.duration_s:.1f} s, {src.format or '?'}"
        )
        for st in src.steps:
            lines.append(f"    {st.step:<10} {st.detail if st.applied else 'off'}")
            lines += [f"    {'':<10} warning: {w}" for w in st.warnings]
    for st in report.steps:
        lines.append(f"{st.step:<14} {st.detail if st.applied else 'off'}")
        lines += [f"{'':<14} warning: {w}" for w in st.warnings]
    lines.append("Clips:")
    for c in report.clips:
        s = c.stats
        label = c.file or f"(clip {c.index}, not saved)"
        lines.append(
            f"  {label:<16} {s.duration_s:5.1f} s  {_fmt_db(s.loudness_lufs):>6} LUFS  peak {_fmt_db(s.true_peak_db)} "
            f"dBTP  SNR {s.snr_in_db:3.0f}->{s.snr_db:3.0f} dB  {c.source} {c.start_s:.1f}-{c.end_s:.1f} s  {c.verdict}"
            + (f": {'; '.join(c.reasons)}" if c.reasons else "")
        )
    lines.append(f"Score: {report.score}/100 ({report.grade})")
    lines += [f"  advice: {a}" for a in report.advice]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.voice_dir is not None:
        lines.append(f"Saved {len(report.saved_clips)} clip(s) and voice.json to {report.voice_dir}")
    return "\n".join(lines)
