"""Checks that catch bad takes: what was said (CER of a transcript), how fast, long silences inside, a cut-off end.

The transcript comes from a :class:`Transcriber`; the default greedy-decodes the wav2vec2 CTC recogniser that
redaction already uses (:class:`tortoise.redaction.Wav2VecAligner`, no new model). The audio checks need no model:
20 ms frames are voiced when within ``VOICED_DB`` of the take's speech level (its 95th-percentile frame); the speech
runs from the first voiced frame to the last; a silence is a run of unvoiced frames inside it; the end is cut off when
the last ``END_SECONDS`` are still within ``CUT_OFF_DB`` of the speech level (speech fades out before a take ends).

With the wav2vec2 recogniser, a check also force-aligns the normalised text to the take (the alignment redaction
uses, :func:`tortoise.redaction.emission_spans`, from the same emissions as the transcript) and keeps each word's
start and end (:class:`Word`, seconds from the start of the take): the export's subtitles use them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from ..errors import ModelNotFoundError, TortoiseError
from ..redaction import emission_spans, spoken_text
from ..text import english_cleaners
from .model import CheckSettings

FRAME_SECONDS = 0.02
VOICED_DB = 30.0  # a frame within 30 dB of the speech level is voiced
FLOOR_DB = -60.0  # ... and never below -60 dBFS
END_SECONDS = 0.05
CUT_OFF_DB = 12.0


class ChecksUnavailableError(TortoiseError):
    """Checks are on but the recogniser they need is not available."""


class Word(NamedTuple):
    """A word of a take's normalised text and when it is spoken, in seconds from the start of the take."""

    text: str
    start: float
    end: float


class Transcriber(Protocol):
    """What the checks need. A transcriber that can also align (``transcribe_words``, as :class:`CTCTranscriber`)
    gives the take's word timings too."""

    def transcribe(self, audio: Tensor, sample_rate: int) -> str:
        """What is said in ``audio`` (S,) at ``sample_rate``, as lower-case words."""
        ...


@dataclass
class CTCTranscriber:
    """Greedy CTC decoding of a redaction aligner's emissions (most likely label per frame, repeats and blanks out)."""

    aligner: object  # tortoise.redaction.Aligner

    def transcribe(self, audio: Tensor, sample_rate: int) -> str:
        return self._decode(self.aligner.emissions(audio, sample_rate))  # loads the model on first use

    def transcribe_words(self, audio: Tensor, sample_rate: int, text: str) -> tuple[str, list[Word]]:
        """The transcript, and where each word of ``text`` (normalised: words split by single spaces) is spoken.

        One pass of the recogniser serves both; the words are forced through the CTC trellis, so every word gets a
        place (monotonic, inside the take) whatever was transcribed.
        """
        em = self.aligner.emissions(audio, sample_rate)
        spans = emission_spans(em, self.aligner.vocab, text, audio.shape[-1]) / sample_rate  # (N, 2) seconds
        words = [
            Word(m.group(), round(float(spans[m.start(), 0]), 3), round(float(spans[m.end() - 1, 1]), 3))
            for m in re.finditer(r"\S+", text)
        ]
        return self._decode(em), words

    def _decode(self, em) -> str:
        vocab = self.aligner.vocab
        names = {i: t for t, i in vocab.tokens.items()}
        ids = em.log_probs.argmax(-1).tolist()  # (T,)
        out = []
        for k, i in enumerate(ids):
            if i == vocab.blank_id or (k and ids[k - 1] == i):
                continue
            token = names.get(i, "")
            out.append(" " if token in (vocab.word_delimiter, " ") else token if len(token) == 1 else "")
        return "".join(out)


def default_transcriber(device=None, *, instead: str = "or turn the checks off (--no-checks)") -> CTCTranscriber:
    """The wav2vec2 recogniser from the Hugging Face cache. Never downloads (1.3 GB in the middle of a render would
    surprise): when it is not there, a clear error at once saying how to get it (or what to do ``instead``)."""
    from ..redaction import MODEL_ID, RedactionUnavailableError, Wav2VecAligner

    aligner = Wav2VecAligner(device=device)
    need = f"checking takes needs the wav2vec2 recogniser {MODEL_ID!r} (about 1.3 GB, the one redaction uses)"
    get = "`tortoise-tts models download --redaction` once"
    missing = aligner.missing()
    if missing == "transformers":
        raise ChecksUnavailableError(
            f"{need} and the transformers package: run `pip install 'tortoise-tts-oneapi[redaction]'`, then "
            f"{get}; {instead}"
        )
    if missing == "model":
        raise ChecksUnavailableError(f"{need}, which is not downloaded: run {get}; {instead}")
    try:
        aligner.load()
    except (ModelNotFoundError, RedactionUnavailableError) as e:
        raise ChecksUnavailableError(f"{need}: {e}; {instead}") from e
    return CTCTranscriber(aligner)


def normalise(text: str) -> str:
    """What a recogniser can be compared with: no [redacted] text, cleaned (numbers spelled), letters and spaces.

    The spoken pieces are those of :func:`tortoise.redaction.spoken_text` (which raises ``InvalidInputError`` for
    unbalanced brackets, as synthesis does).
    """
    text = english_cleaners(spoken_text(text))
    return " ".join(re.sub(r"[^a-z' ]+", " ", text).split())


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance (substitutions, insertions, deletions) over the reference's length."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        row = [i]
        for j, h in enumerate(hypothesis, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = row
    return previous[-1] / len(reference)


@dataclass
class TakeCheck:
    """One take's measurements and verdict. ``cer`` is None without a transcriber."""

    seconds: float
    speech_seconds: float
    rate: float  # characters of the normalised text per second of speech
    silence: float  # longest silence inside the speech, seconds
    cut_off: bool
    cer: float | None = None
    transcript: str | None = None
    problems: list[str] = field(default_factory=list)
    words: list[Word] | None = None  # the normalised text's words and their timings; None when not aligned

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def score(self) -> float:
        """Lower is better: the CER plus one for each problem (the best of several bad takes is the least bad)."""
        return (self.cer or 0.0) + len(self.problems)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def measure(audio: np.ndarray, sample_rate: int) -> tuple[float, float, bool]:
    """(speech seconds, longest inner silence in seconds, cut-off end) of a mono take (S,)."""
    n = max(1, int(FRAME_SECONDS * sample_rate))
    frames = audio[: len(audio) // n * n].reshape(-1, n)  # (F, n)
    if frames.size == 0:
        return 0.0, 0.0, False
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)  # (F,)
    level = float(np.percentile(db, 95))
    voiced = np.flatnonzero(db > max(level - VOICED_DB, FLOOR_DB))
    if voiced.size == 0:
        return 0.0, 0.0, False
    first, last = int(voiced[0]), int(voiced[-1])
    gaps = np.diff(voiced) - 1  # unvoiced frames between consecutive voiced ones
    silence = float(gaps.max(initial=0)) * FRAME_SECONDS
    end = audio[-max(1, int(END_SECONDS * sample_rate)) :].astype(np.float64)
    cut_off = bool(10 * np.log10(np.mean(end**2) + 1e-12) > level - CUT_OFF_DB)
    return (last - first + 1) * FRAME_SECONDS, silence, cut_off


def check_take(
    audio: Tensor | np.ndarray,
    sample_rate: int,
    text: str,
    settings: CheckSettings,
    transcriber: Transcriber | None = None,
) -> TakeCheck:
    """Measure a take of ``text`` and list what is wrong with it under ``settings``."""
    wav = audio.detach().float().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio, np.float32)
    wav = wav.reshape(-1)
    speech, silence, cut_off = measure(wav, sample_rate)
    reference = normalise(text)
    check = TakeCheck(len(wav) / sample_rate, speech, len(reference) / max(speech, 1e-3), silence, cut_off)
    if transcriber is not None:
        if hasattr(transcriber, "transcribe_words"):  # it can align too: the word timings come with the transcript
            heard, check.words = transcriber.transcribe_words(torch.as_tensor(wav), sample_rate, reference)
        else:
            heard = transcriber.transcribe(torch.as_tensor(wav), sample_rate)
        check.transcript = normalise(heard)
        check.cer = character_error_rate(reference, check.transcript)
        if check.cer > settings.max_cer:
            check.problems.append(f"CER {check.cer:.2f} > {settings.max_cer}")
    if speech == 0.0:
        check.problems.append("no speech")
    elif not settings.min_rate <= check.rate <= settings.max_rate:
        check.problems.append(f"rate {check.rate:.1f} chars/s outside {settings.min_rate}..{settings.max_rate}")
    if silence > settings.max_silence:
        check.problems.append(f"silence of {silence:.1f}s inside")
    if cut_off and settings.cut_off:
        check.problems.append("cut off at the end")
    return check
