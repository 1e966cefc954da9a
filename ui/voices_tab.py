"""The Voices tab: recordings -> a prepared voice (``tortoise.voiceprep``), and the voice library (list, rename,
delete). The work on plain values first, then the tab (layout and events).

Decisions:
* New voices go to the user's voices folder (``VoiceLibrary.user_dir``); only voices there can be renamed or
  deleted. Built-in and extra-folder voices are read-only in the app.
* "Check clips" is a dry run of the same preparation ``Save`` does, so the table shown is what will be saved.
* When the models are present, saving also computes and caches the voice's conditioning latents (on the device,
  under the GPU lock), so its first generation starts faster; without models the voice is saved all the same.
* Delete needs a ticked confirmation box (no browser dialogs: they are easy to dismiss by accident and hard to test).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr

from tortoise.audio_io import atomic_write
from tortoise.errors import InvalidInputError, VoiceError
from tortoise.voiceprep import VOICE_JSON, PrepOptions, format_report, prepare_voice, sanitize_voice_name
from tortoise.voiceprep import preview as prep_preview
from tortoise.voices import builtin_voices_dirs

from . import alerts
from . import strings as S
from .engine import Engine
from .page import GPU, LIGHT, Shared

PREP_FIELDS = ("denoise", "denoise_strength", "highpass", "trim", "normalize", "slice", "keep_rejected")


def sources(files, mic) -> list:
    """Uploaded file paths and an optional microphone take ``(sample_rate, samples)`` -> ``prepare_voice`` sources."""
    out: list = []
    for f in files or []:
        out.append(str(getattr(f, "name", f)))
    if mic is not None and len(mic) == 2 and mic[1] is not None and len(mic[1]):
        out.append((int(mic[0]), mic[1]))
    return out


def source_names(files, mic) -> list[str]:
    names = [Path(str(getattr(f, "name", f))).name for f in files or []]
    if mic is not None and len(mic) == 2 and mic[1] is not None and len(mic[1]):
        names.append("microphone")
    return names


def prep_options(values: dict):
    """Checkbox and slider values -> ``PrepOptions``."""
    return PrepOptions(
        denoise=bool(values.get("denoise", True)),
        denoise_strength=float(values.get("denoise_strength", 0.85)),
        highpass_hz=70.0 if values.get("highpass", True) else None,
        trim=bool(values.get("trim", True)),
        normalize=bool(values.get("normalize", True)),
        slice=bool(values.get("slice", True)),
        keep_rejected=bool(values.get("keep_rejected", False)),
    )


def preview(files, mic, which: str | None, values: dict):
    """(before, after) as ``(sample_rate, samples)`` for the chosen recording."""
    items, names = sources(files, mic), source_names(files, mic)
    if not items:
        raise InvalidInputError(S.NO_RECORDINGS)
    index = names.index(which) if which in names else 0
    before, after, sr = prep_preview(items[index], prep_options(values))
    return (sr, before), (sr, after)


def clip_rows(report) -> list[list]:
    rows = []
    for c in report.clips:
        s = c.stats
        rows.append(
            [
                c.file or f"({c.index})",
                c.source,
                f"{c.start_s:.1f}-{c.end_s:.1f}",
                f"{s.duration_s:.1f}",
                f"{s.loudness_lufs:.1f}",
                f"{s.true_peak_db:.1f}",
                f"{s.snr_in_db:.0f} -> {s.snr_db:.0f}",
                c.verdict,
                "; ".join(c.reasons),
            ]
        )
    return rows


def prepare(engine: Engine, files, mic, name: str, values: dict, *, save: bool, overwrite: bool = False, progress=None):
    """Run the preparation (``save`` False: a dry run). Returns (summary markdown, clip rows, details text, report)."""
    items = sources(files, mic)
    if not items:
        raise InvalidInputError(S.NO_RECORDINGS)
    if save and not (name or "").strip():
        raise InvalidInputError(S.NO_VOICE_NAME)
    library = engine.library()

    def cache_latents(folder: Path) -> None:
        if engine.missing_models():
            return
        with engine.gpu():
            engine.tts().voice_latents(folder.name)

    def report_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    report = prepare_voice(
        items,
        (name or "").strip() or "preview",
        voices_dir=library.user_dir,
        options=prep_options(values),
        overwrite=overwrite,
        on_saved=cache_latents if save else None,
        progress=report_progress,
        dry_run=not save,
    )
    if not save:
        summary = S.CHECKED.format(n=len(report.clips), score=report.score, grade=report.grade)
    elif report.voice_dir is not None:
        summary = S.VOICE_SAVED.format(
            name=report.name, n=len(report.saved_clips), folder=report.voice_dir, score=report.score, grade=report.grade
        )
    else:
        summary = S.VOICE_NOT_SAVED.format(advice=" ".join(report.advice))
    extra = [*(f"- {a}" for a in report.advice), *(f"- **warning:** {w}" for w in report.warnings)]
    if extra:
        summary += "\n\n" + "\n".join(extra)
    return summary, clip_rows(report), format_report(report), report


# ---- library ------------------------------------------------------------------------------------------------------
def _where(engine: Engine, voice) -> str:
    root = voice.path.parent.resolve()
    if root == engine.library().user_dir.expanduser().resolve():
        return S.WHERE_USER
    if any(root == d.resolve() for d in builtin_voices_dirs()):
        return S.WHERE_BUILTIN
    return S.WHERE_EXTRA


def voice_rows(engine: Engine) -> list[list]:
    """voice, clips, cached latents, where: for every voice in the library."""
    identity = engine.model_identity()
    cache = engine.tts().latent_cache if identity is not None else None
    rows = []
    for v in engine.library().list():
        if not v.clips:
            cached = S.CACHED_FILE
        elif cache is None:
            cached = S.CACHED_UNKNOWN
        else:
            cached = S.CACHED_YES if cache.has(v, identity) else S.CACHED_NO
        rows.append([v.name, str(len(v.clips)), cached, _where(engine, v)])
    return rows


def voice_choices(engine: Engine, *, with_random: bool = False) -> list[str]:
    names = engine.library().names()
    return [*names, "random"] if with_random else names


def first_clip(engine: Engine, name: str | None) -> str | None:
    if not name:
        return None
    voice = engine.library().get(name)
    return str(voice.clips[0]) if voice.clips else None


def _own(engine: Engine, name: str):
    library = engine.library()
    voice = library.get(name)
    user_dir = library.user_dir.expanduser().resolve()
    if voice.path.parent.resolve() != user_dir or voice.path.is_symlink():
        raise VoiceError(S.ONLY_USER_VOICES.format(name=name, folder=voice.path.parent))
    return voice, user_dir


def rename(engine: Engine, old: str, new: str) -> str:
    """Rename one of the user's voices; returns the new (sanitised) name."""
    voice, user_dir = _own(engine, old)
    target_name = sanitize_voice_name(new or "")
    target = user_dir / target_name
    if target.exists() or target.is_symlink():
        raise VoiceError(f"a voice named {target_name!r} already exists; choose another name")
    voice.path.rename(target)
    meta = target / VOICE_JSON
    if meta.is_file():  # keep voice.json's name in step with the folder
        try:
            data = json.loads(meta.read_text())
            if isinstance(data, dict):
                data["name"] = target_name
                atomic_write(meta, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
        except (OSError, ValueError):
            pass
    return target_name


def delete(engine: Engine, name: str) -> None:
    """Delete one of the user's voices (its folder). Built-in and extra voices are refused."""
    voice, _ = _own(engine, name)
    shutil.rmtree(voice.path)


# ---- the tab ------------------------------------------------------------------------------------------------------
def layout() -> dict:
    """The tab's components by name (stable ``voice-*`` element ids: the browser tests find them by these)."""
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


class VoicesTab:
    """The Voices tab (``ui.page`` describes the contract)."""

    def __init__(self, engine: Engine, shared: Shared):
        self.engine, self.shared = engine, shared
        with gr.Tab(S.TAB_VOICES, id="voices"):
            self.c = c = layout()
        shared.voices.add([c["table"], c["pick"]], self.lists)

    def lists(self) -> dict:
        """The library table and the voice picker."""
        rows = voice_rows(self.engine)
        return {self.c["table"]: rows, self.c["pick"]: gr.update(choices=voice_choices(self.engine))}

    def wire(self) -> None:
        c, voices = self.c, self.shared.voices
        prep_inputs = {c[k] for k in PREP_FIELDS} | {c["files"], c["mic"], c["name"], c["overwrite"]}
        for comp in (c["files"], c["mic"]):
            comp.change(self.on_sources, [c["files"], c["mic"]], c["which"], **LIGHT)
        # errors: the new-voice column's in its summary, the library column's in its message line
        in_summary, in_library = alerts.shown(c["summary"]), alerts.shown(c["library_msg"])
        preview_outputs = [c["before"], c["after"], c["summary"]]
        c["preview"].click(in_summary(self.on_preview), prep_inputs | {c["which"]}, preview_outputs,
                           api_visibility="private")  # fmt: skip
        prep_outputs = [c["summary"], c["clips"], c["details"]]
        c["check"].click(in_summary(self.on_check), prep_inputs, prep_outputs, api_visibility="private")
        c["save"].click(in_summary(self.on_save), prep_inputs, [*prep_outputs, *voices.outputs],
                        api_name="prepare_voice", **GPU)  # fmt: skip
        c["refresh"].click(voices, outputs=voices.outputs, **LIGHT)
        c["pick"].change(in_library(self.on_pick), c["pick"], [c["listen"], c["new_name"], c["library_msg"]], **LIGHT)
        rename_inputs, library_outputs = [c["pick"], c["new_name"]], [*voices.outputs, c["library_msg"]]
        c["rename"].click(in_library(self.on_rename), rename_inputs, library_outputs, **LIGHT)
        c["delete"].click(
            in_library(self.on_delete), [c["pick"], c["confirm"]], [*library_outputs, c["confirm"]], **LIGHT
        )

    def on_sources(self, files, mic):
        names = source_names(files, mic)
        return gr.update(choices=names, value=names[0] if names else None)

    def on_preview(self, data: dict) -> dict:
        c = self.c
        values = {k: data[c[k]] for k in PREP_FIELDS}
        before, after = preview(data[c["files"]], data[c["mic"]], data[c["which"]], values)
        return {c["before"]: before, c["after"]: after, c["summary"]: ""}

    def prepare(self, data: dict, save: bool, progress) -> dict:
        c = self.c
        values = {k: data[c[k]] for k in PREP_FIELDS}
        summary, rows, details, _ = prepare(
            self.engine, data[c["files"]], data[c["mic"]], data[c["name"]], values,
            save=save, overwrite=bool(data[c["overwrite"]]), progress=progress,
        )  # fmt: skip
        out = {c["summary"]: summary, c["clips"]: rows, c["details"]: details}
        return {**out, **self.shared.voices()} if save else out

    def on_check(self, data: dict, progress=gr.Progress()) -> dict:  # noqa: B008
        return self.prepare(data, False, progress)

    def on_save(self, data: dict, progress=gr.Progress()) -> dict:  # noqa: B008
        return self.prepare(data, True, progress)

    def on_pick(self, name) -> dict:
        c = self.c
        return {c["listen"]: first_clip(self.engine, name), c["new_name"]: name or "", c["library_msg"]: ""}

    def on_rename(self, old, new) -> dict:
        if not old:
            raise gr.Error(S.NO_VOICE)
        name = rename(self.engine, old, new)
        return {
            **self.shared.voices(),
            self.c["library_msg"]: S.RENAMED.format(old=old, new=name),
            self.c["pick"]: name,
        }

    def on_delete(self, name, confirmed) -> dict:
        c = self.c
        if not name:
            raise gr.Error(S.NO_VOICE)
        if not confirmed:
            raise gr.Error(S.DELETE_CONFIRM_FIRST)
        delete(self.engine, name)
        lists = self.shared.voices()
        lists[c["pick"]] = gr.update(choices=lists[c["pick"]]["choices"], value=None)
        return {**lists, c["library_msg"]: S.DELETED.format(name=name), c["confirm"]: False}
