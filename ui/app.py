"""``build_app(engine, settings)``: the page, composed of its tabs (``TABS``; ``ui.page`` describes the contract a
tab follows). No model is loaded here.

Decisions:
* A tab is one module: its layout, its events, and the handlers that translate between components and the plain
  values the work takes. Errors become a message on the tab where the user acted (``ui.alerts``: a toast fades, and
  Gradio shows no reason for an unexpected error).
* Device work (generate, saving a voice, the device check, downloads) shares ``concurrency_id="gpu"`` with a limit of
  1 (``ui.page.GPU``): one job at a time, and Gradio shows the others their place in the queue. Light events run
  unlimited.
* Everything that depends on disk (voices, models, history, the doctor report) is filled on page load, so a reload
  shows the current state.
"""

from __future__ import annotations

import os

import gradio as gr

from . import strings as S
from .engine import Engine
from .generate_tab import GenerateTab
from .history_tab import HistoryTab
from .page import LIGHT, Shared
from .projects_tab import ProjectsTab
from .settings_tab import SettingsTab
from .state import Settings
from .voices_tab import VoicesTab

# the tabs, in page order; a new tab is one module ``ui/<name>_tab.py`` and one entry here
TABS = (GenerateTab, VoicesTab, ProjectsTab, HistoryTab, SettingsTab)

CSS = """
.tts-progress { font-size: 0.9em; }
.tts-stage { display: grid; grid-template-columns: 9em 1fr 3.5em; gap: 0.5em; align-items: center; }
.tts-stage progress { width: 100%; height: 0.8em; }
.tts-active span:first-child { font-weight: bold; }
.tts-error { border: 1px solid #dc2626; border-left-width: 4px; border-radius: 4px; padding: 0.5em 0.75em;
             background: #fef2f2; color: #7f1d1d; white-space: pre-wrap; overflow-wrap: anywhere; }
"""


def build_app(engine: Engine, settings: Settings | None = None) -> gr.Blocks:
    """Lay out and wire the app for ``engine``. Returns a ``gr.Blocks``; start it with ``queue().launch()``."""
    with gr.Blocks(title=S.TITLE) as app:
        gr.Markdown(S.HEADER)
        with gr.Tabs() as strip:
            shared = Shared(app=app, tabs=strip, settings=settings or engine.settings)
            tabs = [tab(engine, shared) for tab in TABS]
        load = shared.page_load()
        app.load(load, outputs=load.outputs, **LIGHT)
        for tab in tabs:  # once all are laid out: some events update other tabs' components
            tab.wire()
    return app


def launch_options(engine: Engine) -> dict:
    """Theme, CSS and served folders for ``app.launch`` (Gradio 6 takes them there, not in ``Blocks``)."""
    s = engine.settings
    served = [s.resolved_output_dir(), engine.library().user_dir, *(engine.library().dirs)]
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {
        "theme": theme,
        "css": CSS,
        "allowed_paths": sorted({str(p.expanduser().resolve()) for p in served}),
        "max_file_size": max_upload(),
    }


def max_upload() -> str:
    """Largest upload Gradio accepts (``$TORTOISE_MAX_UPLOAD_MB``, default 200 MB: an hour of 16-bit mono 48 kHz
    audio is ~350 MB as WAV but far less as m4a/mp3; longer recordings are refused by the loader anyway)."""
    mb = os.environ.get("TORTOISE_MAX_UPLOAD_MB", "200")
    if not mb.isdigit() or int(mb) < 1:
        raise ValueError(f"TORTOISE_MAX_UPLOAD_MB={mb!r} must be a whole number of megabytes >= 1")
    return f"{int(mb)}mb"
