"""The Projects tab's components (``ui.projects_tab`` wires them): the project picker and "New project", the checks'
thresholds, Render and Check with their scope, progress and the checks' choices, the segment table with its pages,
the chosen segment, and Export. Stable ``proj-*`` element ids: the browser tests find the components by these.
"""

from dataclasses import asdict

import gradio as gr

from tortoise.options import PRESETS
from tortoise.project import EXPORT_FORMATS
from tortoise.project.model import CheckSettings

from . import strings as S


def layout(preset: str) -> dict:
    """The tab's components by name (stable ``proj-*`` element ids: the browser tests find them by these)."""
    c: dict = {"ids": gr.State([]), "selected": gr.State(None), "stamp": gr.State(None), "as_shown": gr.State(None)}
    with gr.Row():
        c["pick"] = gr.Dropdown(label=S.PROJECT, choices=[], scale=4, elem_id="proj-pick")
        c["refresh"] = gr.Button(S.REFRESH, size="sm", scale=1, elem_id="proj-refresh")
    with gr.Accordion(S.NEW_PROJECT, open=False, elem_id="proj-new") as c["new"]:
        with gr.Row():
            c["new_file"] = gr.File(label=S.BOOK_FILE, file_types=[".txt", ".md", ".epub"], type="filepath",
                                    elem_id="proj-new-file")  # fmt: skip
            c["new_text"] = gr.Textbox(label=S.PASTE_TEXT, lines=5, elem_id="proj-new-text")
        with gr.Row():
            c["new_name"] = gr.Textbox(label=S.PROJECT_NAME, placeholder=S.PROJECT_NAME_PLACEHOLDER,
                                       elem_id="proj-new-name")  # fmt: skip
            c["new_voice"] = gr.Dropdown(label=S.PROJECT_VOICE, choices=[], elem_id="proj-new-voice")
            c["new_preset"] = gr.Dropdown(list(PRESETS), value=preset, label=S.PRESET, elem_id="proj-new-preset")
        c["new_checks"] = gr.Checkbox(label=S.CHECK_TAKES, value=True, elem_id="proj-new-checks")
        c["create"] = gr.Button(S.CREATE_PROJECT, variant="primary", elem_id="proj-create")
        c["new_msg"] = gr.Markdown(elem_id="proj-new-msg")
    c["summary"] = gr.Markdown(S.NO_PROJECTS, elem_id="proj-summary")
    c["checks"] = gr.Checkbox(label=S.CHECK_TAKES, value=True, elem_id="proj-checks")
    thresholds_layout(c)
    with gr.Row():
        c["scope"] = gr.Radio(S.SCOPE_CHOICES, value="book", label=S.RENDER_SCOPE, elem_id="proj-scope")
        c["which"] = gr.Radio(S.WHICH_CHOICES, value="pending", label=S.RENDER_WHICH, elem_id="proj-which")
    with gr.Row():
        c["render"] = gr.Button(S.RENDER, variant="primary", elem_id="proj-render")
        c["check"] = gr.Button(S.CHECK_TAKES_BUTTON, elem_id="proj-check")
        c["cancel"] = gr.Button(S.CANCEL, variant="stop", elem_id="proj-cancel")
    with gr.Group(visible=False, elem_id="proj-checks-box") as c["checks_box"]:
        c["checks_msg"] = gr.Markdown(elem_id="proj-checks-msg")
        with gr.Row():
            c["get_recogniser"] = gr.Button(S.GET_RECOGNISER, variant="primary", elem_id="proj-get-recogniser")
            c["checks_off"] = gr.Button(S.CHECKS_OFF_BUTTON, elem_id="proj-checks-off")
    c["progress"] = gr.HTML(elem_id="proj-progress")
    c["timer"] = gr.Timer(2.0, active=False)
    with gr.Row():
        c["chapter"] = gr.Dropdown(label=S.CHAPTER, choices=[(S.ALL_CHAPTERS, -1)], value=-1, scale=4,
                                   elem_id="proj-chapter")  # fmt: skip
        c["show"] = gr.Radio(S.SHOW_CHOICES, value="all", label=S.SHOW_SEGMENTS, scale=3, elem_id="proj-show")
    with gr.Row():
        c["prev"] = gr.Button(S.PREVIOUS, size="sm", elem_id="proj-prev")
        c["page"] = gr.Number(1, label=S.PAGE_NUMBER, precision=0, minimum=1, elem_id="proj-page")
        c["pages"] = gr.Markdown(elem_id="proj-pages")
        c["next"] = gr.Button(S.NEXT, size="sm", elem_id="proj-next")
    c["table"] = gr.Dataframe(headers=S.SEGMENT_HEADERS, label=S.SEGMENTS_TABLE, interactive=False, wrap=True,
                              column_widths=["5%", "45%", "12%", "8%", "15%", "7%", "8%"], max_height=600,
                              elem_id="proj-table")  # fmt: skip
    segment_layout(c)
    with gr.Row():
        c["format"] = gr.Dropdown(list(EXPORT_FORMATS), value="m4b", label=S.EXPORT_FORMAT, elem_id="proj-format")
        c["words"] = gr.Checkbox(label=S.EXPORT_WORDS, value=False, visible=False, elem_id="proj-words")
        c["export_scope"] = gr.Radio(S.SCOPE_CHOICES, value="book", label=S.EXPORT_SCOPE,
                                     elem_id="proj-export-scope")  # fmt: skip
        c["export"] = gr.Button(S.EXPORT, elem_id="proj-export")
    c["export_file"] = gr.File(label=S.EXPORT_FILE, interactive=False, visible=False, elem_id="proj-export-file")
    c["export_msg"] = gr.Markdown(elem_id="proj-export-msg")
    return c


def thresholds_layout(c: dict) -> None:
    """The open project's check thresholds (``ui.project_thresholds``), the defaults until one is open."""
    d = CheckSettings()
    label = S.THRESHOLD_LABELS
    with gr.Accordion(S.CHECK_THRESHOLDS, open=False, elem_id="proj-thresholds"):
        with gr.Row():
            c["max_cer"] = gr.Number(d.max_cer, label=label["max_cer"], step=0.05, elem_id="proj-max-cer")
            c["min_rate"] = gr.Number(d.min_rate, label=label["min_rate"], elem_id="proj-min-rate")
            c["max_rate"] = gr.Number(d.max_rate, label=label["max_rate"], elem_id="proj-max-rate")
        with gr.Row():
            c["max_silence"] = gr.Number(d.max_silence, label=label["max_silence"], step=0.1,
                                         elem_id="proj-max-silence")  # fmt: skip
            c["max_takes"] = gr.Number(d.max_takes, label=label["max_takes"], elem_id="proj-max-takes")
            c["cut_off"] = gr.Checkbox(d.cut_off, label=label["cut_off"], elem_id="proj-cut-off")
        gr.Markdown(S.THRESHOLDS_HELP.format(**asdict(d)), elem_id="proj-thresholds-help")
        with gr.Row():
            c["reset_thresholds"] = gr.Button(S.RESET_THRESHOLDS, size="sm", scale=0, elem_id="proj-reset-thresholds")
            c["thresholds_msg"] = gr.Markdown(elem_id="proj-thresholds-msg")


def segment_layout(c: dict) -> None:
    """The chosen segment: text, voice, takes and players, and what can be done to it."""
    with gr.Column(variant="panel", elem_id="proj-segment"):
        c["seg_info"] = gr.Markdown(S.PICK_SEGMENT, elem_id="proj-seg-info")
        with gr.Row():
            with gr.Column(scale=3):
                c["seg_text"] = gr.Textbox(label=S.SEGMENT_TEXT, lines=3, elem_id="proj-seg-text")
                with gr.Row():
                    c["save_text"] = gr.Button(S.SAVE_TEXT, variant="primary", size="sm", elem_id="proj-save-text")
                    c["merge"] = gr.Button(S.MERGE_NEXT, size="sm", elem_id="proj-merge")
                    c["split"] = gr.Button(S.SPLIT_AT_BAR, size="sm", elem_id="proj-split")
                with gr.Row():
                    c["seg_voice"] = gr.Dropdown(label=S.SEGMENT_VOICE, choices=[], scale=3, elem_id="proj-seg-voice")
                    c["set_voice"] = gr.Button(S.SET_VOICE, size="sm", scale=1, elem_id="proj-set-voice")
            with gr.Column(scale=2):
                c["seg_audio"] = gr.Audio(label=S.ACCEPTED_TAKE, type="filepath", interactive=False,
                                          elem_id="proj-seg-audio")  # fmt: skip
                c["takes"] = gr.Radio([], label=S.TAKES, elem_id="proj-takes")
                c["take_audio"] = gr.Audio(label=S.TAKE_AUDIO, type="filepath", interactive=False,
                                           elem_id="proj-take-audio")  # fmt: skip
                with gr.Row():
                    c["use_take"] = gr.Button(S.USE_TAKE, size="sm", elem_id="proj-use-take")
                    c["mark_bad"] = gr.Button(S.MARK_BAD, size="sm", elem_id="proj-mark-bad")
                    c["regenerate"] = gr.Button(S.REGENERATE_ONE, size="sm", elem_id="proj-regenerate")
        c["seg_msg"] = gr.Markdown(elem_id="proj-seg-msg")
