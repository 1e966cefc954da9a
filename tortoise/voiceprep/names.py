"""Voice names that are safe as folder names: no path escapes, no reserved names, readable unicode kept."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from ..errors import InvalidInputError, VoiceError

MAX_NAME_LENGTH = 64
# Names Windows refuses as file names (the voices folder may live on a shared or WSL-mounted drive).
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}


def sanitize_voice_name(name: str) -> str:
    """Turn a user-typed voice name into a safe folder name, or raise when nothing usable is left.

    Decisions: the name is NFC-normalised; letters and digits of any script, ``-`` and ``_`` are kept; every other
    character (path separators, dots, spaces, control characters, ``:``, ...) becomes ``_``; runs of ``_`` collapse
    and leading/trailing ``_``/``-`` are dropped; the result is cut to 64 characters. So ``"../x"`` -> ``"x"``,
    ``"/etc"`` -> ``"etc"``, ``"a/b"`` -> ``"a_b"``, ``"Zoë Ünal"`` -> ``"Zoë_Ünal"``. Case is kept.

    Raises
    ------
    InvalidInputError : the name is not a string, or is empty, ``..``-like or a reserved device name once cleaned.
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"voice name must be text, not {type(name).__name__}: {name!r}")
    text = unicodedata.normalize("NFC", name)
    cleaned = "".join(ch if (ch.isalnum() or ch in "-_") else "_" for ch in text)
    cleaned = re.sub(r"_+", "_", cleaned).strip("_-")[:MAX_NAME_LENGTH].rstrip("_-")
    if not cleaned:
        raise InvalidInputError(f"voice name {name!r} has no letters or digits; choose a name like 'my_voice'")
    if cleaned.lower() in _RESERVED:
        raise InvalidInputError(f"voice name {name!r} is a reserved device name; choose another name")
    return cleaned


def voice_folder(voices_dir: str | os.PathLike, name: str) -> Path:
    """The folder for voice ``name`` (sanitised) inside ``voices_dir``, checked to stay inside it.

    Raises
    ------
    InvalidInputError : the name cannot be sanitised.
    VoiceError : the resolved folder would lie outside ``voices_dir`` (e.g. through a symlink), or is a file.
    """
    root = Path(voices_dir).expanduser().resolve()
    folder = root / sanitize_voice_name(name)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise VoiceError(f"{folder} exists and is not a voice folder (a file or link); choose another name")
    if folder.resolve().parent != root:
        raise VoiceError(f"voice name {name!r} would escape the voices folder {root}")
    return folder
