"""Settings tab: device (with what ``doctor`` found), precision, batch size, offload, models, output folder, preset.

Decisions:
* Saving writes the user config file and hands the new settings to the ``Engine`` at once: the output folder and
  default preset apply immediately; device/precision/models changes drop the current pipeline and the next job
  builds the new one (no restart).
* Model downloads report bytes through ``gr.Progress``; a failure names the file and what to do (the library's
  message), and whatever finished stays.
"""

from __future__ import annotations

import dataclasses

from . import strings as S
from .engine import Engine
from .state import Settings

FIELDS = ("device", "precision", "batch_size", "offload", "keep_models_loaded", "models_dir", "output_dir", "preset")


def device_choices(current: str = "auto") -> list[str]:
    from tortoise import devices

    names = ["auto", *(str(d) for d in devices.available())]
    if current and current not in names:
        names.append(current)
    return names


def doctor_text(engine: Engine, *, smoke: bool) -> str:
    from tortoise import doctor

    return doctor.run(engine.settings.device_preference, smoke=smoke).text()


def model_rows(engine: Engine) -> list[list]:
    from tortoise import weights

    rows = []
    for st in weights.status(engine.settings.resolved_models_dir()):
        cp = st.checkpoint
        size = f"{(st.size or cp.size) / 1e6:.0f}"
        rows.append([cp.name, st.state, size, "yes" if cp.required else "", cp.purpose])
    return rows


def missing_banner(engine: Engine) -> str:
    """The Generate tab's explanation of missing models ("" when nothing is missing)."""
    missing = engine.missing_models()
    if not missing:
        return ""
    names = ", ".join(st.checkpoint.filename for st in missing)
    size = sum(st.checkpoint.size for st in missing) / 1e9
    return S.MISSING_MODELS.format(names=names, folder=engine.settings.resolved_models_dir(), size=size)


def download_missing(engine: Engine, progress=None) -> str:
    """Download every missing required checkpoint into the models folder."""
    from tortoise import weights

    missing = [st.name for st in engine.missing_models()]
    if not missing:
        return S.NOTHING_MISSING

    def report(name: str, done: int, total: int | None) -> None:
        if progress is not None:
            frac = done / total if total else None
            progress(frac, desc=f"{name}: {done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else ""))

    with engine.gpu():  # not the device, but one big job at a time keeps the disk and network sane
        paths = weights.download(missing, engine.settings.resolved_models_dir(), progress=report)
    return S.DOWNLOADED.format(names=", ".join(p.name for p in paths))


def import_models(engine: Engine, folder: str) -> str:
    from tortoise import weights
    from tortoise.errors import InvalidInputError

    if not (folder or "").strip():
        raise InvalidInputError("type the folder that holds the model files (.pth) first")
    checks = weights.import_folder(folder.strip(), engine.settings.resolved_models_dir())
    if not checks:
        return f"No model files found in {folder}."
    return "\n".join(f"- {c.message()}" for c in checks)


def from_values(engine: Engine, values: dict) -> Settings:
    """Form values -> ``Settings`` (fields the form does not show keep their current values)."""
    from tortoise.errors import InvalidInputError

    batch = values.get("batch_size")
    try:
        batch = int(batch or 0)
    except (TypeError, ValueError):
        raise InvalidInputError(f"batch size {batch!r} must be a whole number (0 = automatic)") from None
    return dataclasses.replace(
        engine.settings,
        device=(values.get("device") or "auto").strip(),
        precision=values.get("precision") or "auto",
        batch_size=batch,
        offload=values.get("offload") or "auto",
        keep_models_loaded=bool(values.get("keep_models_loaded", True)),
        models_dir=(values.get("models_dir") or "").strip(),
        output_dir=(values.get("output_dir") or "").strip(),
        default_preset=values.get("preset") or "fast",
    ).checked()


def save(engine: Engine, values: dict) -> str:
    new = from_values(engine, values)
    path, changed = engine.apply(new)
    return S.SETTINGS_SAVED.format(path=path, applied=S.APPLIED_NEXT_JOB if changed else S.APPLIED_NOW)


def form_values(settings: Settings) -> dict:
    """The form's values for ``settings`` (by ``FIELDS`` name)."""
    return {
        "device": settings.device,
        "precision": settings.precision,
        "batch_size": settings.batch_size,
        "offload": settings.offload,
        "keep_models_loaded": settings.keep_models_loaded,
        "models_dir": settings.models_dir,
        "output_dir": settings.output_dir,
        "preset": settings.default_preset,
    }
