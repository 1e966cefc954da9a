"""The components of each tab, laid out; no events here (``app.py`` wires them). Each returns {name: component}.

Stable ``elem_id``s (``gen-*``, ``voice-*``, ``hist-*``, ``set-*``) are part of the app's contract with the browser
tests and with anyone who styles it.
"""

from __future__ import annotations

from . import strings as S
from .generate import MAX_PLAYERS, preset_values
from .state import OFFLOADS, PRECISIONS, Settings

CSS = """
.tts-progress { font-size: 0.9em; }
.tts-stage { display: grid; grid-template-columns: 9em 1fr 3.5em; gap: 0.5em; align-items: center; }
.tts-stage progress { width: 100%; height: 0.8em; }
.tts-active span:first-child { font-weight: bold; }
.tts-error { border: 1px solid #dc2626; border-left-width: 4px; border-radius: 4px; padding: 0.5em 0.75em;
             background: #fef2f2; color: #7f1d1d; white-space: pre-wrap; overflow-wrap: anywhere; }
"""


def generate_tab(gr, settings: Settings) -> dict:
    from tortoise.options import PRESETS, SAMPLERS, VOCODERS

    c: dict = {}
    p = preset_values(settings.default_preset)
    c["banner"] = gr.Markdown(visible=False, elem_id="gen-missing")
    c["download"] = gr.Button(S.DOWNLOAD_MODELS, visible=False, variant="primary", elem_id="gen-download")
    c["download_msg"] = gr.Markdown(elem_id="gen-download-msg")
    with gr.Row():
        with gr.Column(scale=3):
            c["text"] = gr.Textbox(label=S.TEXT, placeholder=S.TEXT_PLACEHOLDER, lines=6, elem_id="gen-text")
            c["text_info"] = gr.Markdown(S.TEXT_EMPTY, elem_id="gen-text-info")
        with gr.Column(scale=2):
            with gr.Row():
                c["voices"] = gr.Dropdown(
                    label=S.VOICE, info=S.VOICE_HELP, multiselect=True, choices=[], scale=4, elem_id="gen-voice"
                )
            with gr.Row():
                c["refresh"] = gr.Button(S.REFRESH, size="sm", elem_id="gen-refresh")
                c["random"] = gr.Button(S.RANDOM_VOICE, size="sm", elem_id="gen-random")
            c["preset"] = gr.Dropdown(
                label=S.PRESET, info=S.PRESET_HELP, choices=list(PRESETS), value=settings.default_preset,
                elem_id="gen-preset",
            )  # fmt: skip
            c["candidates"] = gr.Slider(1, 4, value=1, step=1, label=S.CANDIDATES, info=S.CANDIDATES_HELP)
            with gr.Row():
                c["seed"] = gr.Number(
                    -1, label=S.SEED, info=S.SEED_HELP, precision=0, minimum=-1, elem_id="gen-seed", scale=3
                )
                c["reuse_seed"] = gr.Button(S.REUSE_SEED, size="sm", scale=1, elem_id="gen-reuse-seed")
    with gr.Accordion(S.ADVANCED, open=False, elem_id="gen-advanced"):
        with gr.Row():
            c["samples"] = gr.Number(label=S.SAMPLES, info=S.SAMPLES_HELP, value=p["samples"], precision=0,
                                     minimum=1, elem_id="gen-samples")  # fmt: skip
            c["sampler"] = gr.Dropdown(list(SAMPLERS), value=p["sampler"], label=S.SAMPLER, elem_id="gen-sampler")
            c["steps"] = gr.Number(label=S.STEPS, value=p["steps"], precision=0, minimum=2, elem_id="gen-steps")
            c["vocoder"] = gr.Dropdown(list(VOCODERS), value=p["vocoder"], label=S.VOCODER, elem_id="gen-vocoder")
        with gr.Row():
            c["temperature"] = gr.Slider(0.01, 2.0, value=p["temperature"], step=0.01, label=S.TEMPERATURE)
            c["top_p"] = gr.Slider(0.05, 1.0, value=p["top_p"], step=0.01, label=S.TOP_P)
            c["repetition_penalty"] = gr.Slider(1.0, 10.0, value=p["repetition_penalty"], step=0.1,
                                                label=S.REPETITION_PENALTY)  # fmt: skip
            c["cond_free_k"] = gr.Slider(0.0, 10.0, value=p["cond_free_k"], step=0.1, label=S.COND_FREE_K)
        with gr.Row():
            c["precision"] = gr.Dropdown([S.PRECISION_SETTINGS, *PRECISIONS], value=S.PRECISION_SETTINGS,
                                         label=S.PRECISION, info=S.PRECISION_HELP)  # fmt: skip
            c["voicefixer"] = gr.Checkbox(label=S.VOICEFIXER, value=False)
            c["regenerate"] = gr.Textbox(label=S.REGENERATE, info=S.REGENERATE_HELP, elem_id="gen-regenerate")
        c["redact"] = gr.Checkbox(label=S.REDACT, value=True, elem_id="gen-redact")
    with gr.Row():  # enabled by the page-load handler once the voices and saved settings are in place
        c["generate"] = gr.Button(S.GENERATE, variant="primary", elem_id="gen-go", interactive=False)
        c["stream"] = gr.Button(S.STREAM, elem_id="gen-stream", interactive=False)
        c["cancel"] = gr.Button(S.CANCEL, variant="stop", elem_id="gen-cancel")
    with gr.Group(visible=False, elem_id="gen-redaction") as c["redaction"]:  # shown when [brackets] cannot be cut
        c["redaction_msg"] = gr.Markdown(elem_id="gen-redaction-msg")
        with gr.Row():
            c["get_aligner"] = gr.Button(S.GET_ALIGNER, variant="primary", elem_id="gen-get-aligner")
            c["speak_all"] = gr.Button(S.SPEAK_ALL, elem_id="gen-speak-all")
    c["live"] = gr.Audio(label=S.LIVE, streaming=True, autoplay=True, interactive=False, elem_id="gen-live")
    c["status"] = gr.HTML(label=S.STATUS, elem_id="gen-status")
    c["combined"] = gr.Audio(label=S.COMBINED, type="filepath", interactive=False, elem_id="gen-combined")
    with gr.Row():
        c["players"] = [
            gr.Audio(type="filepath", interactive=False, visible=False, elem_id=f"gen-player-{i}")
            for i in range(MAX_PLAYERS)
        ]
    with gr.Row():
        c["timings"] = gr.Markdown(elem_id="gen-timings")
        c["files"] = gr.File(label=S.DOWNLOAD, file_count="multiple", interactive=False, visible=False)
    return c


def voices_tab(gr) -> dict:
    c: dict = {}
    with gr.Row():
        with gr.Column(scale=3):
            gr.Markdown(f"### {S.NEW_VOICE}\n{S.NEW_VOICE_HELP}")
            c["files"] = gr.File(label=S.UPLOAD, file_count="multiple", type="filepath", elem_id="voice-upload")
            c["mic"] = gr.Audio(label=S.RECORD, sources=["microphone"], type="numpy", elem_id="voice-mic")
            with gr.Accordion(S.PREP_OPTIONS, open=False):
                c["denoise"] = gr.Checkbox(label=S.DENOISE, value=True)
                c["denoise_strength"] = gr.Slider(0.0, 1.0, value=0.85, step=0.05, label=S.DENOISE_STRENGTH)
                c["highpass"] = gr.Checkbox(label=S.HIGHPASS, value=True)
                c["trim"] = gr.Checkbox(label=S.TRIM, value=True)
                c["normalize"] = gr.Checkbox(label=S.NORMALIZE, value=True)
                c["slice"] = gr.Checkbox(label=S.SLICE, value=True)
                c["keep_rejected"] = gr.Checkbox(label=S.KEEP_REJECTED, value=False)
            with gr.Row():
                c["which"] = gr.Dropdown(label=S.PREVIEW_WHICH, choices=[], scale=2)
                c["preview"] = gr.Button(S.PREVIEW, scale=1, elem_id="voice-preview")
            with gr.Row():
                c["before"] = gr.Audio(label=S.BEFORE, interactive=False, elem_id="voice-before")
                c["after"] = gr.Audio(label=S.AFTER, interactive=False, elem_id="voice-after")
            with gr.Row():
                c["name"] = gr.Textbox(label=S.VOICE_NAME, placeholder=S.VOICE_NAME_PLACEHOLDER, elem_id="voice-name")
                c["overwrite"] = gr.Checkbox(label=S.OVERWRITE, value=False)
            with gr.Row():
                c["check"] = gr.Button(S.CHECK, elem_id="voice-check")
                c["save"] = gr.Button(S.SAVE_VOICE, variant="primary", elem_id="voice-save")
            c["summary"] = gr.Markdown(elem_id="voice-summary")
            c["clips"] = gr.Dataframe(headers=S.CLIP_HEADERS, label=S.CLIPS_TABLE, interactive=False, wrap=True)
            with gr.Accordion(S.PREP_DETAILS, open=False):
                c["details"] = gr.Code(language=None, show_label=False)
        with gr.Column(scale=2):
            gr.Markdown(f"### {S.LIBRARY}")
            c["table"] = gr.Dataframe(headers=S.VOICE_HEADERS, interactive=False, elem_id="voice-table")
            c["refresh"] = gr.Button(S.REFRESH, size="sm", elem_id="voice-refresh")
            c["pick"] = gr.Dropdown(label=S.PICK_VOICE, choices=[], elem_id="voice-pick")
            c["listen"] = gr.Audio(label=S.LISTEN, interactive=False)
            with gr.Row():
                c["new_name"] = gr.Textbox(label=S.NEW_NAME, scale=2, elem_id="voice-new-name")
                c["rename"] = gr.Button(S.RENAME, scale=1, elem_id="voice-rename")
            with gr.Row():
                c["confirm"] = gr.Checkbox(label=S.CONFIRM_DELETE, value=False, elem_id="voice-confirm")
                c["delete"] = gr.Button(S.DELETE, variant="stop", elem_id="voice-delete")
            c["library_msg"] = gr.Markdown(elem_id="voice-library-msg")
    return c


def history_tab(gr) -> dict:
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


def settings_tab(gr, settings: Settings) -> dict:
    from tortoise.options import PRESETS

    c: dict = {}
    with gr.Row():
        with gr.Column():
            c["device"] = gr.Dropdown(label=S.DEVICE, info=S.DEVICE_HELP, choices=[settings.device],
                                      value=settings.device, allow_custom_value=True, elem_id="set-device")  # fmt: skip
            c["precision"] = gr.Radio(list(PRECISIONS), value=settings.precision, label=S.PRECISION,
                                      info=S.PRECISION_HELP, elem_id="set-precision")  # fmt: skip
            c["batch_size"] = gr.Number(label=S.BATCH_SIZE, value=settings.batch_size, precision=0, minimum=0)
            c["offload"] = gr.Radio(list(OFFLOADS), value=settings.offload, label=S.OFFLOAD, info=S.OFFLOAD_HELP)
            c["keep_models_loaded"] = gr.Checkbox(label=S.KEEP_LOADED, value=settings.keep_models_loaded)
            c["preset"] = gr.Dropdown(list(PRESETS), value=settings.default_preset, label=S.DEFAULT_PRESET,
                                      elem_id="set-preset")  # fmt: skip
            c["output_dir"] = gr.Textbox(label=S.OUTPUT_DIR, value=settings.output_dir, elem_id="set-output",
                                         info=S.OUTPUT_DIR_HELP.format(default=_default_output()))  # fmt: skip
            with gr.Row():
                c["save"] = gr.Button(S.SAVE_SETTINGS, variant="primary", elem_id="set-save")
                c["unload"] = gr.Button(S.UNLOAD, elem_id="set-unload")
            c["message"] = gr.Markdown(elem_id="set-message")
        with gr.Column():
            c["models_dir"] = gr.Textbox(label=S.MODELS_DIR, value=settings.models_dir, elem_id="set-models",
                                         info=S.MODELS_DIR_HELP.format(default=_default_models()))  # fmt: skip
            c["models"] = gr.Dataframe(headers=S.MODEL_HEADERS, label=S.MODELS_TABLE, interactive=False,
                                       elem_id="set-models-table")  # fmt: skip
            c["download"] = gr.Button(S.DOWNLOAD_MISSING, elem_id="set-download")
            with gr.Row():
                c["import_dir"] = gr.Textbox(label=S.IMPORT_FROM, scale=3)
                c["import"] = gr.Button(S.IMPORT, scale=1)
            c["models_msg"] = gr.Markdown(elem_id="set-models-msg")
    with gr.Accordion(S.DOCTOR, open=False):
        c["doctor"] = gr.Code(language=None, show_label=False, elem_id="set-doctor")
        c["run_doctor"] = gr.Button(S.RUN_DOCTOR, size="sm")
    return c


def _default_output() -> str:
    from .state import default_output_dir

    return str(default_output_dir())


def _default_models() -> str:
    from tortoise.weights import resolve_models_dir

    return str(resolve_models_dir(None))
