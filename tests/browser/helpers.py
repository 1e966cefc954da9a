"""What the browser tests do to Gradio widgets."""

from __future__ import annotations


def fill_number(page, selector: str, value: str) -> None:
    """Type ``value`` into the Gradio number field ``selector`` and commit it (Tab), retrying when a re-render of
    the just-opened panel dropped it (seen once on a loaded CI machine: the field showed its old value)."""
    field = page.locator(f"{selector} input")
    for _ in range(5):
        field.fill(value)
        field.press("Tab")
        page.wait_for_timeout(100)
        if field.input_value() == value:
            return
    raise AssertionError(f"{selector} kept {field.input_value()!r} instead of {value!r}")
