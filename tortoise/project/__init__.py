"""Long-form projects (audiobooks, narration): import a book, render it segment by segment, check every take,
fix the bad ones, export chapters and the whole book. No Gradio here; the CLI's ``project`` command and the app use it.

    from tortoise.project import new_project, render, export
    folder = new_project("mybook", "book.epub", voice="train_grace", preset="fast")
    render(folder, tts)  # resumable: run it again to go on
    export(folder, "mybook.m4b", "m4b")
"""

from .checks import ChecksUnavailableError, CTCTranscriber, Transcriber, check_take
from .edit import choose_take, edit_text, merge_with_next, set_segment, set_status, split_segment
from .export import EXPORT_FORMATS, ExportReport, export
from .importing import new_project, read_book
from .model import Chapter, Defaults, Project, Segment, Take
from .render import RenderProgress, RenderSummary, render
from .review import ReviewSummary, check_accepted
from .store import ProjectError, ProjectFolder

__all__ = [
    "EXPORT_FORMATS",
    "CTCTranscriber",
    "Chapter",
    "ChecksUnavailableError",
    "Defaults",
    "ExportReport",
    "Project",
    "ProjectError",
    "ProjectFolder",
    "RenderProgress",
    "RenderSummary",
    "ReviewSummary",
    "Segment",
    "Take",
    "Transcriber",
    "check_accepted",
    "check_take",
    "choose_take",
    "edit_text",
    "export",
    "merge_with_next",
    "new_project",
    "read_book",
    "render",
    "set_segment",
    "set_status",
    "split_segment",
]
