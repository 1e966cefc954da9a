"""History: every generation is a folder in the output folder, listed in a JSON index; and how an entry is shown
(table rows, picker choices, details and timings). The tab is ``ui.history_tab``.

Decisions:
* A generation's folder holds what ``tortoise.longform.generate_long`` writes (``segments.json``, ``NN.wav``,
  ``combined.wav``); every audio file carries its settings in its metadata (``tortoise.audio_io.save_audio``). The
  index ``history.json`` adds what the app knows besides (preset, timings, real-time factor, status) for a quick list.
* The index is a cache: when it is missing or unreadable it is rebuilt from the folders, so deleting it loses only
  the timings. Writes are atomic and serialised by a lock per folder (the ``Engine`` keeps one ``History`` each).
* Folder names are ``YYYYmmdd-HHMMSS-<voice>-<4 hex>``: sortable, readable, unique.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tortoise.audio_io import atomic_write, read_metadata
from tortoise.longform import COMBINED, PLAN, segment_file

from . import strings as S

INDEX = "history.json"
DONE, CANCELLED, FAILED = "done", "cancelled", "failed"


@dataclass
class Entry:
    """One generation. Paths are strings (JSON); ``files`` are each segment's best candidate, in order."""

    id: str
    created: str
    status: str
    text: str
    voice: str
    preset: str = ""
    options: dict = field(default_factory=dict)
    seed: int | None = None
    folder: str = ""
    combined: str | None = None
    files: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # every candidate file of the first segment
    segments: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    audio_seconds: float = 0.0
    rtf: float | None = None
    device: str = ""
    precision: str = ""
    message: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Entry:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def new_folder(root: Path, voice: str) -> Path:
    """A fresh, unique folder for one generation (created)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in voice)[:40] or "voice"
    folder = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def entry_from_folder(folder: Path) -> Entry | None:
    """Rebuild an entry from a generation folder alone (its plan and its files' metadata)."""
    try:
        plan = json.loads((folder / PLAN).read_text())
        segments = list(plan["segments"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = [segment_file(folder, i) for i in range(len(segments))]
    done = [str(f) for f in files if f.is_file()]
    meta = {}
    if done:
        try:
            meta = read_metadata(done[0])
        except Exception:  # unreadable audio: list the folder anyway
            meta = {}
    combined = folder / COMBINED
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(folder.stat().st_mtime))
    return Entry(
        id=folder.name,
        created=created,
        status=DONE if len(done) == len(segments) else CANCELLED,
        text=" ".join(segments),
        voice=str(plan.get("voice", "")),
        options=meta.get("options", {}) if isinstance(meta.get("options"), dict) else {},
        seed=plan.get("seed"),
        folder=str(folder),
        combined=str(combined) if combined.is_file() else None,
        files=done,
        segments=len(segments),
    )


class History:
    """The generations in one output folder, newest first."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    @property
    def index(self) -> Path:
        return self.root / INDEX

    def _read(self) -> list[Entry] | None:
        try:
            data = json.loads(self.index.read_text(encoding="utf-8"))
            return [Entry.from_dict(d) for d in data["entries"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, entries: list[Entry]) -> None:
        text = json.dumps({"entries": [dataclasses.asdict(e) for e in entries]}, indent=1)
        atomic_write(self.index, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def rebuild(self) -> list[Entry]:
        """Entries from the folders on disk (used when the index is missing or damaged)."""
        if not self.root.is_dir():
            return []
        found = [entry_from_folder(f) for f in sorted(self.root.iterdir()) if f.is_dir()]
        return sorted((e for e in found if e is not None), key=lambda e: e.id, reverse=True)

    def entries(self) -> list[Entry]:
        """Every entry whose folder still exists, newest first."""
        with self._lock:
            entries = self._read()
            if entries is None:
                entries = self.rebuild()
                if entries:
                    self._write(entries)
        return [e for e in entries if Path(e.folder).is_dir()]

    def add(self, entry: Entry) -> None:
        """Record ``entry`` (replacing one with the same id: a regenerated segment updates its generation)."""
        with self._lock:
            entries = self._read()
            if entries is None:
                entries = self.rebuild()
            entries = [entry, *(e for e in entries if e.id != entry.id)]
            self._write(entries)

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries() if e.id == entry_id), None)


def rows(entries: list[Entry]) -> list[list]:
    """Table rows for the History tab."""
    out = []
    for e in entries:
        text = e.text if len(e.text) <= 60 else e.text[:57] + "..."
        rtf = f"{e.rtf:.2f}" if e.rtf is not None else ""
        out.append([e.created, e.voice, text, f"{e.audio_seconds:.1f}", rtf, e.status])
    return out


def choices(entries: list[Entry]) -> list[tuple[str, str]]:
    """(label, id) pairs for the History picker."""
    return [(f"{e.created} · {e.voice} · {e.text[:40]}", e.id) for e in entries]


def timings_markdown(e: Entry) -> str:
    """Stage timings, speed and where the files are, of one generation (markdown)."""
    if not e.timings and e.status != DONE:
        return f"**{e.status}** — {len(e.files)} of {e.segments} segment(s) in `{e.folder}`"
    lines = ["| stage | seconds |", "|---|---|"]
    lines += [f"| {S.STAGE_NAMES.get(k, k)} | {v:.2f} |" for k, v in e.timings.items()]
    lines.append(f"| **total** | **{sum(e.timings.values()):.2f}** |")
    rtf = f"{e.rtf:.2f}" if e.rtf is not None else "-"
    lines.append(
        f"\nSpeech: {e.audio_seconds:.1f} s · real-time factor {rtf} (seconds of computing per second of speech; "
        f"below 1 is faster than real time) · seed {e.seed} · {e.device} {e.precision}\n\nFiles: `{e.folder}`"
    )
    if e.message:
        lines.append(f"\nSkipped: {e.message}")
    return "\n".join(lines)


def details_markdown(e: Entry) -> str:
    """The History tab's description of one generation."""
    opts = ", ".join(f"{k}={v}" for k, v in e.options.items())
    head = f"**Text:** {e.text}\n\n**Voice:** {e.voice} · **preset:** {e.preset or '-'} · **status:** {e.status}"
    return f"{head}\n\n**Settings:** `{opts}`\n\n{timings_markdown(e)}"


def reuse_from_file(path: str) -> dict | None:
    """Settings stored in an audio file this app (or the CLI) wrote: keyword arguments of ``reuse_values``, or None.

    Segment files carry their text, voice, seed and options; ``combined.wav`` the whole text, the voice, the job's
    seed (segment i used seed + i) and options. Other files give None.
    """
    try:
        meta = read_metadata(path)
    except Exception:  # not audio, or unreadable: no settings
        return None
    if not isinstance(meta.get("options"), dict) or not meta.get("voice"):
        return None
    return {
        "text": str(meta.get("text", "")),
        "voice": str(meta["voice"]),
        "preset": str(meta.get("preset", "")),
        "options": meta["options"],
        "seed": meta.get("seed"),
    }
