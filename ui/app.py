"""``build_app(engine, settings)``: the tabs (``ui.layout``) wired to the handlers. No model is loaded here.

Decisions:
* Handlers live in ``generate``/``voices_tab``/``history``/``settings_tab`` and take plain values; the small
  functions here only translate between components and those values, and errors into a message on the tab where
  the user acted (``ui.alerts``: a toast fades, and Gradio shows no reason for an unexpected error).
* One generation per tab: Generate shows "Generating..." and stays disabled until the tab's job has ended, and the
  engine refuses a second one meanwhile (a second click used to cancel the first).
* This module does not use ``from __future__ import annotations``: Gradio reads ``gr.Request`` annotations at run
  time to pass the browser tab's session (used to cancel that tab's job).
* Device work (generate, saving a voice, the device check, downloads) shares ``concurrency_id="gpu"`` with a limit of
  1: one job at a time, and Gradio shows the others their place in the queue. Light events run unlimited.
* Everything that depends on disk (voices, models, history, the doctor report) is filled on page load, so a reload
  shows the current state.
"""

import random

from . import alerts, generate, history, layout, settings_tab, voices_tab
from . import strings as S
from .engine import Engine
from .state import Settings

GPU = {"concurrency_id": "gpu", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}


def build_app(engine: Engine, settings: Settings | None = None):
    """Lay out and wire the app for ``engine``. Returns a ``gr.Blocks``; start it with ``queue().launch()``."""
    import gradio as gr

    settings = settings or engine.settings
    with gr.Blocks(title=S.TITLE) as app:
        gr.Markdown(S.HEADER)
        last = gr.State(None)
        with gr.Tabs() as tabs:
            with gr.Tab(S.TAB_GENERATE, id="generate"):
                g = layout.generate_tab(gr, settings)
            with gr.Tab(S.TAB_VOICES, id="voices"):
                v = layout.voices_tab(gr)
            with gr.Tab(S.TAB_HISTORY, id="history") as history_tab:
                h = layout.history_tab(gr)
            with gr.Tab(S.TAB_SETTINGS, id="settings"):
                s = layout.settings_tab(gr, settings)

        # ---- shared refreshers ------------------------------------------------------------------------------------
        def voice_lists():
            names = voices_tab.voice_choices(engine)
            return {
                g["voices"]: gr.update(choices=[*names, "random"]),
                v["table"]: voices_tab.voice_rows(engine),
                v["pick"]: gr.update(choices=names),
            }

        def model_state():
            banner = settings_tab.missing_banner(engine)
            return {
                g["banner"]: gr.update(value=banner, visible=bool(banner)),
                g["download"]: gr.update(visible=bool(banner)),
                s["models"]: settings_tab.model_rows(engine),
            }

        def history_lists():
            entries = engine.history().entries()
            return {h["table"]: history.rows(entries), h["pick"]: gr.update(choices=history.choices(entries))}

        voice_outputs = [g["voices"], v["table"], v["pick"]]
        model_outputs = [g["banner"], g["download"], s["models"]]
        history_outputs = [h["table"], h["pick"]]

        adv = ["samples", "sampler", "steps", "temperature", "top_p", "repetition_penalty", "cond_free_k", "vocoder"]
        adv_outputs = [g[k] for k in adv]
        form_outputs = [s[k] for k in settings_tab.FIELDS]

        def current_settings():
            """Generate's preset and the Settings form as saved (a reload shows what was saved)."""
            preset = engine.settings.default_preset
            out = {g["preset"]: preset, **dict(zip(adv_outputs, on_preset(preset)))}
            form = settings_tab.form_values(engine.settings)
            form["device"] = gr.update(choices=settings_tab.device_choices(form["device"]), value=form["device"])
            return {**out, **{s[k]: form[k] for k in settings_tab.FIELDS}}

        def on_load():
            voices = voice_lists()
            names = voices_tab.voice_choices(engine)
            voices[g["voices"]] = gr.update(choices=[*names, "random"], value=names[:1])  # a voice ready to go
            ready = gr.update(interactive=True)  # the form now holds what a generation needs
            return {**current_settings(), **voices, **model_state(), **history_lists(), g["generate"]: ready,
                    g["stream"]: ready}  # fmt: skip

        buttons = [g["generate"], g["stream"]]
        load_outputs = [*voice_outputs, *model_outputs, *history_outputs, g["preset"], *adv_outputs, *buttons]
        app.load(on_load, outputs=[*load_outputs, *form_outputs], **LIGHT)
        # separately: the report takes a second the first time, and the form must not wait for it
        app.load(lambda: settings_tab.doctor_text(engine, smoke=False), outputs=s["doctor"], **LIGHT)

        # ---- Generate ---------------------------------------------------------------------------------------------
        g["text"].change(generate.text_info, g["text"], g["text_info"], trigger_mode="always_last", **LIGHT)

        def on_preset(name):
            values = generate.preset_values(name)
            return [values[k] for k in adv]

        # .input, not .change: "reuse these settings" sets the preset too and must not reset the fields it fills
        g["preset"].input(on_preset, g["preset"], [g[k] for k in adv], **LIGHT)
        g["refresh"].click(voice_lists, outputs=voice_outputs, **LIGHT)

        @alerts.shown(g["status"])
        def on_random():
            names = voices_tab.voice_choices(engine)
            if not names:
                raise gr.Error("there are no voices yet; make one in the Voices tab")
            return {g["voices"]: [random.choice(names)]}

        g["random"].click(on_random, outputs=[g["voices"], g["status"]], **LIGHT)

        def on_reuse_seed(state):
            if not state or state.get("seed") is None:
                gr.Warning(S.NO_LAST_SEED)
                return gr.update()
            return state["seed"]

        g["reuse_seed"].click(on_reuse_seed, last, g["seed"], **LIGHT)
        gen_inputs = {g[name] for name in generate.FIELDS} | {last}
        named = {"status": g["status"], "combined": g["combined"], "files": g["files"], "timings": g["timings"]}
        named["last"] = last

        def display(update: dict) -> dict:
            out = {}
            for key, value in update.items():
                if key == "players":
                    for comp, (label, path) in zip(g["players"], value):
                        out[comp] = gr.update(value=path, label=label or None, visible=path is not None)
                elif key == "files":
                    out[g["files"]] = gr.update(value=value, visible=bool(value))
                elif key == "redaction":  # the [brackets] cannot be cut: the choices, nothing started
                    out[g["redaction"]] = gr.update(visible=True)
                    out[g["redaction_msg"]] = value[0]
                    out[g["get_aligner"]] = gr.update(visible=value[1])
                else:
                    out[named[key]] = value
            return out

        def on_generate(data: dict, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
            values = {name: data[g[name]] for name in generate.FIELDS}
            hide = {g["redaction"]: gr.update(visible=False)}  # an earlier choice box goes with the first update
            try:
                for update in generate.stream(engine, values, data[last], request.session_hash, progress):
                    yield {**hide, **display(update)}
                    hide = {}
            except Exception as e:  # on the page, in the progress area, until the next generation
                yield {**hide, g["status"]: alerts.error_html(e)}

        def on_submit(request: gr.Request):
            # at the click, before the generation's turn in the device queue; one job per tab: a second click
            # while it waits or runs is refused, never queued over it or cancelling it
            if engine.submit(request.session_hash) is None:
                raise gr.Error(S.ALREADY_RUNNING)
            return gr.update(interactive=False, value=S.GENERATING)  # until this generation has ended

        gen_outputs = [*named.values(), *g["players"], g["redaction"], g["redaction_msg"], g["get_aligner"]]

        def generation(submitted, **api):
            """``submitted`` (an event that ran ``on_submit``) -> the generation, then Generate is pressable again."""
            done = submitted.success(on_generate, inputs=gen_inputs, outputs=gen_outputs, **api, **GPU)
            done.then(lambda: gr.update(interactive=True, value=S.GENERATE), outputs=g["generate"], **LIGHT)

        generation(g["generate"].click(on_submit, outputs=g["generate"], **LIGHT), api_name="generate")
        # the choices offered when [bracketed] text cannot be cut
        no_cut = g["speak_all"].click(lambda: (False, gr.update(visible=False)), outputs=[g["redact"], g["redaction"]],
                                      **LIGHT)  # fmt: skip
        generation(no_cut.then(on_submit, outputs=g["generate"], **LIGHT), api_visibility="private")

        @alerts.shown(g["redaction_msg"])
        def on_get_aligner(progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (the hub's download bars)
            return {g["redaction_msg"]: generate.download_aligner(), g["get_aligner"]: gr.update(visible=False)}

        g["get_aligner"].click(on_get_aligner, outputs=[g["redaction_msg"], g["get_aligner"]],
                               api_visibility="private", **GPU)  # fmt: skip

        def on_stream(data):
            values = {name: data[g[name]] for name in generate.FIELDS}
            try:
                for chunk in generate.stream_fast(engine, values):
                    yield {g["live"]: chunk}
            except Exception as e:
                yield {g["status"]: alerts.error_html(e)}

        g["stream"].click(on_stream, inputs=gen_inputs, outputs=[g["live"], g["status"]], api_name="stream", **GPU)

        def on_cancel(request: gr.Request):
            # the pipeline stops at its next progress report; a model still loading can take a while on a busy
            # machine, so say "cancelling" at once and report what was kept once it really stopped. The generation
            # event is not cancelled by Gradio (its last progress update could then land after this report): it
            # ends itself with the same "Cancelled" status, and a job still queued ends at once when its turn comes
            job = engine.cancel(request.session_hash)
            if job is not None and not job.finished.is_set():
                yield generate.stage_html(None, S.CANCEL_REQUESTED)
            yield generate.cancel(engine, request.session_hash, wait=120, job=job)

        g["cancel"].click(on_cancel, outputs=g["status"], **LIGHT)

        def downloader(msg):
            """The download handler of a button whose tab shows its message (or its error) in ``msg``."""

            def on_download(progress=gr.Progress()):  # noqa: B008
                try:
                    message = settings_tab.download_missing(engine, progress)
                except Exception as e:  # what finished stays: the model list is refreshed either way
                    return {**model_state(), msg: alerts.error_html(e)}
                return {**model_state(), msg: message}

            return on_download

        for button, msg in ((g["download"], g["download_msg"]), (s["download"], s["models_msg"])):
            button.click(downloader(msg), outputs=[*model_outputs, msg], api_visibility="private", **GPU)

        # ---- Voices -----------------------------------------------------------------------------------------------
        prep_inputs = {v[k] for k in voices_tab.PREP_FIELDS} | {v["files"], v["mic"], v["name"], v["overwrite"]}

        def on_sources(files, mic):
            names = voices_tab.source_names(files, mic)
            return gr.update(choices=names, value=names[0] if names else None)

        for comp in (v["files"], v["mic"]):
            comp.change(on_sources, [v["files"], v["mic"]], v["which"], **LIGHT)

        # errors: the new-voice column's in its summary, the library column's in its message line
        @alerts.shown(v["summary"])
        def on_preview(data: dict):
            values = {k: data[v[k]] for k in voices_tab.PREP_FIELDS}
            before, after = voices_tab.preview(data[v["files"]], data[v["mic"]], data[v["which"]], values)
            return {v["before"]: before, v["after"]: after, v["summary"]: ""}

        preview_outputs = [v["before"], v["after"], v["summary"]]
        v["preview"].click(on_preview, prep_inputs | {v["which"]}, preview_outputs, api_visibility="private")

        def prepare(data: dict, save: bool, progress):
            values = {k: data[v[k]] for k in voices_tab.PREP_FIELDS}
            summary, rows, details, _ = voices_tab.prepare(
                engine, data[v["files"]], data[v["mic"]], data[v["name"]], values,
                save=save, overwrite=bool(data[v["overwrite"]]), progress=progress,
            )  # fmt: skip
            out = {v["summary"]: summary, v["clips"]: rows, v["details"]: details}
            return {**out, **voice_lists()} if save else out

        @alerts.shown(v["summary"])
        def on_check(data: dict, progress=gr.Progress()):  # noqa: B008
            return prepare(data, False, progress)

        @alerts.shown(v["summary"])
        def on_save(data: dict, progress=gr.Progress()):  # noqa: B008
            return prepare(data, True, progress)

        prep_outputs = [v["summary"], v["clips"], v["details"]]
        v["check"].click(on_check, prep_inputs, prep_outputs, api_visibility="private")
        v["save"].click(on_save, prep_inputs, [*prep_outputs, *voice_outputs], api_name="prepare_voice", **GPU)
        v["refresh"].click(voice_lists, outputs=voice_outputs, **LIGHT)

        @alerts.shown(v["library_msg"])
        def on_pick(name):
            return {v["listen"]: voices_tab.first_clip(engine, name), v["new_name"]: name or "", v["library_msg"]: ""}

        v["pick"].change(on_pick, v["pick"], [v["listen"], v["new_name"], v["library_msg"]], **LIGHT)

        @alerts.shown(v["library_msg"])
        def on_rename(old, new):
            if not old:
                raise gr.Error(S.NO_VOICE)
            name = voices_tab.rename(engine, old, new)
            return {**voice_lists(), v["library_msg"]: S.RENAMED.format(old=old, new=name), v["pick"]: name}

        v["rename"].click(on_rename, [v["pick"], v["new_name"]], [*voice_outputs, v["library_msg"]], **LIGHT)

        @alerts.shown(v["library_msg"])
        def on_delete(name, confirmed):
            if not name:
                raise gr.Error(S.NO_VOICE)
            if not confirmed:
                raise gr.Error(S.DELETE_CONFIRM_FIRST)
            voices_tab.delete(engine, name)
            lists = voice_lists()
            lists[v["pick"]] = gr.update(choices=lists[v["pick"]]["choices"], value=None)
            return {**lists, v["library_msg"]: S.DELETED.format(name=name), v["confirm"]: False}

        v["delete"].click(
            on_delete, [v["pick"], v["confirm"]], [*voice_outputs, v["library_msg"], v["confirm"]], **LIGHT
        )

        # ---- History ----------------------------------------------------------------------------------------------
        history_tab.select(history_lists, outputs=history_outputs, **LIGHT)
        h["refresh"].click(history_lists, outputs=history_outputs, **LIGHT)

        def on_history_pick(entry_id):
            entry = engine.history().get(entry_id) if entry_id else None
            if entry is None:
                return None, S.HISTORY_EMPTY
            audio = entry.combined or (entry.files[0] if entry.files else None)
            return audio, history.details_markdown(entry)

        h["pick"].change(on_history_pick, h["pick"], [h["audio"], h["details"]], **LIGHT)
        gen_fields = [g[name] for name in generate.FIELDS]

        def fill_generate(values: dict):
            out = {g[name]: values[name] for name in generate.FIELDS if name in values}
            gr.Info(S.REUSED)
            return {**out, tabs: gr.Tabs(selected="generate")}

        @alerts.shown(h["details"])
        def on_reuse(entry_id):
            entry = engine.history().get(entry_id) if entry_id else None
            if entry is None:
                raise gr.Error("pick a generation first")
            e = entry
            return fill_generate(generate.reuse_values(e.text, e.voice, e.preset, e.options, e.seed))

        h["reuse"].click(on_reuse, h["pick"], [*gen_fields, tabs, h["details"]], **LIGHT)

        @alerts.shown(h["details"])
        def on_from_file(path):
            if not path:
                return {}
            values = history.reuse_from_file(path)
            if values is None:
                raise gr.Error(S.NO_SETTINGS_IN_FILE)
            return fill_generate(generate.reuse_values(**values))

        h["from_file"].upload(on_from_file, h["from_file"], [*gen_fields, tabs, h["details"]], **LIGHT)

        # ---- Settings ---------------------------------------------------------------------------------------------
        set_inputs = {s[k] for k in settings_tab.FIELDS}

        @alerts.shown(s["message"])
        def on_save_settings(data: dict):
            message = settings_tab.save(engine, {k: data[s[k]] for k in settings_tab.FIELDS})
            out = engine.settings.resolved_output_dir()
            if hasattr(app, "allowed_paths") and str(out) not in app.allowed_paths:
                app.allowed_paths.append(str(out))  # a new output folder must be servable without a restart
            return {**model_state(), **current_settings(), s["message"]: message}

        s["save"].click(
            on_save_settings, set_inputs, [*model_outputs, s["message"], g["preset"], *adv_outputs, *form_outputs],
            api_name="save_settings",
            concurrency_limit=None,
        )  # fmt: skip

        def on_unload():
            engine.free(unload=True)
            return S.UNLOADED

        s["unload"].click(on_unload, outputs=s["message"], api_visibility="private", **GPU)
        s["run_doctor"].click(
            lambda: settings_tab.doctor_text(engine, smoke=True), outputs=s["doctor"], api_name="doctor", **GPU
        )

        @alerts.shown(s["models_msg"])
        def on_import(folder):
            message = settings_tab.import_models(engine, folder)
            return {**model_state(), s["models_msg"]: message}

        s["import"].click(on_import, s["import_dir"], [*model_outputs, s["models_msg"]], api_visibility="private")
    return app


def launch_options(engine: Engine) -> dict:
    """Theme, CSS and served folders for ``app.launch`` (Gradio 6 takes them there, not in ``Blocks``)."""
    import gradio as gr

    s = engine.settings
    served = [s.resolved_output_dir(), engine.library().user_dir, *(engine.library().dirs)]
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {
        "theme": theme,
        "css": layout.CSS,
        "allowed_paths": sorted({str(p.expanduser().resolve()) for p in served}),
        "max_file_size": max_upload(),
    }


def max_upload() -> str:
    """Largest upload Gradio accepts (``$TORTOISE_MAX_UPLOAD_MB``, default 200 MB: an hour of 16-bit mono 48 kHz
    audio is ~350 MB as WAV but far less as m4a/mp3; longer recordings are refused by the loader anyway)."""
    import os

    mb = os.environ.get("TORTOISE_MAX_UPLOAD_MB", "200")
    if not mb.isdigit() or int(mb) < 1:
        raise ValueError(f"TORTOISE_MAX_UPLOAD_MB={mb!r} must be a whole number of megabytes >= 1")
    return f"{int(mb)}mb"
