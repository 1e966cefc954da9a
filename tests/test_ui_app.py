"""The app factory and launcher: no side effects on import, builds without weights, safe defaults, API names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ui.launch import parse_args, settings_for

ROOT = Path(__file__).resolve().parents[1]


def test_import_loads_nothing():
    code = "import sys, ui, ui.launch; print(sorted(m for m in ('gradio', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_launcher_defaults_are_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    args = parse_args([])
    assert args.host == "127.0.0.1" and not args.share and args.port == 7860 and not args.no_browser
    settings, notes = settings_for(parse_args(["--models-dir", str(tmp_path / "m"), "--device", "cpu"]))
    assert settings.models_dir == str(tmp_path / "m") and settings.device == "cpu" and notes == []


def test_build_app_without_weights(tmp_path, monkeypatch):
    gr = pytest.importorskip("gradio")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    from ui import build_app
    from ui.app import launch_options
    from ui.engine import Engine
    from ui.state import Settings

    engine = Engine(Settings(models_dir=str(tmp_path / "no-models"), device="cpu"))
    app = build_app(engine)
    assert isinstance(app, gr.Blocks)
    names = {d.api_name for d in app.fns.values() if d.api_name}
    assert {"generate", "prepare_voice", "save_settings", "doctor"} <= names
    gpu = [d for d in app.fns.values() if d.api_name in ("generate", "prepare_voice", "doctor")]
    assert all(d.concurrency_id == "gpu" and d.concurrency_limit == 1 for d in gpu), "one device job at a time"
    assert engine._tts is None, "building the app builds no pipeline"
    options = launch_options(engine)
    assert str((tmp_path / "data" / "tortoise-tts" / "outputs").resolve()) in options["allowed_paths"]
    assert not (tmp_path / "config").exists(), "building the app writes nothing"


def test_generate_is_enabled_once_the_page_load_has_filled_the_form(tmp_path, monkeypatch):
    """Fields edited before the page-load handler ran would be overwritten by it: the buttons wait for it."""
    pytest.importorskip("gradio")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    from ui import build_app
    from ui.engine import Engine
    from ui.state import Settings

    app = build_app(Engine(Settings(models_dir=str(tmp_path / "no-models"), device="cpu")))
    buttons = [b for b in app.blocks.values() if getattr(b, "elem_id", None) in ("gen-go", "gen-stream")]
    assert len(buttons) == 2 and not any(b.interactive for b in buttons)
    (load,) = [d for d in app.fns.values() if set(buttons) <= set(d.outputs)]
    assert [t[1] for t in load.targets] == ["load"]
    out = load.fn()
    assert all(out[b]["interactive"] is True for b in buttons)
    assert out[next(c for c in app.blocks.values() if getattr(c, "elem_id", None) == "gen-preset")] == "fast"


def test_uploads_are_size_limited(monkeypatch):
    from ui.app import max_upload

    monkeypatch.delenv("TORTOISE_MAX_UPLOAD_MB", raising=False)
    assert max_upload() == "200mb"
    monkeypatch.setenv("TORTOISE_MAX_UPLOAD_MB", "5")
    assert max_upload() == "5mb"
    monkeypatch.setenv("TORTOISE_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValueError, match="TORTOISE_MAX_UPLOAD_MB"):
        max_upload()


@pytest.fixture
def app_parts(tiny_models, tmp_path, monkeypatch):
    """The app on the tiny models with private folders: (app, engine, {elem_id: component})."""
    pytest.importorskip("gradio")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    from ui import build_app
    from ui.engine import Engine
    from ui.state import Settings

    engine = Engine(Settings(models_dir=str(tiny_models), device="cpu"))
    app = build_app(engine)
    ids = {b.elem_id: b for b in app.blocks.values() if getattr(b, "elem_id", None)}
    return app, engine, ids


def handler(app, name: str, trigger=None):
    """The event whose function is called ``name`` (the first, or the one ``trigger`` (a component) starts)."""
    found = [d for d in app.fns.values() if getattr(d.fn, "__name__", "") == name]
    if trigger is not None:
        found = [d for d in found if any(t[0] == trigger._id for t in d.targets)]
    return found[0]


class Tab:
    session_hash = "tab-1"


def test_generate_is_disabled_while_the_tabs_job_runs(app_parts):
    """A second click must never cancel the first generation: the button shows it is busy until the job ends, and a
    click that gets through anyway is refused."""
    import gradio as gr

    app, engine, ids = app_parts
    submit = handler(app, "on_submit", trigger=ids["gen-go"])
    assert ids["gen-go"] in submit.outputs
    update = submit.fn(Tab())
    assert update["interactive"] is False and update["value"] == "Generating..."
    job = engine._jobs[Tab.session_hash]
    with pytest.raises(gr.Error, match="already generating"):
        submit.fn(Tab())
    assert engine._jobs[Tab.session_hash] is job and not job.cancel.is_set()
    (generation,) = [d for d in app.fns.values() if d.api_name == "generate"]
    ids_of = {d._id: d for d in app.fns.values()}  # the chain: click -> submit -> (only if it passed) generate
    assert ids_of[generation.trigger_after] is submit and generation.trigger_only_on_success
    (enable,) = [d for d in app.fns.values() if d.trigger_after == generation._id]
    assert enable.outputs == [ids["gen-go"]] and not enable.trigger_only_on_success  # after errors too
    assert enable.fn()["interactive"] is True


def test_errors_are_written_on_the_page(app_parts, monkeypatch):
    """Every error's message lands in a component of the tab where the user acted (not only in a fading toast)."""
    from tortoise import weights

    app, engine, ids = app_parts
    status = ids["gen-status"]
    values = {c: getattr(c, "value", None) for c in handler(app, "on_generate").inputs}
    values[ids["gen-text"]] = "   "
    (out,) = handler(app, "on_generate").fn(values, Tab())
    assert 'class="tts-error"' in out[status] and "Type some text" in out[status]
    (out,) = handler(app, "on_stream").fn(values)  # "Listen as it is made": in the same progress area
    assert "tts-error" in out[status] and "type some text" in out[status]

    def unreachable(*args, **kwargs):
        raise OSError("connection refused by the test")

    monkeypatch.setattr(weights, "download", unreachable)
    monkeypatch.setattr(engine, "missing_models", lambda **kw: weights.status(engine.settings.resolved_models_dir()))
    downloads = [d for d in app.fns.values() if getattr(d.fn, "__name__", "") == "on_download"]
    assert {ids["gen-download-msg"], ids["set-models-msg"]} <= {c for d in downloads for c in d.outputs}
    for d in downloads:
        (msg,) = [c for c in d.outputs if c in (ids["gen-download-msg"], ids["set-models-msg"])]
        shown = d.fn()[msg]
        assert "tts-error" in shown and "OSError: connection refused by the test" in shown

    out = handler(app, "on_rename").fn(None, "new")
    assert "Pick a voice first" in out[ids["voice-library-msg"]]
    out = handler(app, "on_save").fn({c: None for c in handler(app, "on_save").inputs})
    assert "tts-error" in out[ids["voice-summary"]]


def test_the_aligner_download_choice_reports_in_its_box(app_parts, monkeypatch):
    from tortoise.errors import ModelNotFoundError
    from tortoise.redaction import Wav2VecAligner

    app, _, ids = app_parts
    get = handler(app, "on_get_aligner")
    msg = ids["gen-redaction-msg"]
    monkeypatch.setattr(Wav2VecAligner, "download", lambda self: None)
    out = get.fn()
    assert "Press Generate" in out[msg] and out[ids["gen-get-aligner"]]["visible"] is False

    def fails(self):
        raise ModelNotFoundError("the hub is unreachable from this test")

    monkeypatch.setattr(Wav2VecAligner, "download", fails)
    assert "tts-error" in get.fn()[msg] and "unreachable from this test" in get.fn()[msg]


def test_every_string_of_the_app_is_defined_once():
    """Two definitions of one name in ui/strings.py: the second silently replaces the first for every tab (a
    Projects message once replaced the Voices tab's, which then failed)."""
    import ast
    from collections import Counter

    import ui.strings

    tree = ast.parse(Path(ui.strings.__file__).read_text())
    names = Counter(t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name))  # fmt: skip
    assert [n for n, k in names.items() if k > 1] == []
