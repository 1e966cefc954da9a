"""Voices tab: recordings -> a prepared voice (``tortoise.voiceprep``), and the voice library (list, rename, delete).

Decisions:
* New voices go to the user's voices folder (``VoiceLibrary.user_dir``); only voices there can be renamed or
  deleted. Built-in and extra-folder voices are read-only in the app.
* "Check clips" is a dry run of the same preparation ``Save`` does, so the table shown is what will be saved.
* When the models are present, saving also computes and caches the voice's conditioning latents (on the device,
  under the GPU lock), so its first generation starts faster; without models the voice is saved all the same.
* Delete needs a ticked confirmation box (no browser dialogs: they are easy to dismiss by accident and hard to test).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import strings as S
from .engine import Engine

PREP_FIELDS = ("denoise", "denoise_strength", "highpass", "trim", "normalize", "slice", "keep_rejected")


def sources(files, mic) -> list:
    """Uploaded file paths and an optional microphone take ``(sample_rate, samples)`` -> ``prepare_voice`` sources."""
    out: list = []
    for f in files or []:
        out.append(str(getattr(f, "name", f)))
    if mic is not None and len(mic) == 2 and mic[1] is not None and len(mic[1]):
        out.append((int(mic[0]), mic[1]))
    return out


def source_names(files, mic) -> list[str]:
    names = [Path(str(getattr(f, "name", f))).name for f in files or []]
    if mic is not None and len(mic) == 2 and mic[1] is not None and len(mic[1]):
        names.append("microphone")
    return names


def prep_options(values: dict):
    """Checkbox and slider values -> ``PrepOptions``."""
    from tortoise.voiceprep import PrepOptions

    return PrepOptions(
        denoise=bool(values.get("denoise", True)),
        denoise_strength=float(values.get("denoise_strength", 0.85)),
        highpass_hz=70.0 if values.get("highpass", True) else None,
        trim=bool(values.get("trim", True)),
        normalize=bool(values.get("normalize", True)),
        slice=bool(values.get("slice", True)),
        keep_rejected=bool(values.get("keep_rejected", False)),
    )


def preview(files, mic, which: str | None, values: dict):
    """(before, after) as ``(sample_rate, samples)`` for the chosen recording."""
    from tortoise.errors import InvalidInputError
    from tortoise.voiceprep import preview as prep_preview

    items, names = sources(files, mic), source_names(files, mic)
    if not items:
        raise InvalidInputError(S.NO_RECORDINGS)
    index = names.index(which) if which in names else 0
    before, after, sr = prep_preview(items[index], prep_options(values))
    return (sr, before), (sr, after)


def clip_rows(report) -> list[list]:
    rows = []
    for c in report.clips:
        s = c.stats
        rows.append(
            [
                c.file or f"({c.index})",
                c.source,
                f"{c.start_s:.1f}-{c.end_s:.1f}",
                f"{s.duration_s:.1f}",
                f"{s.loudness_lufs:.1f}",
                f"{s.true_peak_db:.1f}",
                f"{s.snr_in_db:.0f} -> {s.snr_db:.0f}",
                c.verdict,
                "; ".join(c.reasons),
            ]
        )
    return rows


def prepare(engine: Engine, files, mic, name: str, values: dict, *, save: bool, overwrite: bool = False, progress=None):
    """Run the preparation (``save`` False: a dry run). Returns (summary markdown, clip rows, details text, report)."""
    from tortoise.errors import InvalidInputError
    from tortoise.voiceprep import format_report, prepare_voice

    items = sources(files, mic)
    if not items:
        raise InvalidInputError(S.NO_RECORDINGS)
    if save and not (name or "").strip():
        raise InvalidInputError(S.NO_VOICE_NAME)
    library = engine.library()

    def cache_latents(folder: Path) -> None:
        if engine.missing_models():
            return
        with engine.gpu():
            engine.tts().voice_latents(folder.name)

    def report_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    report = prepare_voice(
        items,
        (name or "").strip() or "preview",
        voices_dir=library.user_dir,
        options=prep_options(values),
        overwrite=overwrite,
        on_saved=cache_latents if save else None,
        progress=report_progress,
        dry_run=not save,
    )
    if not save:
        summary = S.CHECKED.format(n=len(report.clips), score=report.score, grade=report.grade)
    elif report.voice_dir is not None:
        summary = S.VOICE_SAVED.format(
            name=report.name, n=len(report.saved_clips), folder=report.voice_dir, score=report.score, grade=report.grade
        )
    else:
        summary = S.VOICE_NOT_SAVED.format(advice=" ".join(report.advice))
    extra = [*(f"- {a}" for a in report.advice), *(f"- **warning:** {w}" for w in report.warnings)]
    if extra:
        summary += "\n\n" + "\n".join(extra)
    return summary, clip_rows(report), format_report(report), report


# ---- library ------------------------------------------------------------------------------------------------------
def _where(engine: Engine, voice) -> str:
    from tortoise.voices import builtin_voices_dirs

    root = voice.path.parent.resolve()
    if root == engine.library().user_dir.expanduser().resolve():
        return S.WHERE_USER
    if any(root == d.resolve() for d in builtin_voices_dirs()):
        return S.WHERE_BUILTIN
    return S.WHERE_EXTRA


def voice_rows(engine: Engine) -> list[list]:
    """voice, clips, cached latents, where: for every voice in the library."""
    identity = engine.model_identity()
    cache = engine.tts().latent_cache if identity is not None else None
    rows = []
    for v in engine.library().list():
        if not v.clips:
            cached = S.CACHED_FILE
        elif cache is None:
            cached = S.CACHED_UNKNOWN
        else:
            cached = S.CACHED_YES if cache.has(v, identity) else S.CACHED_NO
        rows.append([v.name, str(len(v.clips)), cached, _where(engine, v)])
    return rows


def voice_choices(engine: Engine, *, with_random: bool = False) -> list[str]:
    names = engine.library().names()
    return [*names, "random"] if with_random else names


def first_clip(engine: Engine, name: str | None) -> str | None:
    if not name:
        return None
    voice = engine.library().get(name)
    return str(voice.clips[0]) if voice.clips else None


def _own(engine: Engine, name: str):
    from tortoise.errors import VoiceError

    library = engine.library()
    voice = library.get(name)
    user_dir = library.user_dir.expanduser().resolve()
    if voice.path.parent.resolve() != user_dir or voice.path.is_symlink():
        raise VoiceError(S.ONLY_USER_VOICES.format(name=name, folder=voice.path.parent))
    return voice, user_dir


def rename(engine: Engine, old: str, new: str) -> str:
    """Rename one of the user's voices; returns the new (sanitised) name."""
    from tortoise.errors import VoiceError
    from tortoise.voiceprep import VOICE_JSON, sanitize_voice_name

    voice, user_dir = _own(engine, old)
    target_name = sanitize_voice_name(new or "")
    target = user_dir / target_name
    if target.exists() or target.is_symlink():
        raise VoiceError(f"a voice named {target_name!r} already exists; choose another name")
    voice.path.rename(target)
    meta = target / VOICE_JSON
    if meta.is_file():  # keep voice.json's name in step with the folder
        try:
            data = json.loads(meta.read_text())
            if isinstance(data, dict):
                from tortoise.audio_io import atomic_write

                data["name"] = target_name
                atomic_write(meta, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
        except (OSError, ValueError):
            pass
    return target_name


def delete(engine: Engine, name: str) -> None:
    """Delete one of the user's voices (its folder). Built-in and extra voices are refused."""
    voice, _ = _own(engine, name)
    shutil.rmtree(voice.path)
