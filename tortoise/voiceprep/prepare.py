"""Recordings -> voice folder: run the steps on each recording, slice, normalise, validate, save, report."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..audio import AR_SAMPLE_RATE
from ..audio_io import atomic_write, save_audio
from ..errors import InvalidInputError, TortoiseError, VoiceError
from .denoise import spectral_gate
from .names import voice_folder
from .options import PrepOptions
from .quality import active_fraction, advise, clipped_mask, clipped_runs, estimate_snr, judge, score_voice
from .report import GOOD, REJECTED, WARN, ClipReport, ClipStats, SourceReport, StepReport, VoiceReport
from .slicing import find_cuts
from .sources import Source, SourceAudio, load_source
from .steps import highpass, loudness_lufs, mixdown, normalize_loudness, resample, trim_bounds, true_peak_db

SAMPLE_RATE = AR_SAMPLE_RATE  # every clip is 22.05 kHz mono float32
VOICE_JSON = "voice.json"
Progress = Callable[[float, str], object]


@dataclass(frozen=True)
class _Processed:
    """One recording after the per-recording steps: ``wav`` (T,) at 22.05 kHz starting ``offset_s`` into it.

    ``before`` is the same span before noise reduction (for the input SNR of each clip)."""

    source: SourceAudio
    wav: np.ndarray
    before: np.ndarray
    offset_s: float
    report: SourceReport


def _process(src: SourceAudio, opt: PrepOptions) -> _Processed:
    """Mix-down, DC/high-pass, resample, denoise and trim one recording."""
    sr, steps = SAMPLE_RATE, []
    mono, detail, notes = mixdown(src.data, opt.channel)
    steps.append(StepReport("mono", True, detail, notes))
    if opt.remove_dc or opt.highpass_hz is not None:
        mono, detail = highpass(mono, src.sample_rate, cutoff_hz=opt.highpass_hz, remove_dc=opt.remove_dc)
        steps.append(StepReport("high-pass", True, detail))
    else:
        steps.append(StepReport("high-pass", False, "off"))
    wav, detail = resample(mono, src.sample_rate, sr)
    steps.append(StepReport("resample", True, detail))
    snr_before, before = estimate_snr(wav, sr), wav
    if opt.denoise and opt.denoise_strength > 0:
        noise, notes, where = None, (), "the quietest 10 %"
        if opt.noise_region is not None:
            a, b = (round(t * sr) for t in opt.noise_region)
            if b <= wav.size:
                noise, where = wav[a:b], f"{opt.noise_region[0]:g}-{opt.noise_region[1]:g} s"
            else:
                notes = (f"the noise region ends after the recording ({wav.size / sr:.1f} s); used the quietest part",)
        wav, level = spectral_gate(wav, sr, strength=opt.denoise_strength, noise=noise)
        detail = (
            f"profile from {where} ({level:.0f} dBFS), strength {opt.denoise_strength:g}; "
            f"est. SNR {snr_before:.0f} -> {estimate_snr(wav, sr):.0f} dB"
        )
        steps.append(StepReport("denoise", True, detail, notes))
    else:
        steps.append(StepReport("denoise", False, "off"))
    offset = 0
    if opt.trim:
        start, end = trim_bounds(wav, sr, trim_db=opt.trim_db, padding_s=opt.trim_padding_s)
        detail = f"{start / sr:.2f} s off the start, {(wav.size - end) / sr:.2f} s off the end"
        wav, before, offset = wav[start:end], before[start:end], start
        steps.append(StepReport("trim", True, detail))
    else:
        steps.append(StepReport("trim", False, "off"))
    report = SourceReport(
        name=src.name,
        path=str(src.path) if src.path else None,
        sha256=src.sha256,
        sample_rate=src.sample_rate,
        channels=src.channels,
        duration_s=round(src.duration_s, 3),
        format=src.subtype,
        steps=tuple(steps),
        snr_before_db=round(snr_before, 1),
        snr_after_db=round(estimate_snr(wav, sr), 1),
    )
    return _Processed(src, wav, before, offset / sr, report)


def _segments(p: _Processed, opt: PrepOptions) -> list[tuple[int, int, bool]]:
    """(start, end, cut_ok) sample ranges of ``p.wav`` for the clips; cut_ok is False after a cut inside speech."""
    sr = SAMPLE_RATE
    cuts = find_cuts(p.wav, sr, min_s=opt.min_clip_s, max_s=opt.max_clip_s) if opt.slice else []
    bounds = [0, *(c.sample for c in cuts), p.wav.size]
    ok = [True, *(c.in_pause for c in cuts), True]
    out = []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        if opt.trim and cuts:  # a cut leaves half a pause at each end: trim it like the recording's edges
            s, e = trim_bounds(p.wav[a:b], sr, trim_db=opt.trim_db, padding_s=opt.trim_padding_s)
            a, b = a + s, a + e
        out.append((a, b, ok[k] and ok[k + 1]))
    return out


def _clip(p: _Processed, a: int, b: int, cut_ok: bool, index: int, opt: PrepOptions, mask: np.ndarray):
    """Normalise, measure and judge one clip. Returns (ClipReport, audio)."""
    sr = SAMPLE_RATE
    wav = p.wav[a:b]
    if opt.normalize:
        wav, info = normalize_loudness(wav, sr, target_lufs=opt.target_lufs, true_peak_db_max=opt.true_peak_db)
    else:
        loud = loudness_lufs(wav, sr)
        info = {"loudness_in": loud, "loudness": loud, "gain_db": 0.0, "limiter_db": 0.0}
        info["true_peak"] = true_peak_db(wav)
    start_s, end_s = p.offset_s + a / sr, p.offset_s + b / sr
    src_sr = p.source.sample_rate
    sub = mask[round(start_s * src_sr) : round(end_s * src_sr)]
    stats = ClipStats(
        duration_s=round(wav.size / sr, 3),
        loudness_in_lufs=round(info["loudness_in"], 2),
        loudness_lufs=round(info["loudness"], 2),
        true_peak_db=round(info["true_peak"], 2),
        gain_db=round(info["gain_db"], 2),
        limiter_db=round(info["limiter_db"], 2),
        snr_in_db=round(estimate_snr(p.before[a:b], sr), 1),
        snr_db=round(estimate_snr(wav, sr), 1),
        active_fraction=round(active_fraction(wav, sr), 3),
        clipped_runs=clipped_runs(sub),
        clipped_fraction=round(float(sub.mean()) if sub.size else 0.0, 5),
    )
    verdict, reasons = judge(stats, min_s=opt.min_clip_s, max_s=opt.max_clip_s)
    if not cut_ok:
        reasons += ("cut inside speech: no pause within the allowed clip length",)
        verdict = WARN if verdict == GOOD else verdict
    return ClipReport(index, p.source.name, round(start_s, 3), round(end_s, 3), stats, verdict, reasons), wav


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _write(folder: Path, report: VoiceReport, audio: dict[str, np.ndarray], overwrite: bool) -> None:
    """Write into a hidden folder beside ``folder`` and rename it into place (replacing the old one if allowed)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
        tmp.mkdir()  # default permissions (umask), unlike tempfile.mkdtemp's 0700
    except OSError as e:
        raise VoiceError(f"cannot write to the voices folder {folder.parent}: {e}") from e
    try:
        for file, wav in audio.items():
            clip = next(c for c in report.clips if c.file == file)
            meta = {"voice": report.name, "source": clip.source, "start_s": clip.start_s, "end_s": clip.end_s}
            save_audio(tmp / file, wav, SAMPLE_RATE, metadata=meta)
        body = {
            "format": "tortoise-voice",
            "version": 1,
            "created": datetime.now(timezone.utc).isoformat(),
            "sample_rate": SAMPLE_RATE,
            **report.to_dict(),
        }
        text = json.dumps(_json_safe(body), indent=2, ensure_ascii=False)
        atomic_write(tmp / VOICE_JSON, lambda p: p.write_text(text + "\n", encoding="utf-8"))
        if folder.exists():
            if not overwrite:
                raise VoiceError(
                    f"voice {report.name!r} already exists in {folder.parent}; choose another name "
                    "or allow overwriting (--overwrite)"
                )
            old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                tmp.rename(folder)
            except OSError as e:
                raise VoiceError(f"cannot create the voice folder {folder}: {e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _as_list(sources) -> list:
    if isinstance(sources, (str, os.PathLike)):
        return [sources]
    if isinstance(sources, tuple) and len(sources) == 2 and any(isinstance(v, (int, np.integer)) for v in sources):
        return [sources]  # one microphone take
    return list(sources)


def _check_target(folder: Path, sources: list, overwrite: bool, name: str) -> None:
    if not folder.exists():
        return
    if not overwrite:
        raise VoiceError(
            f"voice {name!r} already exists in {folder.parent}; choose another name or allow overwriting (--overwrite)"
        )
    for s in sources:
        if isinstance(s, (str, os.PathLike)) and Path(s).expanduser().resolve().is_relative_to(folder.resolve()):
            raise VoiceError(
                f"{Path(s).name} lies inside the voice folder that would be replaced ({folder}); "
                "copy it elsewhere first or choose another name"
            )


def prepare_voice(
    sources: Sequence[Source] | Source,
    name: str,
    *,
    voices_dir: str | os.PathLike,
    options: PrepOptions | None = None,
    overwrite: bool = False,
    on_saved: Callable[[Path], object] | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> VoiceReport:
    """Turn recordings into a new voice folder ``voices_dir/<name>`` of 22.05 kHz mono float WAV clips + voice.json.

    Parameters
    ----------
    sources : files (wav/flac/ogg/opus/mp3/m4a/webm/..., any rate, bit depth and channel count) and/or microphone
        takes ``(sample_rate, samples)``. Originals are only read.
    name : the voice name; sanitised with ``sanitize_voice_name`` (the report carries the name used).
    voices_dir : the folder that holds voices (created if missing).
    options : the steps to run and their settings (default ``PrepOptions()``).
    overwrite : replace an existing voice of that name. Without it an existing voice is never touched. A source
        file inside the folder being replaced is refused either way.
    on_saved : called as ``on_saved(voice_dir)`` after the folder is in place (e.g. to cache conditioning latents).
        A ``TortoiseError`` from it becomes a report warning (the voice stays saved); other errors propagate.
    progress : called as ``progress(fraction 0..1, message)``; ``gr.Progress()`` fits.
    dry_run : process and report, write nothing.

    Returns
    -------
    VoiceReport : per-recording steps, per-clip stats and verdicts, score and advice. ``voice_dir`` is None when
    nothing was written: a dry run, or no clip passed validation (rejected clips are saved only with
    ``options.keep_rejected``).

    Raises
    ------
    InvalidInputError : no sources, a bad name or option, a malformed array.
    UnreadableAudioError, EmptyAudioError, SilentAudioError : a recording cannot be used (the message names it);
        nothing is written then.
    VoiceError : the voice exists and ``overwrite`` is False, or the folder cannot be written.
    """
    opt = options or PrepOptions()
    items = _as_list(sources)
    if not items:
        raise InvalidInputError("no recordings given; add at least one audio file or microphone recording")
    folder = voice_folder(voices_dir, name)
    _check_target(folder, items, overwrite, name)
    report_progress = progress or (lambda fraction, message: None)
    processed, clips, audio = [], [], []
    for i, item in enumerate(items):
        report_progress(i / (len(items) + 1), f"preparing recording {i + 1} of {len(items)}")
        src = load_source(item, i)
        p = _process(src, opt)
        processed.append(p.report)
        mask = clipped_mask(src.data)
        for a, b, cut_ok in _segments(p, opt):
            clip, wav = _clip(p, a, b, cut_ok, len(clips) + 1, opt, mask)
            clips.append(clip)
            audio.append(wav)
    saving = [i for i, c in enumerate(clips) if c.verdict != REJECTED or opt.keep_rejected]
    width = max(2, len(str(len(saving))))
    files = {}
    for n, i in enumerate(saving, 1):
        files[i] = f"clip_{n:0{width}d}.wav"
        clips[i] = replace(clips[i], file=None if dry_run else files[i])
    score, grade = score_voice(clips)
    limited = sum(1 for c in clips if c.stats.limiter_db < 0)
    steps = (
        StepReport(
            "slice",
            opt.slice,
            f"{len(clips)} clip(s) from {len(items)} recording(s), {opt.min_clip_s:g}-{opt.max_clip_s:g} s at pauses",
        ),
        StepReport(
            "loudness",
            opt.normalize,
            f"each clip to {opt.target_lufs:g} LUFS, true peak <= "
            f"{opt.true_peak_db:g} dBTP" + (f"; limiter engaged on {limited} clip(s)" if limited else ""),
        ),
    )
    warnings = [w for p in processed for st in p.steps for w in st.warnings]
    report = VoiceReport(
        name=folder.name,
        voice_dir=None,
        sources=tuple(processed),
        clips=tuple(clips),
        steps=steps,
        score=score,
        grade=grade,
        advice=advise(clips, warnings),
        options=opt.to_dict(),
        warnings=(),
    )
    if dry_run:
        report_progress(1.0, "done (dry run, nothing saved)")
        return report
    if not saving:
        report_progress(1.0, "no clip passed validation; nothing saved")
        return replace(report, warnings=("no clip passed validation; nothing was saved",))
    report_progress(len(items) / (len(items) + 1), f"saving {len(saving)} clip(s)")
    report = replace(report, voice_dir=folder)
    _write(folder, report, {files[i]: audio[i] for i in saving}, overwrite)
    if on_saved is not None:
        report_progress(0.98, "caching the voice's conditioning latents")
        try:
            on_saved(folder)
        except TortoiseError as e:
            report = replace(report, warnings=(*report.warnings, f"voice saved, but caching its latents failed: {e}"))
    report_progress(1.0, f"saved voice {folder.name!r}")
    return report


def preview(source: Source, options: PrepOptions | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Before/after audio of one recording for a listening comparison.

    Returns
    -------
    (before, after, sample_rate) : ``before`` is the recording mixed to mono and resampled to 22.05 kHz, untouched
    otherwise; ``after`` has every enabled step applied to the whole recording (no slicing; loudness normalised as
    one piece), so it is shorter than ``before`` when trimming removed silence. Both float32 (T,), rate 22050.
    """
    opt = options or PrepOptions()
    src = load_source(source)
    mono, _, _ = mixdown(src.data, opt.channel)
    before, _ = resample(mono, src.sample_rate, SAMPLE_RATE)
    after = _process(src, opt).wav
    if opt.normalize:
        target, ceiling = opt.target_lufs, opt.true_peak_db
        after, _ = normalize_loudness(after, SAMPLE_RATE, target_lufs=target, true_peak_db_max=ceiling)
    return before.astype(np.float32, copy=False), after.astype(np.float32, copy=False), SAMPLE_RATE
