"""Errors shown on the page, next to what the user did: never only as a toast that fades after ten seconds.

Decisions:
* A handler's error becomes a message in a component of the tab where the user acted (the Generate progress area,
  the download message, the Voices summary...), styled as an alert, and the handler returns normally. Raising
  ``gr.Error`` instead shows a toast that disappears and a small "Error" label over the outputs, and for any other
  exception Gradio shows no reason at all.
* Messages of the library (``TortoiseError``) and of ``gr.Error`` are the user's to read, and so is a module of an
  optional extra that is missing (named with the extra to install); anything else is a bug or
  an environment problem: its traceback goes to the terminal and the page says so.
"""

from __future__ import annotations

import functools
import html
import sys
import traceback
from collections.abc import Callable

import gradio as gr

from tortoise.errors import TortoiseError

# Modules that come with an optional extra of the package (pyproject.toml), for "install it with" messages.
EXTRA_OF_MODULE = {
    "scipy": "voiceprep",
    "pyloudnorm": "voiceprep",
    "transformers": "redaction",
    "gradio": "app",
    "fastapi": "api",
    "uvicorn": "api",
    "pedalboard": "speed",
}


def message(e: BaseException) -> str:
    """What the user reads for ``e``."""
    if isinstance(e, gr.Error):
        return str(e.message)
    if isinstance(e, TortoiseError):
        return str(e)
    extra = EXTRA_OF_MODULE.get((getattr(e, "name", None) or "").partition(".")[0])
    if isinstance(e, ImportError) and extra:
        return f"{e.name} is missing; install it with: pip install 'tortoise-tts-oneapi[{extra}]'"
    traceback.print_exception(e, file=sys.stderr)  # the details the message points to
    return f"unexpected error ({type(e).__name__}: {e}); see the terminal for details"


def error_html(e: BaseException | str) -> str:
    """An alert box (HTML; also renders inside ``gr.Markdown``) holding ``e``'s message."""
    text = e if isinstance(e, str) else message(e)
    return f'<div class="tts-error" role="alert"><strong>Error:</strong> {html.escape(text)}</div>'


def shown(target) -> Callable:
    """Decorate a (non-generator) handler so that any error becomes ``{target: error_html(e)}``; ``target`` must be
    among the event's outputs (and the handler must return a dict when it also updates others)."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)  # keeps the signature Gradio reads (gr.Request, gr.Progress parameters)
        def handler(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                return {target: error_html(e)}

        return handler

    return wrap
