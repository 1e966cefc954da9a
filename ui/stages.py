"""The per-stage progress display shared by the Generate and Projects tabs (plain HTML, no scripts)."""

from __future__ import annotations

import html

from . import strings as S
from .engine import STAGES, Job


def stage_html(job: Job | None, note: str = "") -> str:
    """Per-stage progress bars of the current segment (plain HTML, no scripts)."""
    rows = []
    extra = [s for s in (job.fractions if job else {}) if s not in STAGES]  # redaction, voicefixer when used
    for stage in (*STAGES, *extra):
        f = job.fractions[stage] if job else 0.0
        active = " tts-active" if job and job.stage == stage and f < 1 else ""
        rows.append(
            f'<div class="tts-stage{active}"><span>{S.STAGE_NAMES.get(stage, stage)}</span>'
            f'<progress max="1" value="{f:.3f}"></progress><span>{f * 100:.0f}%</span></div>'
        )
    head = f"Segment {job.segment + 1} of {job.segments}" if job and job.running else (note or "")
    return f'<div class="tts-progress"><div>{html.escape(head)}</div>{"".join(rows)}</div>'
