"""Mapping a reference class's constructor arguments onto one of our frozen config dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

C = TypeVar("C")


def _freeze(value: Any) -> Any:
    """Lists (from JSON or the reference) become tuples, nested ones too, so configs stay hashable."""
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def from_reference_kwargs(
    cls: type[C],
    kwargs: Mapping[str, Any],
    *,
    what: str,
    ignored: frozenset[str] = frozenset(),
    renames: Mapping[str, str] | None = None,
) -> C:
    """``cls(**kwargs)`` with reference names renamed, training-only ones dropped and anything unknown refused.

    Raises ``ValueError`` naming the unsupported argument and the known ones.
    """
    known = {f.name for f in fields(cls)}
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in ignored:
            continue
        ours = (renames or {}).get(name, name)
        if ours not in known:
            raise ValueError(f"unsupported {what} argument {name!r}; known: {sorted(known)}")
        out[ours] = _freeze(value)
    return cls(**out)
