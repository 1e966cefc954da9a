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
* "Check takes" checks the accepted takes already made (``project_render.CheckRequest``): the scope is Render's (the
  whole book or the chosen chapter; "Which segments" does not apply: every take of its segment's current text is
  checked), and it is a job like Render (the device queue, Cancel, progress; Render and Check are both disabled
  while either runs). Without the recogniser only the download is offered (turning the checks off would not help).
* "One cue per word" is shown next to the export format only for srt and vtt.
* The check thresholds (``ui.project_thresholds``) are under "Check thresholds", below the checks box: each field is
  saved when it is left; a render running meanwhile keeps the thresholds it started with.
* This module does not use ``from __future__ import annotations``: Gradio reads the ``gr.Request`` and
  ``gr.SelectData`` annotations at run time.
"""

from dataclasses import replace

import gradio as gr

from tortoise.errors import InvalidInputError
from tortoise.project.export import SUBTITLES
from tortoise.project.model import THRESHOLDS

from . import alerts, project_render, project_thresholds, projects, voices_tab
from . import strings as S
from .engine import Engine
from .page import GPU, LIGHT, Shared
from .project_render import CheckRequest, RenderRequest
from .projects import OpenProjects
from .projects_layout import layout

CANCEL_WAIT = 10.0  # seconds Cancel waits for the job to stop before saying it was asked to
EXPORT = {"concurrency_id": "project-export", "concurrency_limit": 1, "api_visibility": "private"}


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
        self.thresholds = [c[name] for name in THRESHOLDS]
        self.open_out = [c["summary"], c["checks"], *self.thresholds, c["as_shown"], c["thresholds_msg"], c["chapter"],
                         c["show"], *self.view_out, *self.seg_out]  # fmt: skip
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
        empty = {**self.segment(None, None), c["thresholds_msg"]: ""}
        if not name:
            out = {c["summary"]: S.NO_PROJECTS, c["checks"]: True, c["chapter"]: gr.update(choices=[], value=None)}
            out |= dict(zip(self.thresholds, project_thresholds.values(None))) | {c["as_shown"]: None}
            return {**out, c["show"]: "all", **self.view(None, -1, "all", 1), **empty}
        folder = self.projects.get(name)
        with folder.lock:
            summary = projects.summary_markdown(folder)
            chapters = projects.chapter_choices(folder.project)
            checks = folder.project.defaults.checks.enabled
            shown = project_thresholds.values(folder.project)
            thresholds = {**dict(zip(self.thresholds, shown)), c["as_shown"]: shown}
        first = 0 if len(chapters) > 1 else -1  # the first chapter: a page of it, never the whole book at once
        out = {c["summary"]: summary, c["checks"]: checks, c["chapter"]: gr.update(choices=chapters, value=first)}
        return {**out, **thresholds, c["show"]: "all", **self.view(name, first, "all", 1), **empty}

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
        saving = alerts.shown(c["thresholds_msg"])(self.on_thresholds)
        for field in self.thresholds:  # a number when it is left or Enter is pressed, the box when ticked
            events = (field.input,) if field is c["cut_off"] else (field.blur, field.submit)
            for event in events:
                event(saving, [c["pick"], c["as_shown"], *self.thresholds], [c["as_shown"], c["thresholds_msg"]],
                      **LIGHT)  # fmt: skip
        c["reset_thresholds"].click(alerts.shown(c["thresholds_msg"])(self.on_reset_thresholds), c["pick"],
                                    [*self.thresholds, c["as_shown"], c["thresholds_msg"]], **LIGHT)  # fmt: skip

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
        self.rendering(c["check"], self.on_check, [c["pick"], c["scope"], c["chapter"]])
        c["cancel"].click(self.on_cancel, outputs=c["progress"], **LIGHT)
        c["timer"].tick(self.on_tick, [*self.view_in, c["stamp"]], [*self.view_out, c["summary"]], **LIGHT)
        box = [c["checks_box"], c["checks_msg"], c["get_recogniser"]]
        c["get_recogniser"].click(alerts.shown(c["checks_msg"])(self.on_get_recogniser), outputs=box,
                                  api_visibility="private", **GPU)  # fmt: skip
        c["checks_off"].click(alerts.shown(c["checks_msg"])(self.on_checks_off), c["pick"],
                              [*box, c["checks"], c["summary"]], **LIGHT)  # fmt: skip
        c["format"].change(lambda fmt: gr.update(visible=fmt in SUBTITLES), c["format"], c["words"], **LIGHT)
        c["export"].click(alerts.shown(c["export_msg"])(self.on_export),
                          [c["pick"], c["format"], c["export_scope"], c["chapter"], c["words"]],
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
        with folder.lock:  # (replaced, not changed: a render running keeps the settings it started with)
            folder.project.defaults.checks = replace(folder.project.defaults.checks, enabled=bool(enabled))
            folder.save()
        return self.summary(name)

    def on_thresholds(self, name, shown, *fields) -> dict:
        """A threshold field left: the fields changed since they were shown saved; they are now what is shown."""
        message = project_thresholds.save(self.projects.get(name), list(fields), shown)
        if message is None:
            return {self.c["thresholds_msg"]: gr.skip()}  # (never {}: Gradio reads an empty dict as one value)
        return {self.c["as_shown"]: list(fields), self.c["thresholds_msg"]: message}

    def on_reset_thresholds(self, name) -> dict:
        folder = self.projects.get(name)
        message = project_thresholds.reset(folder)
        with folder.lock:
            shown = project_thresholds.values(folder.project)
        return {**dict(zip(self.thresholds, shown)), self.c["as_shown"]: shown, self.c["thresholds_msg"]: message}

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
        """``button`` -> the tab's job registered, Render and Check disabled -> ``fn`` on the device -> the page
        redrawn."""
        c = self.c
        submit_out = [c["render"], c["check"], c["timer"], c["checks_box"], c["progress"], c["seg_msg"],
                      c["export_msg"]]  # fmt: skip
        started = button.click(self.submitted(checking=button is c["check"]), outputs=submit_out, **LIGHT)
        outputs = [c["progress"], c["checks_box"], c["checks_msg"], c["get_recogniser"], c["checks_off"]]
        done = started.success(fn, inputs, outputs, api_visibility="private", **GPU)
        redraw = [*self.view_out, c["summary"], *self.seg_out]
        done.then(self.on_rendered, [*self.view_in, c["selected"]], [c["render"], c["check"], c["timer"], *redraw],
                  **LIGHT)  # fmt: skip

    def submitted(self, *, checking: bool):
        """The click's first step: the tab's job registered (or refused), both buttons disabled, the pressed one
        saying what runs."""

        def on_submit(request: gr.Request):
            if self.engine.submit(request.session_hash) is None:
                raise gr.Error(S.ALREADY_RUNNING)
            c = self.c
            hide = gr.update(visible=False)
            waiting = project_render.note_html(S.WAITING_GPU) if self.engine.queue.busy else ""  # another job's turn
            render = gr.update(interactive=False, value=S.RENDER if checking else S.RENDERING)
            check = gr.update(interactive=False, value=S.CHECKING if checking else S.CHECK_TAKES_BUTTON)
            return {c["render"]: render, c["check"]: check, c["timer"]: gr.Timer(active=True), c["checks_box"]: hide,
                    c["progress"]: waiting, c["seg_msg"]: "", c["export_msg"]: ""}  # fmt: skip

        return on_submit

    def on_rendered(self, name, chapter, show, page, segment_id) -> dict:
        c = self.c
        out = {c["render"]: gr.update(interactive=True, value=S.RENDER), c["timer"]: gr.Timer(active=False),
               c["check"]: gr.update(interactive=True, value=S.CHECK_TAKES_BUTTON)}  # fmt: skip
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

    def on_check(self, name, scope, chapter, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        if scope == "chapter" and (chapter is None or chapter < 0):
            yield from self.display(project_render.refuse(self.engine, request.session_hash, S.PICK_CHAPTER))
            return
        req = CheckRequest(name or "", chapter=chapter if scope == "chapter" else None)
        yield from self.display(project_render.stream(self.engine, self.projects, req, request.session_hash, progress))

    def display(self, updates):
        """``project_render.stream``'s updates (by name) -> component updates."""
        c = self.c
        for update in updates:
            out = {c["progress"]: update["progress"]}
            if "checks" in update:  # the recogniser is missing: the choices, nothing started
                message, can_download, can_turn_off = update["checks"]
                out |= {c["checks_box"]: gr.update(visible=True), c["checks_msg"]: message,
                        c["get_recogniser"]: gr.update(visible=can_download),
                        c["checks_off"]: gr.update(visible=can_turn_off)}  # fmt: skip
            yield out

    def on_cancel(self, request: gr.Request):
        """Stop the tab's render or check. When it stops within ``CANCEL_WAIT`` s (at its next progress report), its
        own stream says how it ended ("Cancelled after i of n") and this leaves that alone: answering "Cancel
        requested" would race with it, and arrive last when the app is busy."""
        job = self.engine.cancel(request.session_hash)
        if job is None:
            return project_render.note_html(S.NOTHING_TO_CANCEL)
        if job.finished.wait(CANCEL_WAIT):
            return gr.skip()
        return project_render.note_html(S.CANCEL_REQUESTED)

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

    def on_export(self, name, fmt, scope, chapter, words=False) -> dict:
        if scope == "chapter" and (chapter is None or chapter < 0):
            raise InvalidInputError(S.PICK_CHAPTER)
        words = bool(words) and fmt in SUBTITLES  # (the box keeps its tick while hidden for other formats)
        path, note = projects.export_project(self.projects, name, fmt, chapter if scope == "chapter" else None,
                                             words=words)  # fmt: skip
        return {self.c["export_file"]: gr.update(value=str(path), visible=True), self.c["export_msg"]: note}
