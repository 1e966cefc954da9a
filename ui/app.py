"""Layout and wiring of the app (``build_app``). Handlers live in ``ui.handlers``; nothing is loaded at import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import handlers


@dataclass(frozen=True)
class AppSettings:
    models_dir: Path | None = None
    device: str | None = None
    voices_dirs: tuple[Path, ...] = ()


def build_app(settings: AppSettings):
    """Build the Blocks app for ``settings``. Returns a ``gr.Blocks`` ready for ``queue().launch()``."""
    import gradio as gr

    with gr.Blocks(title="TorToiSe TTS") as app:
        gr.Markdown("# TorToiSe text-to-speech\nVoice cloning on Intel Arc, NVIDIA, Apple and CPUs.")
        with gr.Tab("Voices"):
            voices = gr.Dataframe(
                headers=["voice", "kind", "clips"],
                label="Voices",
                interactive=False,
                value=handlers.voice_rows(settings),
            )
            with gr.Row():
                pick = gr.Dropdown(choices=handlers.voice_names(settings), label="Listen to a voice", scale=3)
                refresh = gr.Button("Refresh", scale=1)
            clip = gr.Audio(label="First clip", interactive=False)
            pick.change(lambda name: handlers.first_clip(settings, name), pick, clip, api_name=False)
            refresh.click(
                lambda: (handlers.voice_rows(settings), gr.update(choices=handlers.voice_names(settings))),
                outputs=[voices, pick],
                api_name=False,
            )
        with gr.Tab("Settings"):
            gr.Markdown("### This machine")
            report = gr.Code(label="tortoise-tts doctor", value=handlers.doctor_text(settings, smoke=False))
            check = gr.Button("Run the device check")
            check.click(lambda: handlers.doctor_text(settings, smoke=True), outputs=report, api_name="doctor")
    return app
