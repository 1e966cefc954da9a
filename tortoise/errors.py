"""One exception root for everything the library raises on purpose.

Each error says what was wrong and what to do about it; the CLI prints ``str(error)`` as one line
and the app shows it in a dialog.
"""

from __future__ import annotations


class TortoiseError(Exception):
    """Root of every error raised deliberately by tortoise."""


class InvalidInputError(TortoiseError, ValueError):
    """A user-supplied value (text, option, name) is out of range or malformed."""


class AudioError(TortoiseError):
    """An audio file or array cannot be used."""


class UnreadableAudioError(AudioError):
    """The file does not exist, is not audio, or is corrupt/truncated."""


class EmptyAudioError(AudioError):
    """The audio holds no samples."""


class SilentAudioError(AudioError):
    """The audio holds only silence (or is far too quiet to use)."""


class CheckpointError(TortoiseError):
    """A weights file is missing, corrupt, truncated, or does not fit the model."""


class ModelNotFoundError(CheckpointError):
    """A required weights file is not in the models folder."""


class VoiceError(TortoiseError):
    """A voice is unknown, empty, or cannot be written."""


class DeviceError(TortoiseError):
    """The requested device is not available."""


class NonFiniteError(DeviceError):
    """A stage's output holds NaN or infinite values (a precision, driver or memory problem of the device)."""
