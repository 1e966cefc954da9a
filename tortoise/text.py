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
# The original's patterns, anchored at the start of a digit run: the same matches, but linear time on long runs (the
# unanchored ones retried every position of a run, minutes for 100k digits).
_DECIMAL = re.compile(r"(?<![0-9])([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"(?<![0-9])[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ORDINAL_DIGITS = ("zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")


@lru_cache(maxsize=1)
def _inflect():
    import inflect

    return inflect.engine()


def _words(number: int | str, **kwargs) -> str | None:
    """inflect's words for ``number`` (an int, or digits with an ordinal suffix); None where inflect gives up.

    inflect names numbers up to 36 digits (nonillions) and Python converts at most 4300 digits to an int; past that
    the original raised. Callers then read the digits one by one.
    """
    import inflect

    try:
        return _inflect().number_to_words(number, **kwargs)
    except (inflect.NumOutOfRangeError, ValueError):
        return None


def _digit_by_digit(digits: str) -> str:
    return " ".join(_DIGITS[int(d)] for d in digits)


def _dollars(m: re.Match) -> str:
    amount = m.group(1)
    parts = amount.split(".")
    if len(parts) > 2:  # "1.2.3": not money, keep it for the decimal rule
        return f"{amount} dollars"
    # The original's int() of each part, as digit strings: no digit limit, and a stray comma ("$,5", which made the
    # original raise) is ignored.
    dollars = parts[0].replace(",", "").lstrip("0")
    cents = parts[1].replace(",", "").lstrip("0") if len(parts) > 1 else ""
    d_unit = "dollar" if dollars == "1" else "dollars"
    c_unit = "cent" if cents == "1" else "cents"
    if dollars and cents:
        return f"{dollars} {d_unit}, {cents} {c_unit}"
    if dollars:
        return f"{dollars} {d_unit}"
    if cents:
        return f"{cents} {c_unit}"
    return "zero dollars"


def _ordinal(m: re.Match) -> str:
    spoken = _words(m.group(0))
    if spoken is None:  # beyond inflect: the digits, the last one as an ordinal ("... one two third")
        digits = m.group(0)[:-2]
        return " ".join(filter(None, [_digit_by_digit(digits[:-1]), _ORDINAL_DIGITS[int(digits[-1])]]))
    return spoken


def _integer(m: re.Match) -> str:
    try:
        n = int(m.group(0))
    except ValueError:  # more digits than Python converts to an int (sys.get_int_max_str_digits)
        return _digit_by_digit(m.group(0))
    if 1000 < n < 3000:  # read like a year
        if n == 2000:
            return "two thousand"
        if 2000 < n < 2010:
            return "two thousand " + _words(n % 100)
        if n % 100 == 0:
            return _words(n // 100) + " hundred"
        return _words(n, andword="", zero="oh", group=2).replace(", ", " ")
    spoken = _words(n, andword="")
    return _digit_by_digit(m.group(0)) if spoken is None else spoken


def expand_numbers(text: str) -> str:
    """The original's number reading; numbers it could not read (it raised) are read digit by digit."""
    text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(_ordinal, text)
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
    # The original collapsed whitespace before deleting double quotes, so a lone quote (or a character transliterated
    # to one, such as "¨") between spaces left two spaces; here the quotes go first.
    return _WHITESPACE.sub(" ", text.replace('"', ""))


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


SPLITTERS = ("ours", "original")  # split_text(splitter=...), the CLI's --splitter


def split_text(text: str, *, desired_length: int = 200, max_length: int = 300, splitter: str = "ours") -> list[str]:
    """Split long text into segments of about ``desired_length`` characters, at most ``max_length``.

    ``splitter="ours"`` (the default): sentences are combined until a segment reaches ``desired_length``; a sentence
    never straddles two segments unless it alone is longer than ``max_length``, in which case it is cut at a clause
    boundary or a space (never inside a word). Single line breaks are spaces (hard-wrapped prose); a blank line ends
    a sentence; a ``|`` forces a split. Text inside ``[...]`` (redaction) is never split. Sentence ends inside
    quotes count like any other.

    ``splitter="original"``: the original's rules (``split_and_recombine_text`` in the original's
    ``tortoise/utils/text.py``, and its scripts' ``|`` handling); see :func:`_split_like_original`.

    Either way, segments holding only whitespace or punctuation are dropped.
    """
    if not 0 < desired_length <= max_length:
        raise InvalidInputError(f"need 0 < desired_length ({desired_length}) <= max_length ({max_length})")
    if splitter not in SPLITTERS:
        raise InvalidInputError(f"unknown splitter {splitter!r}; choose one of {', '.join(SPLITTERS)}")
    if splitter == "original":
        segments = _split_like_original(text, desired_length, max_length)
    else:
        segments = _split_ours(text, desired_length, max_length)
    return [s for s in segments if not _ONLY_PUNCTUATION.match(s)]


def _split_ours(text: str, desired_length: int, max_length: int) -> list[str]:
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
    return segments


def _split_like_original(text: str, desired: int, maximum: int) -> list[str]:
    """The original's splitting, rule for rule: the same segments for any text.

    The original is ``split_and_recombine_text`` (``tortoise/utils/text.py``, release 3.0.0) and its scripts' ``|``
    handling (``read.py``, ``tortoise_tts.py``):

    * Text with a ``|`` is split at every ``|`` and nowhere else; empty pieces are dropped.
    * Otherwise whitespace becomes single spaces and curly double quotes straight ones, and the text is read left to
      right; each ``"`` opens or closes a quote. Outside quotes a sentence ends at ``!`` or ``?`` or at ``.`` before a
      space, together with the ``!?.`` that follow it; a segment ends at the first sentence end where it has at least
      ``desired`` characters. Inside a quote, a ``"`` followed by a space is a place to cut, but ends no segment.
    * At ``maximum`` characters the segment is cut back to its last place to cut if it has one and is over
      ``desired / 2`` characters; else back to its last space or ``.!?``, but not to ``desired`` characters or fewer
      (a long word is cut there). Reading resumes after the cut.
    * Quirks kept for identical segments: the look-ahead never sees the text's last character (it reads as nothing,
      which passes for a space or a ``.``), and stepping back toggles the quote state on the characters stepped onto
      rather than on those un-read.
    * Segments of only whitespace and ``.,;:!?`` are dropped.
    """
    if "|" in text:
        return [piece.strip() for piece in text.split("|") if piece.strip()]
    text = re.sub(r"[“”]", '"', _WHITESPACE.sub(" ", text))
    last = len(text) - 1
    segments: list[str] = []
    start, pos, quoted, cuts = 0, -1, False, []  # the segment is text[start : pos + 1]; cuts: places to cut it

    def ahead(k: int) -> str:
        return text[pos + k] if pos + k < last else ""

    def step(k: int) -> None:
        nonlocal pos, quoted
        for _ in range(abs(k)):
            pos += 1 if k > 0 else -1
            quoted ^= text[pos] == '"'

    while pos < last:
        step(1)
        c = text[pos]
        if pos + 1 - start >= maximum:
            if cuts and pos + 1 - start > desired / 2:
                step(cuts[-1] - pos)
            else:
                while text[pos] not in "!?. " and pos > 0 and pos + 1 - start > desired:
                    step(-1)
            segments.append(text[start : pos + 1])
            start, cuts = pos + 1, []
        elif not quoted and (c in "!?" or (c == "." and ahead(1) in ("", " "))):
            while pos < last and pos + 1 - start < maximum and ahead(1) in ("", "!", "?", "."):
                step(1)
            cuts.append(pos)
            if pos + 1 - start >= desired:
                segments.append(text[start : pos + 1])
                start, cuts = pos + 1, []
        elif quoted and ahead(1) == '"' and ahead(2) in ("", " "):
            step(2)
            cuts.append(pos)
    segments.append(text[start:])
    return [s.strip() for s in segments if not re.match(r"^[\s.,;:!?]*$", s)]
