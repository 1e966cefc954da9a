"""``POST /v1/audio/speech``'s JSON body, read field by field as OpenAI's API reference defines it.

Fields: ``model`` (required), ``input`` (required, 1-4096 characters), ``voice`` (required: a name, or OpenAI's
``{"id": ...}`` object), ``response_format`` (mp3 default, opus, aac, flac, wav, pcm), ``speed`` (0.25-4.0, default 1),
``instructions`` (accepted and ignored: TorToiSe takes no style prompt), ``stream_format`` (``audio`` default, or
``sse``). Extensions: ``seed`` (same seed, same audio) and ``preset`` (one of ours, instead of the model's). Any
other field is ignored, as clients send extra ones. Whether the voice exists and the text can be spoken is checked
by the engine, which knows the voice library and the tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..encode import API_FORMATS
from ..options import PRESETS
from ..speed import MAX_SPEED, MIN_SPEED
from .errors import APIError, invalid
from .settings import ServerSettings

STREAM_FORMATS = ("audio", "sse")


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    preset: str
    input: str
    voice: str  # as asked (an OpenAI name or ours); the engine resolves it
    response_format: str = "mp3"
    speed: float = 1.0
    stream_format: str = "audio"
    seed: int | None = None


def _string(body: dict, name: str, *, required: bool = False, default: str | None = None) -> str | None:
    if name not in body or body[name] is None:
        if required:
            raise invalid(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
        return default
    value = body[name]
    if not isinstance(value, str):
        raise invalid(name, f"Invalid type for '{name}': expected a string, but got {type(value).__name__}.",
                      "invalid_type")  # fmt: skip
    return value


def _choice(body: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = _string(body, name, default=default)
    if value not in choices:
        listed = ", ".join(f"'{c}'" for c in choices)
        raise invalid(name, f"Invalid value: '{value}'. Supported values are: {listed}.")
    return value


def _speed(body: dict) -> float:
    value = body.get("speed", 1.0)
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("speed", f"Invalid type for 'speed': expected a number, but got {type(value).__name__}.",
                      "invalid_type")  # fmt: skip
    if value < MIN_SPEED:
        raise invalid("speed", f"Invalid 'speed': {value} is below the minimum of {MIN_SPEED}.",
                      "decimal_below_min_value")  # fmt: skip
    if value > MAX_SPEED:
        raise invalid("speed", f"Invalid 'speed': {value} is above the maximum of {MAX_SPEED}.",
                      "decimal_above_max_value")  # fmt: skip
    return float(value)


def _seed(body: dict) -> int | None:
    value = body.get("seed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise invalid("seed", f"Invalid 'seed': {value!r}; use a whole number from 0 to 2**63 - 1.")
    return value


def _voice(body: dict) -> str:
    value = body.get("voice")
    if isinstance(value, dict):  # OpenAI's custom-voice object {"id": "voice_1234"}
        value = value.get("id")
        if not isinstance(value, str):
            raise invalid("voice", "Invalid 'voice': a voice object needs a string 'id'.", "invalid_type")
        return value
    voice = _string(body, "voice", required=True)
    if not voice.strip():
        raise invalid("voice", "Invalid 'voice': empty string.", "empty_string")
    return voice.strip()


def _model(body: dict, settings: ServerSettings) -> tuple[str, str]:
    model = _string(body, "model", required=True)
    preset = settings.models.get(model, model if model in PRESETS else None)
    if preset is None:
        known = ", ".join([*settings.models, *PRESETS])
        raise APIError(404, f"The model '{model}' does not exist. Available: {known}.", param="model",
                       code="model_not_found")  # fmt: skip
    asked = _string(body, "preset")
    if asked is not None:
        if asked not in PRESETS:
            raise invalid("preset", f"Invalid value: '{asked}'. Supported presets are: {', '.join(PRESETS)}.")
        preset = asked
    return model, preset


def parse_speech(raw: bytes, settings: ServerSettings) -> SpeechRequest:
    """The request in ``raw`` (the JSON body), or the ``APIError`` OpenAI's API would answer with."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise APIError(400, "We could not parse the JSON body of your request. Send a JSON object "
                       "(Content-Type: application/json).") from None  # fmt: skip
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.")
    model, preset = _model(body, settings)
    text = _string(body, "input", required=True)
    if not text.strip():
        raise invalid("input", "Invalid 'input': empty string. Expected a string with minimum length 1.",
                      "empty_string")  # fmt: skip
    if len(text) > settings.max_input_chars:
        raise invalid("input", f"Invalid 'input': string too long. Expected a string with maximum length "
                      f"{settings.max_input_chars}, but got a string with length {len(text)} instead.",
                      "string_above_max_length")  # fmt: skip
    voice = _voice(body)
    _string(body, "instructions")  # accepted (a string) and ignored
    return SpeechRequest(
        model=model,
        preset=preset,
        input=text,
        voice=voice,
        response_format=_choice(body, "response_format", API_FORMATS, "mp3"),
        speed=_speed(body),
        stream_format=_choice(body, "stream_format", STREAM_FORMATS, "audio"),
        seed=_seed(body),
    )
