"""The Gradio app. ``build_app(engine, settings)`` lays it out; ``launch.main`` starts it. Importing loads nothing."""


def build_app(engine, settings=None):
    """See ``ui.app.build_app`` (imported on call, so ``import ui`` stays free of Gradio and torch)."""
    from .app import build_app as _build

    return _build(engine, settings)
