"""Packaging: no import-time side effects, entry points work, package data ships."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_importing_the_library_loads_nothing_heavy():
    loaded = _modules_after("import tortoise")
    assert not {"torch", "gradio", "transformers", "huggingface_hub"} & loaded


def test_importing_the_ui_package_does_not_import_gradio():
    assert "gradio" not in _modules_after("import ui, ui.launch")  # launch explains a missing gradio itself


def test_lazy_public_names():
    import tortoise

    assert tortoise.TextToSpeech.__name__ == "TextToSpeech"
    assert "fast" in tortoise.PRESETS


def test_python_dash_m_and_help():
    out = subprocess.run([sys.executable, "-m", "tortoise", "--help"], capture_output=True, text=True, check=True)
    assert "usage: tortoise-tts" in out.stdout and "doctor" in out.stdout
    out = subprocess.run([sys.executable, "-m", "tortoise", "--version"], capture_output=True, text=True, check=True)
    assert "0.1.0" in out.stdout


def test_package_data_is_found():
    from importlib import resources

    assets = resources.files("tortoise.assets")
    for name in ("tokenizer.json", "mel_norms.pth", "LICENSE-tortoise-tts-Apache-2.0.txt"):
        assert assets.joinpath(name).is_file(), name
