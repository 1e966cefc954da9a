"""The library side of the API: names resolved, text checked, and speech made in turn on one ``TextToSpeech``.

Uses only the library's public API (``TextToSpeech.check_voice``, ``check_text``, ``stream``, ``voices``;
``tortoise.text.split_text``; ``tortoise.options.preset``). A job runs in a worker thread: it waits for its turn on
the ``DeviceQueue``, streams the audio segment by segment (or, in fast mode, every ``chunk_tokens`` codes), changes
its speed, encodes it and hands each piece of bytes to ``deliver`` as soon as it exists. It stops between chunks,
and in standard mode at the next progress report, once ``cancelled`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..audio import AR_SAMPLE_RATE, OUTPUT_SAMPLE_RATE
from ..encode import StreamEncoder
from ..errors import InvalidInputError
from ..options import new_seed
from ..speed import change_speed
from .errors import APIError, from_library
from .jobs import Cancelled, DeviceQueue
from .request import SpeechRequest
from .settings import ServerSettings

DONE = object()  # the last item a job delivers when it finished normally
CODES_PER_SECOND = AR_SAMPLE_RATE / 1024  # autoregressive codes per second of speech (4 mel frames of 256 at 22.05 kHz)


@dataclass
class Job:
    """One accepted request, ready to run: what to speak, how, and where its bytes go."""

    request: SpeechRequest
    voice: str  # resolved to a voice of the library (or a mix, or random)
    seed: int
    input_tokens: int
    cancelled: threading.Event = field(default_factory=threading.Event)
    deliver: Callable[[object], None] = lambda item: None
    samples: int = 0  # audio samples delivered so far (after the speed change)

    @property
    def output_tokens(self) -> int:
        return round(self.samples / OUTPUT_SAMPLE_RATE * CODES_PER_SECOND)


class SpeechEngine:
    """Serves speech requests from one ``TextToSpeech`` (or a factory making it on first use), one job at a time.

    Parameters
    ----------
    tts : a ``TextToSpeech``, or a callable returning one (called once, on the first request: ``serve`` starts at
        once and a missing model is reported per request).
    settings : model and voice maps, limits, key.
    queue : the device turn to share (the app's); default a new one.
    """

    def __init__(self, tts, settings: ServerSettings | None = None, queue: DeviceQueue | None = None):
        self.settings = settings or ServerSettings()
        self.queue = queue or DeviceQueue(self.settings.max_waiting)
        self._tts, self._factory = (None, tts) if callable(tts) else (tts, None)
        self._lock = threading.Lock()

    @property
    def tts(self):
        with self._lock:
            if self._tts is None:
                self._tts = self._factory()
            return self._tts

    def voice_list(self) -> list[dict]:
        """The library's voices and the OpenAI names that map to one of them."""
        names = self.tts.voices.names()
        out = [{"id": n, "name": n, "object": "voice", "voice": n} for n in names]
        aliases = [(k, v) for k, v in self.settings.voices.items() if v in names and k not in names]
        out += [{"id": k, "name": k, "object": "voice", "voice": v} for k, v in aliases]
        return out

    def prepare(self, request: SpeechRequest) -> Job:
        """The job for ``request``, or the ``APIError`` for an unknown voice or text that cannot be spoken."""
        from ..text import split_text

        voice = "&".join(self.settings.voices.get(v.strip(), v.strip()) for v in request.voice.split("&"))
        try:
            self.tts.check_voice(voice)
        except Exception as e:
            raise from_library(e, param="voice") from e
        segments = split_text(request.input)
        if not segments:
            raise APIError(400, "Invalid 'input': there is nothing to speak in it.", param="input",
                           code="invalid_value")  # fmt: skip
        tokens = 0
        for i, segment in enumerate(segments):
            try:
                tokens += len(self.tts.check_text(segment))
            except InvalidInputError as e:
                where = f" (sentence group {i + 1} of {len(segments)})" if len(segments) > 1 else ""
                raise APIError(400, f"Invalid 'input'{where}: {e}", param="input", code="invalid_value") from e
        seed = request.seed if request.seed is not None else new_seed()
        return Job(request, voice, seed, tokens)

    def run(self, job: Job) -> None:
        """Make ``job``'s audio, delivering encoded bytes, then ``DONE`` (or the exception that stopped it)."""
        from ..options import preset

        r = job.request

        def check(stage: str, fraction: float) -> None:  # progress reports double as cancellation points
            if job.cancelled.is_set():
                raise Cancelled("the client disconnected")

        try:
            with self.queue.turn(job.cancelled):
                options = preset(r.preset, seed=job.seed)
                tags = {"title": r.input[:200], "artist": job.voice, "comment": {"seed": job.seed, "preset": r.preset}}
                encoder = StreamEncoder(r.response_format, tags=tags)
                s = self.settings
                chunks = self.tts.stream(r.input, job.voice, options, chunk_tokens=s.chunk_tokens,
                                         first_chunk_tokens=s.first_chunk_tokens, progress=check)  # fmt: skip
                try:
                    for chunk in chunks:
                        check("", 0.0)
                        audio = change_speed(chunk, r.speed)
                        job.samples += audio.size
                        job.deliver(encoder.push(audio))
                finally:
                    chunks.close()  # a generator stopped early releases its models here
                job.deliver(encoder.finish())
            job.deliver(DONE)
        except BaseException as e:  # delivered to the request, which answers or ends the stream with it
            job.deliver(e)
