"""The Generate tab: text, voice and settings in; progress, players and files out. The work is ``ui.generate``.

Decisions:
* One generation per browser tab: Generate shows "Generating..." and stays disabled until the tab's job has ended,
  and the engine refuses a second one meanwhile (a second click used to cancel the first).
* Generate and "Listen as it is made" are enabled by the page load, once the voices and saved settings are in place
  (fields edited before then would be overwritten by it).
* This module does not use ``from __future__ import annotations``: Gradio reads ``gr.Request`` annotations at run
  time to pass the browser tab's session (used to cancel that tab's job).
"""

import random

import gradio as gr

from tortoise.options import PRESETS, SAMPLERS, VOCODERS
from tortoise.speed import MAX_SPEED, MIN_SPEED

from . import alerts, generate, live, settings_tab, voices_tab
from . import strings as S
from .engine import Engine
from .export import FORMATS
from .generate import MAX_PLAYERS, preset_values
from .page import GPU, LIGHT, Shared
from .stages import stage_html
from .state import PRECISIONS

# the advanced fields a preset fills
ADVANCED = ("samples", "sampler", "steps", "temperature", "top_p", "repetition_penalty", "cond_free_k", "vocoder")


def layout(preset: str) -> dict:
    """The tab's components by name (stable ``gen-*`` element ids: the browser tests find them by these)."""
    c: dict = {"last": gr.State(None)}  # the tab's last result: "reuse last seed", regenerating segments
    p = preset_values(preset)
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
                label=S.PRESET, info=S.PRESET_HELP, choices=list(PRESETS), value=preset, elem_id="gen-preset"
            )
            c["candidates"] = gr.Slider(1, 4, value=1, step=1, label=S.CANDIDATES, info=S.CANDIDATES_HELP)
            with gr.Row():
                c["seed"] = gr.Number(
                    -1, label=S.SEED, info=S.SEED_HELP, precision=0, minimum=-1, elem_id="gen-seed", scale=3
                )
                c["reuse_seed"] = gr.Button(S.REUSE_SEED, size="sm", scale=1, elem_id="gen-reuse-seed")
            with gr.Row():  # the result file: as the CLI's --format / --speed
                c["format"] = gr.Dropdown(list(FORMATS), value="wav", label=S.FORMAT, info=S.FORMAT_HELP,
                                          elem_id="gen-format")  # fmt: skip
                c["speed"] = gr.Slider(MIN_SPEED, MAX_SPEED, value=1.0, step=0.05, label=S.SPEED, info=S.SPEED_HELP,
                                       elem_id="gen-speed")  # fmt: skip
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


class GenerateTab:
    """The Generate tab (``ui.page`` describes the contract)."""

    def __init__(self, engine: Engine, shared: Shared):
        self.engine, self.shared = engine, shared
        with gr.Tab(S.TAB_GENERATE, id="generate"):
            self.c = c = layout(shared.settings.default_preset)
        self.fields = [c[name] for name in generate.FIELDS]
        self.advanced = [c[k] for k in ADVANCED]
        shared.voices.add([c["voices"]], self.voice_list)
        shared.models.add([c["banner"], c["download"]], self.missing_models)
        shared.saved.add([c["preset"], *self.advanced], self.saved_preset)
        shared.reuse.add([*self.fields, shared.tabs], self.fill)
        shared.load.add([c["voices"], c["generate"], c["stream"]], self.loaded)

    # ---- what other events refresh ----------------------------------------------------------------------------
    def voice_list(self) -> dict:
        return {self.c["voices"]: gr.update(choices=voices_tab.voice_choices(self.engine, with_random=True))}

    def missing_models(self) -> dict:
        banner = settings_tab.missing_banner(self.engine)
        return {
            self.c["banner"]: gr.update(value=banner, visible=bool(banner)),
            self.c["download"]: gr.update(visible=bool(banner)),
        }

    def saved_preset(self) -> dict:
        """The saved default preset and its advanced fields (a reload shows what was saved)."""
        preset = self.engine.settings.default_preset
        return {self.c["preset"]: preset, **dict(zip(self.advanced, self.on_preset(preset)))}

    def fill(self, values: dict) -> dict:
        """The fields named in ``values`` set to them, and this tab shown (History's "reuse these settings")."""
        out = {self.c[name]: values[name] for name in generate.FIELDS if name in values}
        return {**out, self.shared.tabs: gr.Tabs(selected="generate")}

    def loaded(self) -> dict:
        names = voices_tab.voice_choices(self.engine)
        ready = gr.update(interactive=True)  # the form now holds what a generation needs
        voices = gr.update(choices=[*names, "random"], value=names[:1])  # a voice ready to go
        return {self.c["voices"]: voices, self.c["generate"]: ready, self.c["stream"]: ready}

    def on_text(self, text: str) -> str:
        return generate.text_info(text, self.engine.settings.splitter)

    # ---- events -------------------------------------------------------------------------------------------------
    def wire(self) -> None:
        c, shared = self.c, self.shared
        c["text"].change(self.on_text, c["text"], c["text_info"], trigger_mode="always_last", **LIGHT)
        # .input, not .change: "reuse these settings" sets the preset too and must not reset the fields it fills
        c["preset"].input(self.on_preset, c["preset"], self.advanced, **LIGHT)
        c["refresh"].click(shared.voices, outputs=shared.voices.outputs, **LIGHT)
        c["random"].click(alerts.shown(c["status"])(self.on_random), outputs=[c["voices"], c["status"]], **LIGHT)
        c["reuse_seed"].click(self.on_reuse_seed, c["last"], c["seed"], **LIGHT)

        self.generation(c["generate"].click(self.on_submit, outputs=c["generate"], **LIGHT), api_name="generate")
        # the choices offered when [bracketed] text cannot be cut
        no_cut = c["speak_all"].click(lambda: (False, gr.update(visible=False)), outputs=[c["redact"], c["redaction"]],
                                      **LIGHT)  # fmt: skip
        self.generation(no_cut.then(self.on_submit, outputs=c["generate"], **LIGHT), api_visibility="private")
        aligner = [c["redaction_msg"], c["get_aligner"]]
        c["get_aligner"].click(alerts.shown(c["redaction_msg"])(self.on_get_aligner), outputs=aligner,
                               api_visibility="private", **GPU)  # fmt: skip
        c["stream"].click(
            self.on_stream, inputs=self.inputs, outputs=[c["live"], c["status"]], api_name="stream", **GPU
        )
        c["cancel"].click(self.on_cancel, outputs=c["status"], **LIGHT)
        on_download = settings_tab.downloader(self.engine, shared.models, c["download_msg"])
        c["download"].click(on_download, outputs=[*shared.models.outputs, c["download_msg"]], api_visibility="private",
                            **GPU)  # fmt: skip

    @property
    def inputs(self) -> set:
        return {*self.fields, self.c["last"]}

    @property
    def outputs(self) -> list:
        """What a generation updates."""
        c = self.c
        shown = [c["status"], c["combined"], c["files"], c["timings"], c["last"], *c["players"]]
        return [*shown, c["redaction"], c["redaction_msg"], c["get_aligner"]]

    def generation(self, submitted, **api) -> None:
        """``submitted`` (an event that ran ``on_submit``) -> the generation, then Generate is pressable again."""
        done = submitted.success(self.on_generate, inputs=self.inputs, outputs=self.outputs, **api, **GPU)
        done.then(lambda: gr.update(interactive=True, value=S.GENERATE), outputs=self.c["generate"], **LIGHT)

    def on_preset(self, name: str) -> list:
        values = preset_values(name)
        return [values[k] for k in ADVANCED]

    def on_random(self) -> dict:
        names = voices_tab.voice_choices(self.engine)
        if not names:
            raise gr.Error(S.NO_VOICES_YET)
        return {self.c["voices"]: [random.choice(names)]}

    def on_reuse_seed(self, state):
        if not state or state.get("seed") is None:
            gr.Warning(S.NO_LAST_SEED)
            return gr.update()
        return state["seed"]

    def on_submit(self, request: gr.Request):
        # at the click, before the generation's turn in the device queue; one job per tab: a second click while it
        # waits or runs is refused, never queued over it or cancelling it
        if self.engine.submit(request.session_hash) is None:
            raise gr.Error(S.ALREADY_RUNNING)
        return gr.update(interactive=False, value=S.GENERATING)  # until this generation has ended

    def on_generate(self, data: dict, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        c = self.c
        values = {name: data[c[name]] for name in generate.FIELDS}
        hide = {c["redaction"]: gr.update(visible=False)}  # an earlier choice box goes with the first update
        try:
            for update in generate.stream(self.engine, values, data[c["last"]], request.session_hash, progress):
                yield {**hide, **self.display(update)}
                hide = {}
        except Exception as e:  # on the page, in the progress area, until the next generation
            yield {**hide, c["status"]: alerts.error_html(e)}

    def display(self, update: dict) -> dict:
        """``generate.stream``'s update (by name) -> component updates."""
        c, out = self.c, {}
        for key, value in update.items():
            if key == "players":
                for comp, (label, path) in zip(c["players"], value):
                    out[comp] = gr.update(value=path, label=label or None, visible=path is not None)
            elif key == "files":
                out[c["files"]] = gr.update(value=value, visible=bool(value))
            elif key == "redaction":  # the [brackets] cannot be cut: the choices, nothing started
                out[c["redaction"]] = gr.update(visible=True)
                out[c["redaction_msg"]] = value[0]
                out[c["get_aligner"]] = gr.update(visible=value[1])
            else:  # status, combined, timings, last
                out[c[key]] = value
        return out

    def on_get_aligner(self, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (the hub's download bars)
        return {self.c["redaction_msg"]: generate.download_aligner(), self.c["get_aligner"]: gr.update(visible=False)}

    def on_stream(self, data: dict):
        values = {name: data[self.c[name]] for name in generate.FIELDS}
        try:
            for chunk in live.stream_fast(self.engine, values):
                yield {self.c["live"]: chunk}
        except Exception as e:
            yield {self.c["status"]: alerts.error_html(e)}

    def on_cancel(self, request: gr.Request):
        # the pipeline stops at its next progress report; a model still loading can take a while on a busy machine,
        # so say "cancelling" at once and report what was kept once it really stopped. The generation event is not
        # cancelled by Gradio (its last progress update could then land after this report): it ends itself with the
        # same "Cancelled" status, and a job still queued ends at once when its turn comes
        job = self.engine.cancel(request.session_hash)
        if job is not None and not job.finished.is_set():
            yield stage_html(None, S.CANCEL_REQUESTED)
        yield generate.cancel(self.engine, request.session_hash, wait=120, job=job)
