"""A project folder: ``project.json`` (read, migrated, written atomically and synced to disk) and the audio beside it.

Layout::

    DIR/project.json        the project (schema ``model.SCHEMA``)
    DIR/takes/<id>_t<k>.flac one file per take, written before the project file names it
    DIR/cover.jpg           optional cover image

Every change is saved at once (``ProjectFolder.save``): the new file is written beside the old one, flushed to disk and
renamed over it, so a crash, Ctrl-C or a full disk leaves the previous complete file and loses at most the segment
being rendered.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..audio_io import atomic_write
from ..errors import InvalidInputError, TortoiseError
from .model import SCHEMA, Project

PROJECT_FILE = "project.json"
TAKES_DIR = "takes"


class ProjectError(TortoiseError):
    """A project folder or file cannot be used (missing, unreadable, from a newer version)."""


def migrate(data: dict) -> dict:
    """Bring an older project file's dict to the current schema (there is only schema 1 so far)."""
    version = data.get("schema")
    if not isinstance(version, int) or version < 1:
        raise ProjectError(f"not a project file (schema {version!r})")
    if version > SCHEMA:
        raise ProjectError(
            f"this project was saved by a newer tortoise-tts (schema {version}; this one reads up to {SCHEMA}): "
            "upgrade tortoise-tts-oneapi to open it"
        )
    return data


def _write_synced(text: str):
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the data does

    return write


class ProjectFolder:
    """An open project: ``project`` (the data) and ``path`` (its folder). Call :meth:`save` after every change."""

    def __init__(self, path: str | os.PathLike, project: Project):
        self.path = Path(path)
        self.project = project

    @property
    def file(self) -> Path:
        return self.path / PROJECT_FILE

    @classmethod
    def create(cls, path: str | os.PathLike, project: Project, *, overwrite: bool = False) -> ProjectFolder:
        """Make the folder and write the project; refuses a folder that already holds a project."""
        folder = cls(path, project)
        if folder.file.exists() and not overwrite:
            raise InvalidInputError(f"{folder.path} already holds a project; choose another folder")
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.save()
        return folder

    @classmethod
    def open(cls, path: str | os.PathLike) -> ProjectFolder:
        """Read ``DIR/project.json``; raises ``ProjectError`` saying what is wrong."""
        path = Path(path)
        file = path / PROJECT_FILE
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProjectError(f"{path} is not a project (no {PROJECT_FILE}); make one with `project new`") from None
        except (OSError, ValueError) as e:
            raise ProjectError(f"cannot read {file}: {e}") from e
        if not isinstance(data, dict):
            raise ProjectError(f"{file} is not a project file")
        try:
            return cls(path, Project.from_dict(migrate(data)))
        except (KeyError, TypeError, ValueError) as e:
            raise ProjectError(f"{file} is damaged ({type(e).__name__}: {e})") from e

    def save(self) -> None:
        """Write the project atomically (compact JSON: a 5,000-segment book is written in milliseconds)."""
        text = json.dumps(self.project.to_dict(), ensure_ascii=False, separators=(",", ":"))
        atomic_write(self.file, _write_synced(text))

    def take_path(self, segment_id: str, number: int) -> Path:
        """Where take ``number`` (from 1) of a segment goes; relative names are stored in the project."""
        return self.path / TAKES_DIR / f"{segment_id}_t{number}.flac"

    def resolve(self, relative: str) -> Path:
        return self.path / relative
