"""The Projects tab: long-form projects (audiobooks) made, rendered, checked, fixed and exported. The work is
``ui.projects`` (where projects live and why one copy of each is shared is written there).

Decisions:
* The table shows one page (``projects.PAGE`` rows) of one chapter, or of the whole book, filtered by status: the
  browser never holds thousands of rows, and an edit redraws one page.
* Clicking a row opens the segment below the table (text, voice, takes, players); clicking its play cell plays the
  accepted take at once.
* Render and "Regenerate this segment" share the app's device queue with Generate (one job on the device at a time)
  and the browser tab's one job (Generate in the same browser tab is refused meanwhile, and its Cancel stops it too):
  Render shows "Rendering..." until it ended (and, while another job holds the device, that it waits), Cancel stops it
  at the next progress report and says how many segments were finished. While it runs, a timer redraws the table and
  summary whenever the project file changed. Pressing Render clears the segment's and the export's last messages.
* Without the speech-recognition model the checks need, nothing starts: the tab offers to download it or to turn the
  checks off for the project.
* This module does not use ``from __future__ import annotations``: Gradio reads the ``gr.Request`` and
  ``gr.SelectData`` annotations at run time.
"""

import gradio as gr

from tortoise.errors import InvalidInputError
from tortoise.options import PRESETS
from tortoise.project import (
    EXPORT_FORMATS,
)

from . import alerts, project_render, projects, voices_tab
from . import strings as S
from .engine import Engine
from .page import GPU, LIGHT, Shared
from .project_render import RenderRequest
from .projects import OpenProjects

EXPORT = {"concurrency_id": "project-export", "concurrency_limit": 1, "api_visibility": "private"}


def layout(preset: str) -> dict:
    """The tab's components by name (stable ``proj-*`` element ids: the browser tests find them by these)."""
    c: dict = {"ids": gr.State([]), "selected": gr.State(None), "stamp": gr.State(None)}
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
    with gr.Row():
        c["scope"] = gr.Radio(S.SCOPE_CHOICES, value="book", label=S.RENDER_SCOPE, elem_id="proj-scope")
        c["which"] = gr.Radio(S.WHICH_CHOICES, value="pending", label=S.RENDER_WHICH, elem_id="proj-which")
    with gr.Row():
        c["render"] = gr.Button(S.RENDER, variant="primary", elem_id="proj-render")
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
        c["export_scope"] = gr.Radio(S.SCOPE_CHOICES, value="book", label=S.EXPORT_SCOPE,
                                     elem_id="proj-export-scope")  # fmt: skip
        c["export"] = gr.Button(S.EXPORT, elem_id="proj-export")
    c["export_file"] = gr.File(label=S.EXPORT_FILE, interactive=False, visible=False, elem_id="proj-export-file")
    c["export_msg"] = gr.Markdown(elem_id="proj-export-msg")
    return c


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


class ProjectsTab:
    """The Projects tab (``ui.page`` describes the contract)."""

    def __init__(self, engine: Engine, shared: Shared):
        self.engine, self.shared = engine, shared
        self.projects = OpenProjects(engine)
        with gr.Tab(S.TAB_PROJECTS, id="projects") as self.tab:
            self.c = c = layout(shared.settings.default_preset)
        self.view_in = [c["pick"], c["chapter"], c["show"], c["page"]]
        self.view_out = [c["table"], c["ids"], c["page"], c["pages"], c["stamp"]]
        self.seg_out = [c["selected"], c["seg_info"], c["seg_text"], c["seg_voice"], c["seg_audio"], c["takes"],
                        c["take_audio"]]  # fmt: skip
        self.open_out = [c["summary"], c["checks"], c["chapter"], c["show"], *self.view_out, *self.seg_out]
        shared.voices.add([c["new_voice"], c["seg_voice"]], self.voice_lists)
        shared.load.add([c["pick"], c["new"]], self.project_list)  # "New project" open while there is none

    # ---- what the page shows ------------------------------------------------------------------------------------
    def voice_lists(self) -> dict:
        names = voices_tab.voice_choices(self.engine, with_random=True)
        return {
            self.c["new_voice"]: gr.update(choices=names, value=names[0] if names else None),
            self.c["seg_voice"]: gr.update(choices=[S.PROJECT_DEFAULT_VOICE, *names]),
        }

    def project_list(self, keep: str | None = None) -> dict:
        names = projects.project_names(self.engine)
        value = keep if keep in names else (names[0] if names else None)
        return {self.c["pick"]: gr.update(choices=names, value=value), self.c["new"]: gr.update(open=not names)}

    def view(self, name, chapter, show, page) -> dict:
        """The table's page (and the ids of its rows) for the current view."""
        c = self.c
        if not name:
            return {c["table"]: [], c["ids"]: [], c["page"]: 1, c["pages"]: "", c["stamp"]: None}
        folder = self.projects.get(name)
        with folder.lock:
            p = projects.table_page(folder.project, chapter, show, page)
            stamp = folder.stamp
        info = S.PAGE_INFO.format(pages=p.pages, n=p.matching)
        return {c["table"]: p.rows, c["ids"]: p.ids, c["page"]: p.page, c["pages"]: info, c["stamp"]: stamp}

    def opened(self, name) -> dict:
        """A project just picked (or made): its summary, chapters, first page; no segment chosen."""
        c = self.c
        empty = self.segment(None, None)
        if not name:
            out = {c["summary"]: S.NO_PROJECTS, c["checks"]: True, c["chapter"]: gr.update(choices=[], value=None)}
            return {**out, c["show"]: "all", **self.view(None, -1, "all", 1), **empty}
        folder = self.projects.get(name)
        with folder.lock:
            summary = projects.summary_markdown(folder)
            chapters = projects.chapter_choices(folder.project)
            checks = folder.project.defaults.checks.enabled
        first = 0 if len(chapters) > 1 else -1  # the first chapter: a page of it, never the whole book at once
        out = {c["summary"]: summary, c["checks"]: checks, c["chapter"]: gr.update(choices=chapters, value=first)}
        return {**out, c["show"]: "all", **self.view(name, first, "all", 1), **empty}

    def segment(self, name, segment_id, *, play: bool = False) -> dict:
        """The segment panel for ``segment_id`` (empty for None)."""
        c = self.c
        if not name or not segment_id:
            values = [None, S.PICK_SEGMENT, "", None, None, gr.update(choices=[], value=None), None]
            return dict(zip(self.seg_out, values))
        folder = self.projects.get(name)
        with folder.lock:
            chapter, position, seg = projects.segment_of(folder.project, segment_id)
            accepted = str(folder.resolve(seg.accepted.file)) if seg.accepted else None
            takes = projects.take_choices(seg)
            info = projects.segment_markdown(chapter, position, seg)
            voice = seg.voice or S.PROJECT_DEFAULT_VOICE
            text = seg.text
            chosen = seg.take + 1 if seg.take is not None else None
        return {
            c["selected"]: segment_id, c["seg_info"]: info, c["seg_text"]: text, c["seg_voice"]: voice,
            c["seg_audio"]: gr.update(value=accepted, autoplay=play),
            c["takes"]: gr.update(choices=takes, value=chosen), c["take_audio"]: None,
        }  # fmt: skip

    def summary(self, name) -> dict:
        if not name:
            return {self.c["summary"]: gr.skip()}  # (never {}: Gradio reads an empty dict as one value)
        folder = self.projects.get(name)
        with folder.lock:
            return {self.c["summary"]: projects.summary_markdown(folder)}

    # ---- events -------------------------------------------------------------------------------------------------
    def wire(self) -> None:
        c = self.c
        # (not "New project": opening the tab must not re-render a form being filled)
        self.tab.select(lambda name: self.project_list(name)[c["pick"]], c["pick"], c["pick"], **LIGHT)
        c["refresh"].click(lambda name: self.project_list(name), c["pick"], [c["pick"], c["new"]], **LIGHT)
        c["pick"].change(alerts.shown(c["summary"])(self.opened), c["pick"], self.open_out, **LIGHT)
        create = [c["new_name"], c["new_file"], c["new_text"], c["new_voice"], c["new_preset"], c["new_checks"]]
        c["create"].click(alerts.shown(c["new_msg"])(self.on_create), create,
                          [c["new_msg"], c["pick"], c["new_file"], c["new_text"], c["new"]], **LIGHT)  # fmt: skip
        c["checks"].input(alerts.shown(c["summary"])(self.on_checks), [c["pick"], c["checks"]], c["summary"], **LIGHT)

        shown = alerts.shown(c["pages"])
        for event, step in ((c["chapter"].input, 0), (c["show"].input, 0), (c["page"].submit, None),
                            (c["prev"].click, -1), (c["next"].click, 1)):  # fmt: skip
            event(shown(self.paged(step)), self.view_in, self.view_out, **LIGHT)
        c["table"].select(alerts.shown(c["seg_msg"])(self.on_row), [c["pick"], c["ids"]], [*self.seg_out, c["seg_msg"]],
                          **LIGHT)  # fmt: skip
        c["takes"].input(self.on_take_pick, [c["pick"], c["selected"], c["takes"]], c["take_audio"], **LIGHT)

        edits = {
            "save_text": projects.save_text, "merge": projects.merge, "split": projects.split,
            "set_voice": projects.set_voice, "use_take": projects.use_take, "mark_bad": projects.mark_bad,
        }  # fmt: skip
        edit_in = [*self.view_in, c["selected"], c["seg_text"], c["seg_voice"], c["takes"]]
        edit_out = [*self.view_out, *self.seg_out, c["summary"], c["seg_msg"]]
        for button, fn in edits.items():
            c[button].click(alerts.shown(c["seg_msg"])(self.edit(fn)), edit_in, edit_out, **LIGHT)

        self.rendering(c["render"], self.on_render, [c["pick"], c["scope"], c["which"], c["chapter"]])
        self.rendering(c["regenerate"], self.on_regenerate, [c["pick"], c["selected"]])
        c["cancel"].click(self.on_cancel, outputs=c["progress"], **LIGHT)
        c["timer"].tick(self.on_tick, [*self.view_in, c["stamp"]], [*self.view_out, c["summary"]], **LIGHT)
        box = [c["checks_box"], c["checks_msg"], c["get_recogniser"]]
        c["get_recogniser"].click(alerts.shown(c["checks_msg"])(self.on_get_recogniser), outputs=box,
                                  api_visibility="private", **GPU)  # fmt: skip
        c["checks_off"].click(alerts.shown(c["checks_msg"])(self.on_checks_off), c["pick"],
                              [*box, c["checks"], c["summary"]], **LIGHT)  # fmt: skip
        c["export"].click(alerts.shown(c["export_msg"])(self.on_export),
                          [c["pick"], c["format"], c["export_scope"], c["chapter"]],
                          [c["export_file"], c["export_msg"]], **EXPORT)  # fmt: skip

    def paged(self, step):
        def handler(name, chapter, show, page):
            page = 1 if step == 0 else max(1, int(page or 1) + (step or 0))
            return self.view(name, chapter, show, page)

        return handler

    def on_create(self, name, file, text, voice, preset, checks) -> dict:
        c = self.c
        folder = self.projects.create(name, source=file, text=text, voice=voice, preset=preset, checks=checks)
        n = sum(len(ch.segments) for ch in folder.project.chapters)
        msg = S.PROJECT_CREATED.format(name=folder.path.name, chapters=len(folder.project.chapters), segments=n)
        return {**self.project_list(folder.path.name), c["new_msg"]: msg, c["new_file"]: None, c["new_text"]: ""}

    def on_checks(self, name, enabled) -> dict:
        folder = self.projects.get(name)
        with folder.lock:
            folder.project.defaults.checks.enabled = bool(enabled)
            folder.save()
        return self.summary(name)

    def on_row(self, name, ids, evt: gr.SelectData) -> dict:
        row, col = evt.index if isinstance(evt.index, (list, tuple)) else (evt.index, 0)
        if not ids or row is None or row >= len(ids):
            return {self.c["seg_msg"]: gr.skip()}  # (never {}: Gradio reads an empty dict as one value)
        play = col == len(S.SEGMENT_HEADERS) - 1
        return {**self.segment(name, ids[row], play=play), self.c["seg_msg"]: ""}

    def on_take_pick(self, name, segment_id, number):
        if not name or not segment_id or not number:
            return None
        folder = self.projects.get(name)
        with folder.lock:
            seg = projects.segment_of(folder.project, segment_id)[2]
            return str(folder.resolve(seg.takes[int(number) - 1].file)) if int(number) <= len(seg.takes) else None

    # ---- segment edits ------------------------------------------------------------------------------------------
    def edit(self, fn):
        """An edit of the chosen segment -> (message, segment to show); then the page, panel and summary redrawn."""

        def handler(name, chapter, show, page, segment_id, text, voice, take):
            if not name or not segment_id:
                raise InvalidInputError(S.PICK_SEGMENT)
            folder = self.projects.get(name)
            with folder.lock:
                message, shown = fn(folder, segment_id, text=text, voice=voice, take=take)
            out = {**self.view(name, chapter, show, page), **self.segment(name, shown)}
            return {**out, **self.summary(name), self.c["seg_msg"]: message}

        return handler

    # ---- rendering ----------------------------------------------------------------------------------------------
    def rendering(self, button, fn, inputs) -> None:
        """``button`` -> the tab's job registered, Render disabled -> ``fn`` on the device -> the page redrawn."""
        c = self.c
        submit_out = [c["render"], c["timer"], c["checks_box"], c["progress"], c["seg_msg"], c["export_msg"]]
        started = button.click(self.on_submit, outputs=submit_out, **LIGHT)
        outputs = [c["progress"], c["checks_box"], c["checks_msg"], c["get_recogniser"]]
        done = started.success(fn, inputs, outputs, api_visibility="private", **GPU)
        redraw = [*self.view_out, c["summary"], *self.seg_out]
        done.then(self.on_rendered, [*self.view_in, c["selected"]], [c["render"], c["timer"], *redraw], **LIGHT)

    def on_submit(self, request: gr.Request):
        if self.engine.submit(request.session_hash) is None:
            raise gr.Error(S.ALREADY_RUNNING)
        c = self.c
        hide = gr.update(visible=False)
        waiting = project_render.note_html(S.WAITING_GPU) if self.engine.queue.busy else ""  # another job's turn
        return {c["render"]: gr.update(interactive=False, value=S.RENDERING), c["timer"]: gr.Timer(active=True),
                c["checks_box"]: hide, c["progress"]: waiting, c["seg_msg"]: "", c["export_msg"]: ""}  # fmt: skip

    def on_rendered(self, name, chapter, show, page, segment_id) -> dict:
        c = self.c
        out = {c["render"]: gr.update(interactive=True, value=S.RENDER), c["timer"]: gr.Timer(active=False)}
        try:
            out |= {**self.view(name, chapter, show, page), **self.summary(name)}
            if segment_id:
                out |= self.segment(name, segment_id)
        except Exception:  # the project went away meanwhile: the buttons come back all the same
            pass
        return out

    def on_render(self, name, scope, which, chapter, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        if scope == "chapter" and (chapter is None or chapter < 0):
            yield from self.display(project_render.refuse(self.engine, request.session_hash, S.PICK_CHAPTER))
            return
        req = RenderRequest(name or "", chapter=chapter if scope == "chapter" else None, which=which or "pending")
        yield from self.display(project_render.stream(self.engine, self.projects, req, request.session_hash, progress))

    def on_regenerate(self, name, segment_id, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        if not segment_id:
            yield from self.display(project_render.refuse(self.engine, request.session_hash, S.PICK_SEGMENT))
            return
        req = RenderRequest(name or "", segment=segment_id)
        yield from self.display(project_render.stream(self.engine, self.projects, req, request.session_hash, progress))

    def display(self, updates):
        """``project_render.stream``'s updates (by name) -> component updates."""
        c = self.c
        for update in updates:
            out = {c["progress"]: update["progress"]}
            if "checks" in update:  # the checks cannot run: the choices, nothing started
                message, can_download = update["checks"]
                out |= {c["checks_box"]: gr.update(visible=True), c["checks_msg"]: message,
                        c["get_recogniser"]: gr.update(visible=can_download)}  # fmt: skip
            yield out

    def on_cancel(self, request: gr.Request):
        job = self.engine.cancel(request.session_hash)
        return project_render.note_html(S.CANCEL_REQUESTED if job is not None else S.NOTHING_TO_CANCEL)

    def on_tick(self, name, chapter, show, page, stamp) -> dict:
        """While a render runs: the page and summary redrawn when the project file changed since they were drawn."""
        unchanged = {self.c["stamp"]: gr.skip()}  # (never {}: Gradio reads an empty dict as one value, and fails)
        if not name or self.projects.get(name).stamp == stamp:
            return unchanged
        return {**self.view(name, chapter, show, page), **self.summary(name)}

    def on_get_recogniser(self, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (the hub's download bars)
        c = self.c
        return {c["checks_box"]: gr.update(visible=True), c["checks_msg"]: project_render.download_recogniser(),
                c["get_recogniser"]: gr.update(visible=False)}  # fmt: skip

    def on_checks_off(self, name) -> dict:
        c = self.c
        out = self.on_checks(name, False)
        return {**out, c["checks"]: False, c["checks_msg"]: S.CHECKS_TURNED_OFF,
                c["get_recogniser"]: gr.update(visible=False), c["checks_box"]: gr.update(visible=True)}  # fmt: skip

    def on_export(self, name, fmt, scope, chapter) -> dict:
        if scope == "chapter" and (chapter is None or chapter < 0):
            raise InvalidInputError(S.PICK_CHAPTER)
        path, note = projects.export_project(self.projects, name, fmt, chapter if scope == "chapter" else None)
        return {self.c["export_file"]: gr.update(value=str(path), visible=True), self.c["export_msg"]: note}
