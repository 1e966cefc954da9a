"""What the tabs of the page share, and the contract every tab follows.

A tab is one module ``ui/<name>_tab.py`` holding one class, made and wired by ``ui.app.build_app``:

* ``Tab(engine, shared)`` lays the tab out (its own ``gr.Tab``, inside the page's ``gr.Tabs``) and adds its
  components to the ``Refresh`` groups of ``shared`` it takes part in: what the page load refreshes (``load``), the
  voice lists, the model files, the saved settings, Generate's fields.
* ``tab.wire()`` connects its events. It runs once every tab is laid out, because some events update components of
  other tabs (saving a voice refreshes Generate's voice picker; saving settings, Generate's preset), and Gradio needs
  every output of an event when the event is made.

Handlers return ``{component: value}``, so a group's new values merge with the tab's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .state import Settings

# one job on the device at a time (Gradio's queue shows the others their place); light events run unlimited
GPU = {"concurrency_id": "gpu", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}


@dataclass
class Refresh:
    """Components that one kind of change updates, over several tabs, and each tab's part that computes their new
    values (``part(*args) -> {component: value}``). Calling it merges the parts, in the order they were added."""

    outputs: list = field(default_factory=list)
    parts: list[Callable[..., dict]] = field(default_factory=list)

    def add(self, outputs: list, part: Callable[..., dict]) -> None:
        self.outputs += [c for c in outputs if c not in self.outputs]
        self.parts.append(part)

    def __call__(self, *args) -> dict:
        return {component: value for part in self.parts for component, value in part(*args).items()}


@dataclass
class Shared:
    """The page, its tab strip and the refresh groups the tabs take part in."""

    app: Any  # gr.Blocks: the page (its load event; the folders it serves)
    tabs: Any  # gr.Tabs: the tab strip (History's "reuse" switches to Generate)
    settings: Settings  # the settings the page is built with (initial widget values)
    voices: Refresh = field(default_factory=Refresh)  # voice lists: a voice was saved, renamed or deleted
    models: Refresh = field(default_factory=Refresh)  # model files: downloaded, imported, or another models folder
    saved: Refresh = field(default_factory=Refresh)  # the saved settings: the Settings form, Generate's preset
    reuse: Refresh = field(default_factory=Refresh)  # Generate's fields, given values by field name
    load: Refresh = field(default_factory=Refresh)  # what else the page load refreshes (after the groups above)

    def page_load(self) -> Refresh:
        """Everything the page load refreshes: voices, models and saved settings, then the tabs' own parts."""
        out = Refresh()
        for group in (self.voices, self.models, self.saved, self.load):
            out.add(group.outputs, group)
        return out
