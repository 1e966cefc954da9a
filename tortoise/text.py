"""Text front end: the original's English cleaners, its BPE tokenizer, and long-text splitting.

Cleaning and encoding reproduce the original ``VoiceBpeTokenizer`` exactly (checked case by case against the golden
``tokenizer.pt``), quirks included: ``£`` is transliterated to ``PS`` before numbers are read, so the pounds rule never
fires, and characters outside the 255-entry vocabulary (``[``, ``%``, ``&``, ...) become ``[UNK]`` = 1.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from .errors import InvalidInputError

STOP_TOKEN = 0
UNK_TOKEN = 1
SPACE_TOKEN = 2
MAX_TEXT_TOKENS = 400  # the original refuses N + 1 >= 400 (the AR model has 402 text positions)

# --- numbers -------------------------------------------------------------------------------------------------------

_COMMA_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")


@lru_cache(maxsize=1)
def _inflect():
    import inflect

    return inflect.engine()


def _dollars(m: re.Match) -> str:
    amount = m.group(1)
    parts = amount.split(".")
    if len(parts) > 2:  # "1.2.3": not money, keep it for the decimal rule
        return f"{amount} dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    d_unit = "dollar" if dollars == 1 else "dollars"
    c_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {d_unit}, {cents} {c_unit}"
    if dollars:
        return f"{dollars} {d_unit}"
    if cents:
        return f"{cents} {c_unit}"
    return "zero dollars"


def _integer(m: re.Match) -> str:
    n = int(m.group(0))
    words = _inflect().number_to_words
    if 1000 < n < 3000:  # read like a year
        if n == 2000:
            return "two thousand"
        if 2000 < n < 2010:
            return "two thousand " + words(n % 100)
        if n % 100 == 0:
            return words(n // 100) + " hundred"
        return words(n, andword="", zero="oh", group=2).replace(", ", " ")
    return words(n, andword="")


def expand_numbers(text: str) -> str:
    text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    return _NUMBER.sub(_integer, text)


# --- abbreviations, whitespace -------------------------------------------------------------------------------------

_ABBREVIATIONS = [
    (re.compile(rf"\b{abbr}\.", re.IGNORECASE), full)
    for abbr, full in [
        ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
        ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
        ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
        ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort"),
    ]
]  # fmt: skip
_WHITESPACE = re.compile(r"\s+")


def expand_abbreviations(text: str) -> str:
    for pattern, full in _ABBREVIATIONS:
        text = pattern.sub(full, text)
    return text


def english_cleaners(text: str) -> str:
    """ASCII transliteration, lowercase, numbers, abbreviations, whitespace, no double quotes (the original order)."""
    from unidecode import unidecode

    text = unidecode(text).lower()
    text = expand_abbreviations(expand_numbers(text))
    return _WHITESPACE.sub(" ", text).replace('"', "")


def basic_cleaners(text: str) -> str:
    """Lowercase and collapse whitespace only (the original's opt-in ``tokenizer_basic``)."""
    return _WHITESPACE.sub(" ", text.lower())


# --- tokenizer -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _bpe(vocab_file: str | None):
    from tokenizers import Tokenizer

    if vocab_file is None:
        data = resources.files("tortoise.assets").joinpath("tokenizer.json").read_text(encoding="utf-8")
        return Tokenizer.from_str(data)
    return Tokenizer.from_file(vocab_file)


class TextTokenizer:
    """The original ``VoiceBpeTokenizer``: clean, spaces to ``[SPACE]``, BPE encode.

    Parameters
    ----------
    vocab_file : a custom ``tokenizer.json`` (fine-tuned models); default the shipped original.
    basic_cleaners : use lowercase + whitespace cleaning only (for non-English fine-tunes).
    """

    def __init__(self, vocab_file: str | None = None, *, basic_cleaners: bool = False):
        self.vocab_file = vocab_file
        self.basic = basic_cleaners
        self._tok = _bpe(vocab_file)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def clean(self, text: str) -> str:
        return basic_cleaners(text) if self.basic else english_cleaners(text)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(self.clean(text).replace(" ", "[SPACE]")).ids

    def decode(self, ids: list[int]) -> str:
        text = self._tok.decode(list(ids), skip_special_tokens=False).replace(" ", "")
        return text.replace("[SPACE]", " ").replace("[STOP]", "").replace("[UNK]", "")

    def encode_for_model(self, text: str) -> list[int]:
        """Ids as ``tts()`` feeds them: encoded text plus one ``[STOP]``; refuses text the model cannot take."""
        if not any(c.isalnum() for c in self.clean(text)):
            raise InvalidInputError("the text is empty or has no words to speak; type some words")
        ids = self.encode(text)
        if len(ids) + 1 >= MAX_TEXT_TOKENS:
            raise InvalidInputError(
                f"this text segment is {len(ids)} tokens long; the model takes at most {MAX_TEXT_TOKENS - 2}. "
                "Split it into shorter sentences (long texts are split automatically by the CLI and the app)."
            )
        return [*ids, STOP_TOKEN]


# --- long text -----------------------------------------------------------------------------------------------------

_CLAUSE_END = re.compile(r"""[,;:]["')\]]*\s|\s[-–—]+\s""")
_ONLY_PUNCTUATION = re.compile(r"^[\s.,;:!?\"'-]*$")


def _sentences(text: str) -> list[str]:
    """Split at sentence ends (``.!?`` before whitespace) and paragraph breaks, never inside ``[...]``."""
    out, start, depth = [], 0, 0
    for m in re.finditer(r"""\[|\]|[.!?]+["')\]]*(?=\s|$)|\n\s*\n""", text):
        tok = m.group(0)
        if tok == "[":
            depth += 1
        elif tok == "]":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(text[start : m.end()])
            start = m.end()
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def _split_long(sentence: str, desired: int, maximum: int) -> list[str]:
    """Cut one over-long sentence at clause boundaries, else at spaces; never inside a word."""
    pieces = []
    while len(sentence) > maximum:
        window = sentence[: maximum + 1]
        cuts = [
            m.end() for m in _CLAUSE_END.finditer(window) if m.end() >= desired // 2 and "[" not in window[: m.end()]
        ]
        cut = cuts[-1] if cuts else window.rfind(" ")
        if cut <= 0:  # one enormous "word": no choice but to cut it
            cut = maximum
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    pieces.append(sentence)
    return pieces


def split_text(text: str, *, desired_length: int = 200, max_length: int = 300) -> list[str]:
    """Split long text into segments of about ``desired_length`` characters, at most ``max_length``.

    Sentences are combined until a segment reaches ``desired_length``; a sentence never straddles two segments
    unless it alone is longer than ``max_length``, in which case it is cut at a clause boundary or a space (never
    inside a word). Single line breaks are spaces (hard-wrapped prose); a blank line ends a sentence; a ``|`` forces
    a split. Text inside ``[...]`` (redaction) is never split. Segments holding
    only whitespace or punctuation are dropped.
    """
    if not 0 < desired_length <= max_length:
        raise InvalidInputError(f"need 0 < desired_length ({desired_length}) <= max_length ({max_length})")
    text = re.sub(r"[“”]", '"', text).replace("\r", "")
    segments: list[str] = []
    for part in text.split("|"):
        current = ""
        sentences = [
            p for s in _sentences(part) for p in _split_long(_WHITESPACE.sub(" ", s), desired_length, max_length)
        ]
        for sentence in sentences:
            if current and len(current) + 1 + len(sentence) > max_length:
                segments.append(current)
                current = ""
            current = f"{current} {sentence}" if current else sentence
            if len(current) >= desired_length:
                segments.append(current)
                current = ""
        if current:
            segments.append(current)
    return [s for s in segments if not _ONLY_PUNCTUATION.match(s)]
