"""The Settings tab: device (with what ``doctor`` found), precision, batch size, offload, models, output folder,
preset. The work on plain values first, then the tab (layout and events).

Decisions:
* Saving writes the user config file and hands the new settings to the ``Engine`` at once: the output folder and
  default preset apply immediately; device/precision/models changes drop the current pipeline and the next job
  builds the new one (no restart).
* Model downloads report bytes through ``gr.Progress``; a failure names the file and what to do (the library's
  message), and whatever finished stays.
"""

from __future__ import annotations

import dataclasses

import gradio as gr

from tortoise import devices, doctor, weights
from tortoise.errors import InvalidInputError
from tortoise.options import PRESETS
from tortoise.text import SPLITTERS

from . import alerts
from . import strings as S
from .engine import Engine
from .page import GPU, LIGHT, Refresh, Shared
from .state import OFFLOADS, PRECISIONS, Settings, default_output_dir

FIELDS = (
    "device", "precision", "batch_size", "offload", "keep_models_loaded", "models_dir", "output_dir", "preset",
    "splitter",
)  # fmt: skip


def device_choices(current: str = "auto") -> list[str]:
    names = ["auto", *(str(d) for d in devices.available())]
    if current and current not in names:
        names.append(current)
    return names


def doctor_text(engine: Engine, *, smoke: bool) -> str:
    return doctor.run(engine.settings.device_preference, smoke=smoke).text()


def model_rows(engine: Engine) -> list[list]:
    rows = []
    for st in weights.status(engine.settings.resolved_models_dir()):
        cp = st.checkpoint
        size = f"{(st.size or cp.size) / 1e6:.0f}"
        rows.append([cp.name, st.state, size, "yes" if cp.required else "", cp.purpose])
    return rows


def missing_banner(engine: Engine) -> str:
    """The Generate tab's explanation of missing models ("" when nothing is missing)."""
    missing = engine.missing_models()
    if not missing:
        return ""
    names = ", ".join(st.checkpoint.filename for st in missing)
    size = sum(st.checkpoint.size for st in missing) / 1e9
    return S.MISSING_MODELS.format(names=names, folder=engine.settings.resolved_models_dir(), size=size)


def download_missing(engine: Engine, progress=None) -> str:
    """Download every missing required checkpoint into the models folder."""
    missing = [st.name for st in engine.missing_models()]
    if not missing:
        return S.NOTHING_MISSING

    def report(name: str, done: int, total: int | None) -> None:
        if progress is not None:
            frac = done / total if total else None
            progress(frac, desc=f"{name}: {done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else ""))

    with engine.gpu():  # not the device, but one big job at a time keeps the disk and network sane
        paths = weights.download(missing, engine.settings.resolved_models_dir(), progress=report)
    return S.DOWNLOADED.format(names=", ".join(p.name for p in paths))


def import_models(engine: Engine, folder: str) -> str:
    if not (folder or "").strip():
        raise InvalidInputError("type the folder that holds the model files (.pth) first")
    checks = weights.import_folder(folder.strip(), engine.settings.resolved_models_dir())
    if not checks:
        return f"No model files found in {folder}."
    return "\n".join(f"- {c.message()}" for c in checks)


def from_values(engine: Engine, values: dict) -> Settings:
    """Form values -> ``Settings`` (fields the form does not show keep their current values)."""
    batch = values.get("batch_size")
    try:
        batch = int(batch or 0)
    except (TypeError, ValueError):
        raise InvalidInputError(f"batch size {batch!r} must be a whole number (0 = automatic)") from None
    return dataclasses.replace(
        engine.settings,
        device=(values.get("device") or "auto").strip(),
        precision=values.get("precision") or "auto",
        batch_size=batch,
        offload=values.get("offload") or "auto",
        keep_models_loaded=bool(values.get("keep_models_loaded", True)),
        models_dir=(values.get("models_dir") or "").strip(),
        output_dir=(values.get("output_dir") or "").strip(),
        default_preset=values.get("preset") or "fast",
        splitter=values.get("splitter") or "ours",
    ).checked()


def save(engine: Engine, values: dict) -> str:
    new = from_values(engine, values)
    path, changed = engine.apply(new)
    return S.SETTINGS_SAVED.format(path=path, applied=S.APPLIED_NEXT_JOB if changed else S.APPLIED_NOW)


def form_values(settings: Settings) -> dict:
    """The form's values for ``settings`` (by ``FIELDS`` name)."""
    return {
        "device": settings.device,
        "precision": settings.precision,
        "batch_size": settings.batch_size,
        "offload": settings.offload,
        "keep_models_loaded": settings.keep_models_loaded,
        "models_dir": settings.models_dir,
        "output_dir": settings.output_dir,
        "preset": settings.default_preset,
        "splitter": settings.splitter,
    }


def downloader(engine: Engine, models: Refresh, msg):
    """The handler of a "download the missing models" button whose tab shows its message (or its error) in ``msg``;
    the model lists (``models``) are refreshed either way, since what finished stays."""

    def on_download(progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        try:
            message = download_missing(engine, progress)
        except Exception as e:
            return {**models(), msg: alerts.error_html(e)}
        return {**models(), msg: message}

    return on_download


# ---- the tab ------------------------------------------------------------------------------------------------------
def layout(settings: Settings) -> dict:
    """The tab's components by name (stable ``set-*`` element ids: the browser tests find them by these)."""
    c: dict = {}
    default_output, default_models = default_output_dir(), weights.resolve_models_dir(None)
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
            c["splitter"] = gr.Radio(list(SPLITTERS), value=settings.splitter, label=S.SPLITTER, info=S.SPLITTER_HELP,
                                     elem_id="set-splitter")  # fmt: skip
            c["output_dir"] = gr.Textbox(label=S.OUTPUT_DIR, value=settings.output_dir, elem_id="set-output",
                                         info=S.OUTPUT_DIR_HELP.format(default=default_output))  # fmt: skip
            with gr.Row():
                c["save"] = gr.Button(S.SAVE_SETTINGS, variant="primary", elem_id="set-save")
                c["unload"] = gr.Button(S.UNLOAD, elem_id="set-unload")
            c["message"] = gr.Markdown(elem_id="set-message")
        with gr.Column():
            c["models_dir"] = gr.Textbox(label=S.MODELS_DIR, value=settings.models_dir, elem_id="set-models",
                                         info=S.MODELS_DIR_HELP.format(default=default_models))  # fmt: skip
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


class SettingsTab:
    """The Settings tab (``ui.page`` describes the contract)."""

    def __init__(self, engine: Engine, shared: Shared):
        self.engine, self.shared = engine, shared
        with gr.Tab(S.TAB_SETTINGS, id="settings"):
            self.c = c = layout(shared.settings)
        self.form = [c[k] for k in FIELDS]
        shared.models.add([c["models"]], self.model_table)
        shared.saved.add(self.form, self.saved_form)

    def model_table(self) -> dict:
        return {self.c["models"]: model_rows(self.engine)}

    def saved_form(self) -> dict:
        """The form as saved (a reload shows what was saved)."""
        form = form_values(self.engine.settings)
        form["device"] = gr.update(choices=device_choices(form["device"]), value=form["device"])
        return {self.c[k]: form[k] for k in FIELDS}

    def wire(self) -> None:
        c, shared = self.c, self.shared
        # separately from the page load's main event: the report takes a second the first time, and the form must
        # not wait for it
        shared.app.load(self.on_page_load, outputs=c["doctor"], **LIGHT)
        save_outputs = [*shared.models.outputs, c["message"], *shared.saved.outputs]
        c["save"].click(alerts.shown(c["message"])(self.on_save_settings), set(self.form), save_outputs,
                        api_name="save_settings", concurrency_limit=None)  # fmt: skip
        c["unload"].click(self.on_unload, outputs=c["message"], api_visibility="private", **GPU)
        c["run_doctor"].click(self.on_doctor, outputs=c["doctor"], api_name="doctor", **GPU)
        import_outputs = [*shared.models.outputs, c["models_msg"]]
        c["import"].click(alerts.shown(c["models_msg"])(self.on_import), c["import_dir"], import_outputs,
                          api_visibility="private")  # fmt: skip
        on_download = downloader(self.engine, shared.models, c["models_msg"])
        c["download"].click(on_download, outputs=[*shared.models.outputs, c["models_msg"]], api_visibility="private",
                            **GPU)  # fmt: skip

    def on_page_load(self) -> str:
        return doctor_text(self.engine, smoke=False)

    def on_doctor(self) -> str:
        return doctor_text(self.engine, smoke=True)

    def on_save_settings(self, data: dict) -> dict:
        message = save(self.engine, {k: data[self.c[k]] for k in FIELDS})
        out, app = str(self.engine.settings.resolved_output_dir()), self.shared.app
        if hasattr(app, "allowed_paths") and out not in app.allowed_paths:
            app.allowed_paths.append(out)  # a new output folder must be servable without a restart
        return {**self.shared.models(), **self.shared.saved(), self.c["message"]: message}

    def on_unload(self) -> str:
        self.engine.free(unload=True)
        return S.UNLOADED

    def on_import(self, folder) -> dict:
        message = import_models(self.engine, folder)
        return {**self.shared.models(), self.c["models_msg"]: message}
