"""App settings: one frozen dataclass, persisted as JSON in the user's config folder.

Decisions:
* The file is ``$XDG_CONFIG_HOME/tortoise-tts/settings.json`` (``~/.config/...``), written atomically (temp file +
  rename), so a crash never leaves half a file.
* Reading is tolerant: an unreadable file, unknown keys or bad values fall back to the defaults, and the problems are
  returned so the app can show them; the app always starts.
* Empty ``models_dir``/``output_dir`` mean "the default" (``$TORTOISE_MODELS_DIR`` or ``~/.cache/tortoise/models``;
  ``$TORTOISE_OUTPUT_DIR`` or ``$XDG_DATA_HOME/tortoise-tts/outputs``), so moving the defaults moves the app too.
* Command-line options (``--models-dir``, ``--device``) override the file for one run; saving in Settings then stores
  what the form shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tortoise.audio_io import atomic_write
from tortoise.errors import InvalidInputError
from tortoise.options import OFFLOAD_POLICIES as OFFLOADS
from tortoise.options import PRECISIONS, PRESETS
from tortoise.text import SPLITTERS
from tortoise.weights import resolve_models_dir

CONFIG_NAME = "settings.json"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "tortoise-tts" / CONFIG_NAME


def default_output_dir() -> Path:
    if os.environ.get("TORTOISE_OUTPUT_DIR"):
        return Path(os.environ["TORTOISE_OUTPUT_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "tortoise-tts" / "outputs"


@dataclass(frozen=True)
class Settings:
    """What the Settings tab edits. ``batch_size`` 0 is automatic; ``device`` "auto" picks the best device."""

    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 0
    offload: str = "auto"
    keep_models_loaded: bool = True
    models_dir: str = ""
    output_dir: str = ""
    default_preset: str = "fast"
    splitter: str = "ours"  # how long text is split (tortoise.text.split_text): ours, or the original's
    voices_dirs: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What is wrong with these values (empty when they are usable)."""
        out = []
        if not isinstance(self.device, str) or not self.device.strip():
            out.append(f"device {self.device!r} must be a device name such as cpu, cuda, xpu, mps or auto")
        if self.precision not in PRECISIONS:
            out.append(f"precision {self.precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or not self.batch_size >= 0:
            out.append(f"batch size {self.batch_size!r} must be 0 (automatic) or a positive whole number")
        if self.offload not in OFFLOADS:
            out.append(f"offload {self.offload!r} is unknown; choose one of {', '.join(OFFLOADS)}")
        if self.default_preset not in PRESETS:
            out.append(f"preset {self.default_preset!r} is unknown; choose one of {', '.join(PRESETS)}")
        if self.splitter not in SPLITTERS:
            out.append(f"splitter {self.splitter!r} is unknown; choose one of {', '.join(SPLITTERS)}")
        if not isinstance(self.keep_models_loaded, bool):
            out.append(f"keep_models_loaded {self.keep_models_loaded!r} must be true or false")
        if not isinstance(self.models_dir, str) or not isinstance(self.output_dir, str):
            out.append("models_dir and output_dir must be folder paths (text)")
        return out

    def checked(self) -> Settings:
        """``self`` when valid; raises ``InvalidInputError`` listing every problem otherwise."""
        if problems := self.problems():
            raise InvalidInputError("; ".join(problems))
        return self

    @property
    def device_preference(self) -> str | None:
        return None if self.device in ("", "auto") else self.device

    def resolved_models_dir(self) -> Path:
        return resolve_models_dir(self.models_dir.strip() or None)

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir).expanduser() if self.output_dir.strip() else default_output_dir()

    def engine_key(self) -> tuple:
        """The fields that need a new ``TextToSpeech`` when they change."""
        s = self
        return (s.device, s.precision, s.batch_size, s.offload, s.resolved_models_dir(), s.voices_dirs)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["voices_dirs"] = list(self.voices_dirs)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> tuple[Settings, list[str]]:
        """Settings from JSON values: unknown keys are ignored, a bad value falls back to its default."""
        fields = {f.name for f in dataclasses.fields(cls)}
        notes = [f"ignored unknown setting {k!r}" for k in data if k not in fields]
        out = cls()
        for key in fields & set(data):
            value = data[key]
            if key == "voices_dirs":
                value = tuple(str(v) for v in value) if isinstance(value, list) else value
            candidate = dataclasses.replace(out, **{key: value})
            bad = [p for p in candidate.problems() if p not in out.problems()]
            if bad or (key == "voices_dirs" and not isinstance(value, tuple)):
                notes.append(f"setting {key!r} = {value!r} is not usable; using the default")
                continue
            out = candidate
        return out, notes


def load(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings (defaults when there is no file) and the problems found while reading them."""
    path = path or config_path()
    if not path.is_file():
        return Settings(), []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return Settings(), [f"could not read {path} ({e}); using the default settings"]
    if not isinstance(data, dict):
        return Settings(), [f"{path} does not hold settings; using the defaults"]
    return Settings.from_dict(data)


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` (checked first) atomically; returns the file's path."""

    settings.checked()
    path = path or config_path()
    text = json.dumps(settings.to_dict(), indent=1, sort_keys=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
