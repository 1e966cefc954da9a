"""What the speech API is configured with: model and voice names, limits, the API key.

OpenAI's ``tts-1`` (fast, for real time) maps to our ``fast_mode`` preset (the original's api_fast: one sample, the
HiFi-GAN decoder, audio streamed within a sentence); ``tts-1-hd`` (quality) maps to ``fast`` (96 candidates ranked
by CLVP, 80 diffusion steps: the CLI's default). ``gpt-4o-mini-tts`` is taken as ``tts-1``. Every preset name is a
model too. OpenAI's voice names map to the three built-in voices; a voice of the library is always usable by its
own name. Both maps can be replaced (``tortoise-tts serve --map-model/--map-voice``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODELS = {"tts-1": "fast_mode", "tts-1-hd": "fast", "gpt-4o-mini-tts": "fast_mode"}
# OpenAI's voices (their own descriptions: deep, warm, bright, ...) to the built-in voices by register
DEFAULT_VOICES = {
    "alloy": "train_grace",
    "ash": "train_daws",
    "ballad": "train_dotrice",
    "coral": "train_grace",
    "echo": "train_dotrice",
    "fable": "train_dotrice",
    "nova": "train_grace",
    "onyx": "train_daws",
    "sage": "train_grace",
    "shimmer": "train_grace",
    "verse": "train_daws",
    "marin": "train_grace",
    "cedar": "train_daws",
}
MAX_INPUT_CHARS = 4096  # OpenAI's limit for ``input``


@dataclass(frozen=True)
class ServerSettings:
    """Settings of one API instance. ``api_key=None`` means no key is asked for (loopback only; see ``serve``)."""

    models: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))  # API model name -> preset
    voices: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))  # API voice name -> our voice
    api_key: str | None = None
    max_input_chars: int = MAX_INPUT_CHARS
    max_body_bytes: int = 64 * 1024  # 4096 characters are at most 16 KiB of UTF-8, ~24 KiB JSON-escaped
    max_waiting: int = 16  # requests queued for the device beyond the running one; more get 429
    chunk_tokens: int = 40  # fast mode: audio every 40 autoregressive codes (~1.9 s of speech)
    first_chunk_tokens: int = 60  # and the first audio after 60 codes (~2.8 s of speech)
    owner: str = "tortoise-tts-oneapi"  # ``owned_by`` in the model list
