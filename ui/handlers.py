"""Widget values in, library calls, display values out. Library errors become ``gr.Error`` messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import AppSettings


def _library(settings: AppSettings):
    from tortoise.voices import VoiceLibrary

    return VoiceLibrary(extra_dirs=list(settings.voices_dirs))


def voice_rows(settings: AppSettings) -> list[list[str]]:
    return [[v.name, v.kind, str(len(v.clips))] for v in _library(settings).list()]


def voice_names(settings: AppSettings) -> list[str]:
    return _library(settings).names()


def first_clip(settings: AppSettings, name: str | None) -> str | None:
    if not name:
        return None
    import gradio as gr

    from tortoise.errors import TortoiseError

    try:
        voice = _library(settings).get(name)
    except TortoiseError as e:
        raise gr.Error(str(e)) from e
    return str(voice.clips[0]) if voice.clips else None


def doctor_text(settings: AppSettings, *, smoke: bool) -> str:
    from tortoise import doctor

    return doctor.run(settings.device, smoke=smoke).text()
