"""The Projects tab's check thresholds: the open project's values for the fields, and changes saved to the project.
Plain values in and out (the tab is ``ui.projects_tab``; the thresholds' meaning: ``tortoise.project.checks``).

Decisions:
* A field is saved when it is left (or Enter is pressed; the cut-off box when ticked): no Save button to forget, and
  no save on every keystroke (typing 22 passes through 2, below the lowest rate). Only the fields changed since they
  were shown are written (over the project's thresholds now), so leaving a field does not undo what another program
  (the CLI) changed meanwhile; nothing changed writes nothing.
* What makes no sense is refused with what is allowed (``CheckSettings.verify``: CER limit 0 to 1, rates not
  negative and the lowest below the highest, longest silence over 0 s, 1 to 10 takes; an empty field), and nothing is
  saved: the project keeps its last thresholds, and the field keeps what was typed, to be fixed.
* Saving replaces the project's ``CheckSettings`` (under its lock) rather than changing it in place, and a render or
  Check takes copies it when it starts: one running keeps the thresholds it started with; the next one uses the new.
* "Reset to defaults" resets the thresholds, not whether the checks are on (that is the box above them).
"""

from __future__ import annotations

from dataclasses import astuple, replace

from tortoise.errors import InvalidInputError
from tortoise.project.model import THRESHOLDS, CheckSettings, Project

from . import strings as S
from .projects import SharedFolder


def values(project: Project | None) -> list:
    """The fields' values: the project's thresholds (the defaults without a project)."""
    checks = project.defaults.checks if project is not None else CheckSettings()
    return [getattr(checks, name) for name in THRESHOLDS]


def settings_from(current: CheckSettings, fields: list, shown: list | None = None) -> CheckSettings:
    """The fields' values (in ``THRESHOLDS`` order) that differ from ``shown`` (all without it) over ``current``;
    refuses an empty field and what makes no sense."""
    changes = {}
    for name, value, was in zip(THRESHOLDS, fields, shown or [object()] * len(THRESHOLDS), strict=True):
        if value == was:
            continue
        if value is None or value == "":
            raise InvalidInputError(S.THRESHOLD_EMPTY.format(label=S.THRESHOLD_LABELS[name]))
        changes[name] = bool(value) if name == "cut_off" else value
    if "max_takes" in changes and float(changes["max_takes"]).is_integer():
        changes["max_takes"] = int(changes["max_takes"])
    settings = replace(current, **changes)
    settings.verify()
    return settings


def save(folder: SharedFolder, fields: list, shown: list | None = None) -> str | None:
    """Save the fields changed since ``shown`` (the values the fields were given) to the project; what was done (a
    sentence), or None when nothing changed."""
    with folder.lock:
        current = folder.project.defaults.checks
        try:
            settings = settings_from(current, fields, shown)
        except InvalidInputError as e:
            raise InvalidInputError(S.THRESHOLDS_REFUSED.format(why=e)) from e
        if astuple(settings) == astuple(current):
            return None
        folder.project.defaults.checks = settings
        folder.save()
        return S.THRESHOLDS_SAVED + (" " + S.THRESHOLDS_RUNNING if folder.rendering else "")


def reset(folder: SharedFolder) -> str:
    """The project's thresholds back to the defaults (the checks stay on or off); what was done."""
    with folder.lock:
        current = folder.project.defaults.checks
        folder.project.defaults.checks = replace(CheckSettings(), enabled=current.enabled)
        folder.save()
        return S.THRESHOLDS_RESET + (" " + S.THRESHOLDS_RUNNING if folder.rendering else "")
