"""Voice preparation: a user's own recordings -> a voice folder of clean 22.05 kHz clips + voice.json.

    from tortoise.voiceprep import PrepOptions, prepare_voice, preview
    report = prepare_voice(["take1.m4a", "take2.wav"], "my voice", voices_dir="voices")
    print(format_report(report))

The CLI sub-command lives in ``tortoise.voiceprep.cli`` (``add_prepare_command``).
"""

from .names import sanitize_voice_name, voice_folder
from .options import PrepOptions
from .prepare import SAMPLE_RATE, VOICE_JSON, prepare_voice, preview
from .report import ClipReport, ClipStats, SourceReport, StepReport, VoiceReport, format_report

__all__ = [
    "SAMPLE_RATE",
    "VOICE_JSON",
    "ClipReport",
    "ClipStats",
    "PrepOptions",
    "SourceReport",
    "StepReport",
    "VoiceReport",
    "format_report",
    "prepare_voice",
    "preview",
    "sanitize_voice_name",
    "voice_folder",
]
