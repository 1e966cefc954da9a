"""Redaction: text in ``[brackets]`` guides the voice (tone, emotion) but is cut out of the returned audio.

The generated audio is run through a wav2vec2 CTC recogniser (the same checkpoint and vocabulary as the original
TorToiSe), the text without brackets is force-aligned to its per-frame output (:mod:`tortoise.alignment`), and the
audio between the first character of each bracketed span and the first character after it is removed.

Only :class:`Wav2VecAligner` needs ``transformers`` (the ``redaction`` extra) and the model weights; everything else
here is plain torch and is tested with a stub aligner.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from .alignment import align_characters
from .audio import OUTPUT_SAMPLE_RATE, resample
from .errors import CheckpointError, InvalidInputError, ModelNotFoundError, TortoiseError
from .text import english_cleaners

MODEL_ID = "jbetker/wav2vec2-large-robust-ft-libritts-voxpopuli"
VOCAB_ID = "jbetker/tacotron-symbols"
MODEL_SAMPLE_RATE = 16_000  # wav2vec2 input rate
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class RedactionUnavailableError(TortoiseError):
    """Redaction was asked for but its optional dependency (transformers) is not installed."""


# --- text ----------------------------------------------------------------------------------------------------------


def _where(text: str, i: int) -> str:
    start = max(0, i - 15)
    return f"{'...' if start else ''}{text[start : i + 16]!r}"


def split_redacted(text: str) -> list[tuple[str, bool]]:
    """Split text into ``(segment, redacted)`` pieces at ``[`` and ``]``; the brackets themselves are dropped.

    Empty pieces are left out, so ``"[]"`` or brackets at the very start or end need no special care.

    Raises
    ------
    InvalidInputError
        When brackets are nested or unbalanced; the message gives the 0-based position and what to fix.
    """
    segments: list[tuple[str, bool]] = []
    opened: int | None = None  # position of the "[" of the current redacted piece
    start = 0
    for i, c in enumerate(text):
        if c == "[":
            if opened is not None:
                raise InvalidInputError(
                    f"nested '[' at position {i} near {_where(text, i)}: the '[' at position {opened} is still open; "
                    "close it with ']' first (redacted [brackets] cannot be nested)"
                )
            segments.append((text[start:i], False))
            opened, start = i, i + 1
        elif c == "]":
            if opened is None:
                raise InvalidInputError(
                    f"unmatched ']' at position {i} near {_where(text, i)}: add the '[' that opens it, or remove it "
                    "([brackets] mark text that is spoken for its tone but cut from the audio)"
                )
            segments.append((text[start:i], True))
            opened, start = None, i + 1
    if opened is not None:
        raise InvalidInputError(
            f"unclosed '[' at position {opened} near {_where(text, opened)}: add the ']' that closes it, or remove it "
            "([brackets] mark text that is spoken for its tone but cut from the audio)"
        )
    segments.append((text[start:], False))
    return [(s, redacted) for s, redacted in segments if s]


def spoken_text(text: str) -> str:
    """What is said of ``text``: its [redacted] pieces left out, spaces tidied. Raises like :func:`split_redacted`."""
    return " ".join(" ".join(piece for piece, redacted in split_redacted(text) if not redacted).split())


def has_redaction(text: str) -> bool:
    """True when the text holds a non-empty ``[bracketed]`` piece. Raises ``InvalidInputError`` on bad brackets."""
    return any(redacted for _, redacted in split_redacted(text))


# --- the recogniser's vocabulary -----------------------------------------------------------------------------------


def _token_name(value) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


@dataclass(frozen=True)
class CTCVocab:
    """A CTC recogniser's character vocabulary: ``tokens`` maps a character to its output id."""

    tokens: Mapping[str, int]
    blank_id: int
    word_delimiter: str | None = "|"  # the token that stands for a space (wav2vec2 convention); " " also works

    def encode(self, text: str) -> list[int | None]:
        """One id per character of ``text`` (None for characters the recogniser cannot emit)."""
        ids: list[int | None] = []
        for c in text:
            options = (self.word_delimiter, " ") if c.isspace() else (c, c.lower(), c.upper())
            found = next((self.tokens[o] for o in options if o in self.tokens), None)
            ids.append(None if found == self.blank_id else found)
        return ids

    @classmethod
    def from_files(cls, vocab_json: str | Path, tokenizer_config_json: str | Path | None = None) -> CTCVocab:
        """Read a ``Wav2Vec2CTCTokenizer``'s ``vocab.json`` and (optional) ``tokenizer_config.json``."""
        tokens = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
        config = json.loads(Path(tokenizer_config_json).read_text(encoding="utf-8")) if tokenizer_config_json else {}
        pad = _token_name(config.get("pad_token")) or "<pad>"
        delimiter = _token_name(config.get("word_delimiter_token")) or "|"
        return cls(tokens=tokens, blank_id=int(tokens.get(pad, 0)), word_delimiter=delimiter)


# --- aligners ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Emissions:
    """A recogniser's output for one clip: ``log_probs`` (T, V) on the CPU, and input samples per frame."""

    log_probs: Tensor
    samples_per_frame: float


class Aligner(Protocol):
    """What :func:`redact` needs: a vocabulary and per-frame log-probabilities for a clip."""

    vocab: CTCVocab

    def emissions(self, audio: Tensor, sample_rate: int) -> Emissions:
        """Log-probabilities for ``audio`` (..., S) at ``sample_rate``; loads the recogniser if needed."""
        ...


def _hub_file(repo_id: str, names: Sequence[str], *, cache_dir, local_files_only: bool) -> str | None:
    """Path of the first of ``names`` that a hub repo has, cached first, else downloaded; None if it has none."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import RemoteEntryNotFoundError

    unknown = []
    for name in names:
        cached = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if isinstance(cached, str):
            return cached
        if cached is None:  # (otherwise the cache records that the repo has no such file)
            unknown.append(name)
    if local_files_only:
        return None
    for name in unknown:
        try:
            return hf_hub_download(repo_id, name, cache_dir=cache_dir)
        except RemoteEntryNotFoundError:
            continue
    return None


@dataclass(eq=False)
class Wav2VecAligner:
    """The original's wav2vec2 CTC recogniser, loaded on first use (or built from a given model and vocabulary).

    Parameters
    ----------
    device, dtype : where and in what precision the model runs (default CPU, float32).
    model : an already-built ``transformers.Wav2Vec2ForCTC`` (tests, custom checkpoints); skips loading.
    vocab : its :class:`CTCVocab`; required with ``model``.
    model_id, vocab_id : Hugging Face repos to load from when ``model`` is not given.
    cache_dir : the Hugging Face cache to use (default: ``$HF_HOME/hub``).
    local_files_only : never go to the network; only the cache.
    """

    device: torch.device | str | None = None
    dtype: torch.dtype = torch.float32
    model: torch.nn.Module | None = field(default=None, repr=False)
    vocab: CTCVocab | None = field(default=None, repr=False)
    model_id: str = MODEL_ID
    vocab_id: str = VOCAB_ID
    cache_dir: str | Path | None = None
    local_files_only: bool = False
    _ready: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.device = torch.device(self.device or "cpu")
        if (self.model is None) != (self.vocab is None):
            raise InvalidInputError("Wav2VecAligner: pass both model and vocab, or neither (to load the defaults)")

    def _missing(self, repo_id: str, what: str, error: Exception | None = None) -> ModelNotFoundError:
        from huggingface_hub import constants

        cache = self.cache_dir or constants.HF_HUB_CACHE
        how = "(offline: only the cache was searched)" if self.local_files_only else "and could not be downloaded"
        reason = f": {error}" if error else ""
        return ModelNotFoundError(
            f"the {what} {repo_id!r} needed to redact [bracketed] text is not in the Hugging Face cache ({cache}) "
            f"{how}{reason}. Connect to the internet once and retry (`tortoise-tts models download` fetches it too); "
            "set HF_HOME to use another cache folder, or remove the brackets / turn redaction off"
        )

    def _fetch(self) -> dict[str, str | None]:
        """Local paths of the model's and vocabulary's files, from the cache or downloaded into it."""
        files: dict[str, str | None] = {}
        wanted = [
            (self.model_id, "wav2vec2 alignment model", ("config.json",), True),
            (self.model_id, "wav2vec2 alignment model", _WEIGHT_FILES, True),
            (self.vocab_id, "alignment vocabulary", ("vocab.json",), True),
            (self.vocab_id, "alignment vocabulary", ("tokenizer_config.json",), False),
        ]
        for repo, what, names, required in wanted:
            try:
                files[names[0]] = _hub_file(
                    repo, names, cache_dir=self.cache_dir, local_files_only=self.local_files_only
                )
            except Exception as e:  # any network or hub failure: say what is missing and how to get it
                if required:
                    raise self._missing(repo, what, e) from e
                files[names[0]] = None
            if required and files[names[0]] is None:
                raise self._missing(repo, what)
        return files

    def cached(self) -> bool:
        """True when :meth:`load` needs no download: a model was given, or the model's and vocabulary's files are in
        the Hugging Face cache. Looks at the cache only (no network, nothing loaded); says nothing of transformers."""
        if self.model is not None:
            return True
        try:
            dataclasses.replace(self, local_files_only=True)._fetch()
        except ModelNotFoundError:
            return False
        return True

    def missing(self) -> str | None:
        """What :meth:`load` lacks on this machine now: ``"transformers"`` (the package), ``"model"`` (its files are
        not in the Hugging Face cache) or None. Looks only: no network, nothing loaded."""
        if self.model is None and importlib.util.find_spec("transformers") is None:
            return "transformers"
        return None if self.cached() else "model"

    def download(self) -> None:
        """Fetch the model's and vocabulary's files into the Hugging Face cache (nothing is loaded).

        Raises ``ModelNotFoundError`` (saying what and why) when they cannot be downloaded.
        """
        dataclasses.replace(self, local_files_only=False)._fetch()

    def load(self) -> Wav2VecAligner:
        """Load the model and vocabulary if not done yet, and move the model to ``device``/``dtype``.

        Raises ``RedactionUnavailableError`` without transformers, ``ModelNotFoundError`` when the files are neither
        cached nor downloadable, ``CheckpointError`` when they cannot be used.
        """
        if self._ready:
            return self
        if self.model is None:
            try:
                from transformers import Wav2Vec2ForCTC
            except ImportError as e:
                raise RedactionUnavailableError(
                    "redacting [bracketed] text needs the transformers package: "
                    "pip install 'tortoise-tts-oneapi[redaction]' (or remove the brackets / turn redaction off)"
                ) from e
            files = self._fetch()
            folder = Path(files["config.json"]).parent
            try:
                model = Wav2Vec2ForCTC.from_pretrained(folder)
            except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as e:  # refused pickled code too
                raise CheckpointError(
                    f"the cached wav2vec2 alignment model in {folder} cannot be loaded ({e}); "
                    "delete that folder and retry to download it again"
                ) from e
            vocab = CTCVocab.from_files(files["vocab.json"], files["tokenizer_config.json"])
            if model.config.pad_token_id is not None:  # the CTC blank is the model's pad id
                vocab = CTCVocab(vocab.tokens, int(model.config.pad_token_id), vocab.word_delimiter)
            self.model, self.vocab = model, vocab
        if max(self.vocab.tokens.values(), default=0) >= self.model.config.vocab_size:
            raise CheckpointError(
                f"the alignment vocabulary has ids up to {max(self.vocab.tokens.values())} but the model only "
                f"outputs {self.model.config.vocab_size}: the model and vocabulary do not belong together"
            )
        self.model = self.model.to(self.device, self.dtype).eval().requires_grad_(False)
        self._ready = True
        return self

    @property
    def hop_length(self) -> int:
        """Input samples (at 16 kHz) per output frame: the product of the feature encoder's strides (320)."""
        return math.prod(self.model.config.conv_stride)

    def _receptive_field(self) -> int:
        cfg, field_, jump = self.model.config, 1, 1
        for k, s in zip(cfg.conv_kernel, cfg.conv_stride):
            field_, jump = field_ + (k - 1) * jump, jump * s
        return field_

    @torch.inference_mode()
    def emissions(self, audio: Tensor, sample_rate: int = OUTPUT_SAMPLE_RATE) -> Emissions:
        """Per-frame CTC log-probabilities (T, V) for a clip (..., S) at ``sample_rate`` (channels are averaged)."""
        self.load()
        x = audio.to(self.device, torch.float32).reshape(-1, audio.shape[-1]).mean(0)  # (S,) mono
        x = resample(x, sample_rate, MODEL_SAMPLE_RATE)  # (S16,)
        x = torch.nn.functional.pad(x, (0, max(0, self._receptive_field() - x.shape[-1])))  # at least one frame
        x = (x - x.mean()) / torch.sqrt(x.var() + 1e-7)  # the model's input normalisation (as the original)
        logits = self.model(x[None].to(self.dtype)).logits[0]  # (T, V)
        log_probs = logits.float().log_softmax(-1).cpu()
        return Emissions(log_probs, self.hop_length * sample_rate / MODEL_SAMPLE_RATE)


# --- redaction -----------------------------------------------------------------------------------------------------


def character_spans(audio: Tensor, text: str, aligner: Aligner, *, sample_rate: int = OUTPUT_SAMPLE_RATE) -> np.ndarray:
    """Where each character of ``text`` is spoken in ``audio`` (..., S): (len(text), 2) ``[start, end)`` samples."""
    em = aligner.emissions(audio, sample_rate)  # first: a lazy aligner has its vocabulary only once loaded
    return emission_spans(em, aligner.vocab, text, audio.shape[-1])


def emission_spans(em: Emissions, vocab: CTCVocab, text: str, samples: int) -> np.ndarray:
    """:func:`character_spans` from emissions already computed for a clip of ``samples`` samples."""
    spans = align_characters(em.log_probs, vocab.encode(text), vocab.blank_id)  # (N, 2) frames
    return np.clip(np.round(spans * em.samples_per_frame), 0, samples).astype(np.int64)


def _cut_points(text: str, spans: np.ndarray, n: int) -> np.ndarray:
    """Sample index of the cut before each character (and after the last): (len(text) + 1,), non-decreasing.

    Next to a space the cut goes where the recogniser put the space (in the pause between the words); between two
    other characters, in the middle of the blank frames that separate them.
    """
    cuts = np.empty(len(text) + 1, dtype=np.int64)
    cuts[0], cuts[-1] = 0, n
    for k in range(1, len(text)):
        if text[k].isspace():
            cuts[k] = spans[k, 0]
        elif text[k - 1].isspace():
            cuts[k] = spans[k - 1, 1]
        else:
            cuts[k] = (spans[k - 1, 1] + spans[k, 0]) // 2
    return np.maximum.accumulate(cuts)


def redact(
    audio: Tensor,
    text: str,
    aligner: Aligner,
    *,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    cleaner: Callable[[str], str] | None = english_cleaners,
) -> Tensor:
    """Cut the audio of the ``[bracketed]`` parts of ``text`` out of ``audio``.

    Parameters
    ----------
    audio : (..., S) waveform at ``sample_rate`` that speaks ``text`` (leading dims, if any, are cut alike).
    text : the text that was synthesised, brackets included.
    aligner : a loaded or loadable :class:`Aligner` (normally :class:`Wav2VecAligner`).
    cleaner : applied to each piece before aligning, so numbers and abbreviations are aligned as they were spoken
        (default ``english_cleaners``, as used for synthesis); None aligns the raw characters.

    Returns
    -------
    (..., S') waveform: the kept pieces joined (a kept piece that opens the text starts at sample 0, one that closes it
    ends at the last sample). Cuts next to a space fall where the recogniser heard the space (in the pause
    between words), other cuts halfway between the two characters. Unchanged when nothing is bracketed.

    Raises
    ------
    InvalidInputError
        For nested or unbalanced brackets (before the aligner is used).
    RedactionUnavailableError, ModelNotFoundError, CheckpointError
        From :meth:`Wav2VecAligner.load` when transformers or the model is missing or unusable.
    """
    segments = split_redacted(text)
    if not any(redacted for _, redacted in segments) or audio.shape[-1] == 0:
        return audio
    if cleaner is not None:
        segments = [(cleaner(s), redacted) for s, redacted in segments]
    bare = "".join(s for s, _ in segments)
    n = audio.shape[-1]
    cuts = _cut_points(bare, character_spans(audio, bare, aligner, sample_rate=sample_rate), n)  # (N + 1,)
    kept, pos = [], 0
    for piece, redacted in segments:
        if not redacted:
            kept.append(audio[..., int(cuts[pos]) : int(cuts[pos + len(piece)])])
        pos += len(piece)
    return torch.cat(kept, dim=-1) if kept else audio[..., :0]
