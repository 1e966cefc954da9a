"""The History tab: past generations (``ui.history``), played back, and their settings reused in Generate."""

from __future__ import annotations

import gradio as gr

from . import alerts, generate, history
from . import strings as S
from .engine import Engine
from .page import LIGHT, Shared


def layout() -> dict:
    """The tab's components by name (stable ``hist-*`` element ids: the browser tests find them by these)."""
    c: dict = {}
    c["table"] = gr.Dataframe(headers=S.HISTORY_HEADERS, label=S.HISTORY_TABLE, interactive=False, wrap=True,
                              elem_id="hist-table")  # fmt: skip
    with gr.Row():
        c["pick"] = gr.Dropdown(label=S.HISTORY_PICK, choices=[], scale=4, elem_id="hist-pick")
        c["refresh"] = gr.Button(S.REFRESH, size="sm", scale=1, elem_id="hist-refresh")
    with gr.Row():
        with gr.Column():
            c["audio"] = gr.Audio(label=S.HISTORY_AUDIO, type="filepath", interactive=False, elem_id="hist-audio")
            c["reuse"] = gr.Button(S.REUSE, variant="primary", elem_id="hist-reuse")
            c["from_file"] = gr.File(label=S.FROM_FILE, file_types=["audio"], type="filepath", elem_id="hist-file")
        with gr.Column():
            c["details"] = gr.Markdown(S.HISTORY_EMPTY, elem_id="hist-details")
    return c


class HistoryTab:
    """The History tab (``ui.page`` describes the contract)."""

    def __init__(self, engine: Engine, shared: Shared):
        self.engine, self.shared = engine, shared
        with gr.Tab(S.TAB_HISTORY, id="history") as self.tab:
            self.c = c = layout()
        self.lists_outputs = [c["table"], c["pick"]]
        shared.load.add(self.lists_outputs, self.lists)

    def lists(self) -> dict:
        entries = self.engine.history().entries()
        return {self.c["table"]: history.rows(entries), self.c["pick"]: gr.update(choices=history.choices(entries))}

    def wire(self) -> None:
        c, reuse = self.c, self.shared.reuse
        self.tab.select(self.lists, outputs=self.lists_outputs, **LIGHT)
        c["refresh"].click(self.lists, outputs=self.lists_outputs, **LIGHT)
        c["pick"].change(self.on_history_pick, c["pick"], [c["audio"], c["details"]], **LIGHT)
        shown = alerts.shown(c["details"])
        c["reuse"].click(shown(self.on_reuse), c["pick"], [*reuse.outputs, c["details"]], **LIGHT)
        c["from_file"].upload(shown(self.on_from_file), c["from_file"], [*reuse.outputs, c["details"]], **LIGHT)

    def on_history_pick(self, entry_id):
        entry = self.engine.history().get(entry_id) if entry_id else None
        if entry is None:
            return None, S.HISTORY_EMPTY
        audio = entry.combined or (entry.files[0] if entry.files else None)
        return audio, history.details_markdown(entry)

    def fill_generate(self, values: dict) -> dict:
        gr.Info(S.REUSED)
        return self.shared.reuse(values)

    def on_reuse(self, entry_id):
        e = self.engine.history().get(entry_id) if entry_id else None
        if e is None:
            raise gr.Error(S.PICK_GENERATION)
        return self.fill_generate(generate.reuse_values(e.text, e.voice, e.preset, e.options, e.seed))

    def on_from_file(self, path):
        if not path:  # (never {}: Gradio reads an empty dict as one output value, and fails)
            return {self.c["details"]: gr.skip()}
        values = history.reuse_from_file(path)
        if values is None:
            raise gr.Error(S.NO_SETTINGS_IN_FILE)
        return self.fill_generate(generate.reuse_values(**values))
