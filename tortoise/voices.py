"""The voice library: where voices live, what each holds, and loading a voice's clips.

A voice is a folder named after it holding reference clips (any audio format ``load_audio`` reads), or a
``latents.pth`` with precomputed conditioning latents (ar (1, 1024), diffusion (1, 2048)). Voices come from, in order
of precedence: the user's voices folder (``$TORTOISE_VOICES_DIR``, default ``$XDG_DATA_HOME/tortoise-tts/voices``),
any extra folders given, and the built-in voices shipped with the project. Nothing is ever written into a voice folder
by reading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .audio_io import AUDIO_EXTENSIONS
from .errors import VoiceError

LATENTS_FILE = "latents.pth"
RANDOM_VOICE = "random"


def user_voices_dir() -> Path:
    if os.environ.get("TORTOISE_VOICES_DIR"):
        return Path(os.environ["TORTOISE_VOICES_DIR"]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return data_home / "tortoise-tts" / "voices"


def builtin_voices_dirs() -> list[Path]:
    """Where the built-in voices are: package data in ``tortoise/assets/voices``, in every install layout.

    The voices ship inside the package (a source checkout, an editable install, a wheel in a venv and a conda prefix
    all have them next to this module), so this is the one place that decides where they are.
    """
    root = Path(__file__).resolve().parent / "assets" / "voices"
    return [root] if root.is_dir() else []


@dataclass(frozen=True)
class Voice:
    name: str
    path: Path
    clips: tuple[Path, ...]
    latents: Path | None

    @property
    def kind(self) -> str:
        return "latents" if self.latents is not None and not self.clips else "clips"

    @property
    def summary(self) -> str:
        parts = []
        if self.clips:
            parts.append(f"{len(self.clips)} clip{'s' if len(self.clips) != 1 else ''}")
        if self.latents is not None:
            parts.append("latents")
        return ", ".join(parts) + f"  ({self.path})"


def _scan(folder: Path) -> Voice | None:
    if not folder.is_dir() or folder.name.startswith("."):
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    clips = tuple(p for p in files if p.suffix.lower() in AUDIO_EXTENSIONS)
    latents = folder / LATENTS_FILE
    if not clips and not latents.is_file():
        return None
    return Voice(folder.name, folder, clips, latents if latents.is_file() else None)


class VoiceLibrary:
    """All voices visible to the app and the CLI. First folder wins when two hold the same name."""

    def __init__(self, extra_dirs: list[str | Path] | None = None, *, user_dir: Path | None = None):
        self.user_dir = user_dir if user_dir is not None else user_voices_dir()
        self.dirs = [self.user_dir, *(Path(d).expanduser() for d in extra_dirs or []), *builtin_voices_dirs()]

    def list(self) -> list[Voice]:
        seen: dict[str, Voice] = {}
        for root in self.dirs:
            if not root.is_dir():
                continue
            for folder in sorted(root.iterdir()):
                voice = _scan(folder)
                if voice is not None and voice.name not in seen:
                    seen[voice.name] = voice
        return sorted(seen.values(), key=lambda v: v.name)

    def names(self) -> list[str]:
        return [v.name for v in self.list()]

    def get(self, name: str) -> Voice:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise VoiceError(f"invalid voice name {name!r}: use a plain folder name")
        for root in self.dirs:
            voice = _scan(root / name)
            if voice is not None:
                return voice
        raise VoiceError(f"unknown voice {name!r}; available: {', '.join(self.names()) or 'none'} (or 'random')")
