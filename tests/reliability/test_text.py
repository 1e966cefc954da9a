"""Bad text: empty, whitespace, brackets, unsupported characters, 100k characters; fuzzing of the text front end.

Every case gives speech or an ``InvalidInputError`` that says what is wrong, before any model is loaded; through the
CLI that is exit code 1 and one line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.reliability.helpers import QUICK_CLI, REPO, one_line, quick
from tortoise.errors import InvalidInputError
from tortoise.redaction import split_redacted
from tortoise.text import MAX_TEXT_TOKENS, STOP_TOKEN, TextTokenizer, english_cleaners, split_text

NOTHING_TO_SAY = ["", " ", "   \n\t  ", "[]", "[ ]", "...!?", "😀😀🎉", "\x00\x01\x07\x1b", "\u200b\u200b", "“”"]


@pytest.mark.parametrize("text", NOTHING_TO_SAY)
def test_text_without_words_is_refused_before_loading_models(tts, text):
    with pytest.raises(InvalidInputError, match="no words to speak"):
        tts.tts(text, "random", quick())
    assert not tts.models.loaded


@pytest.mark.parametrize(
    "text, where",
    [("Hello [world", "unclosed '\\[' at position 6"), ("Hello] world", "unmatched '\\]'"), ("[a [b] c]", "nested")],
)
def test_unbalanced_brackets_say_where(tts_factory, text, where):
    tts = tts_factory()  # redaction on
    with pytest.raises(InvalidInputError, match=where):
        tts.tts(text, "random", quick())
    assert not tts.models.loaded


def test_text_entirely_in_brackets_is_refused_before_any_work(tts_factory):
    tts = tts_factory()  # redaction on: the aligner would be fetched (network) only to cut everything away
    for text in ["[I am sad]", "[one] [two]", "[sad,] ... !"]:
        with pytest.raises(InvalidInputError, match="inside \\[brackets\\]"):
            tts.tts(text, "random", quick())
    assert not tts.models.loaded and tts._aligner is None


def test_brackets_are_spoken_when_redaction_is_off(shared_tts):
    assert shared_tts.tts("[I am sad]", "random", quick()).audio[0].numel() > 0


@pytest.mark.parametrize(
    "text",
    [
        "你好，世界。",  # CJK: transliterated (unidecode), spoken as pinyin
        "Zoë and Ünal met in Málaga.",
        "Hello 😀 world 🎉!",
        "Tab\tand\x00null\x1band bell\x07 inside.",
        "Right-to-left: שלום and مرحبا.",
        "Math: ∑ x² ≥ 0, price £5 and $3.50.",
    ],
)
def test_unusual_characters_still_speak(shared_tts, text):
    result = shared_tts.tts(text, "random", quick())
    assert result.audio[0].numel() > 0 and result.audio[0].isfinite().all()


def test_100k_characters_split_quickly_into_model_sized_segments():
    text = " ".join(f"This is sentence number {i}, with a clause; and some more words." for i in range(1700))[:100_000]
    start = time.perf_counter()
    segments = split_text(text)
    assert time.perf_counter() - start < 2.0
    assert all(0 < len(s) <= 300 for s in segments) and " ".join(segments).split() == text.split()
    tok = TextTokenizer()
    for segment in segments[:: len(segments) // 20]:
        assert len(tok.encode_for_model(segment)) < MAX_TEXT_TOKENS


@pytest.mark.parametrize("text", ["word " * 20_000, "x" * 100_000, "😀 hi " * 20_000])
def test_100k_characters_in_one_call_are_refused_with_advice(tts, text):
    with pytest.raises(InvalidInputError, match=r"at most .* Split it"):
        tts.tts(text, "random", quick())
    assert not tts.models.loaded


def test_one_enormous_word_is_cut_not_lost():
    word = "a" * 1000
    segments = split_text(f"Start. {word} end.")
    assert "".join(segments).replace(" ", "").replace(".", "") == "start".capitalize() + word + "end"
    assert all(len(s) <= 300 for s in segments)


# --- through the command line ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("   ", "nothing to speak"),
        ("...", "nothing to speak"),
        ("😀", "no words to speak"),
        ("Hello [world", "unclosed"),
        ("[all of it]", "inside [brackets]"),
    ],
)
def test_cli_bad_text_is_one_line_and_exit_1(cli, text, message, no_work):
    code, out, err = cli(text, "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and message in err
    assert "incomplete" not in out  # it used to make a temporary folder and call the run incomplete
    no_work()


@pytest.fixture
def no_work(tmp_path, monkeypatch):
    """Fail the test if a model loads; returns a check that no file or folder appeared (temporary ones included)."""
    import tempfile

    from tortoise.model_manager import ModelManager

    def load(self, name):
        raise AssertionError(f"model {name} was loaded")

    monkeypatch.setattr(ModelManager, "get", load)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    before = {p for p in tmp_path.rglob("*") if "cache" not in p.parts}

    def check():
        assert {p for p in tmp_path.rglob("*") if "cache" not in p.parts} == before

    return check


@pytest.mark.parametrize("splitter", ["ours", "original"])
def test_cli_checks_every_segment_of_a_long_text_first(cli, no_work, splitter):
    good = "This sentence is fine and long enough to fill a segment of its own, more or less. " * 3
    text = f"{good}Then [an unclosed bracket here. {good}"
    code, out, err = cli(text, "-O", "out", "--splitter", splitter, "--text-split", "100,200", *QUICK_CLI)
    assert code == 1 and one_line(err) and "unclosed '['" in err and "incomplete" not in out
    assert "segment " in err and " of " in err  # which segment, for a long text
    no_work()


def test_cli_empty_text_file_and_undecodable_text_file(cli, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    code, _, err = cli("--textfile", "empty.txt", "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and "nothing to speak" in err
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 \xff\xfe".encode("latin-1"))
    code, _, err = cli("--textfile", "latin1.txt", "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and "cannot read latin1.txt" in err
    code, _, err = cli("--textfile", "missing.txt", "-o", "out.wav", *QUICK_CLI)
    assert code == 1 and one_line(err) and "missing.txt" in err


# --- fuzzing the text front end --------------------------------------------------------------------------------

_TOKENIZER = TextTokenizer()
_VOCAB_CHARS = set("abcdefghijklmnopqrstuvwxyz!'(),-./:;? ")
_ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
_BRACKETY = st.text(st.sampled_from(list("ab [].|,!\n 1")), max_size=200)


@settings(max_examples=150, deadline=None)
@given(_ANY_TEXT)
def test_fuzz_encode_ids_are_in_vocabulary_and_round_trip(text):
    ids = _TOKENIZER.encode(text)
    assert all(0 <= i < _TOKENIZER.vocab_size for i in ids)
    assert _TOKENIZER.encode(text) == ids  # deterministic
    # what the model hears: every cleaned character the vocabulary knows, in order; the rest is [UNK] and vanishes
    assert _TOKENIZER.decode(ids) == "".join(c for c in _TOKENIZER.clean(text) if c in _VOCAB_CHARS)


@settings(max_examples=150, deadline=None)
@given(_ANY_TEXT)
@example(" ¨ ")  # found by exploring: "¨" is transliterated to a double quote, which left two spaces
def test_fuzz_cleaning_is_ascii_and_idempotent(text):
    cleaned = _TOKENIZER.clean(text)
    assert cleaned.isascii() and cleaned == cleaned.lower() and "  " not in cleaned
    assert _TOKENIZER.clean(cleaned) == cleaned


@settings(max_examples=150, deadline=None)
@given(_ANY_TEXT)
def test_fuzz_encode_for_model_ids_or_a_clear_refusal(text):
    try:
        ids = _TOKENIZER.encode_for_model(text)
    except InvalidInputError as e:
        assert "no words" in str(e) or "at most" in str(e)
    else:
        assert ids[-1] == STOP_TOKEN and len(ids) < MAX_TEXT_TOKENS and STOP_TOKEN not in ids[:-1]


@settings(max_examples=150, deadline=None)
@given(_BRACKETY, st.integers(1, 120), st.integers(0, 200))
def test_fuzz_split_text_keeps_words_and_limits(text, desired, extra):
    maximum = desired + extra
    segments = split_text(text, desired_length=desired, max_length=maximum)
    for segment in segments:
        assert segment == segment.strip() and 0 < len(segment) <= maximum
    # nothing but whitespace, "|" and punctuation-only pieces is lost, and the order is kept (a word longer than
    # max_length is cut, so compare characters)
    letters = lambda s: [c for c in s if c not in " \n|.,!"]  # noqa: E731
    assert letters("".join(segments)) == letters(text)


@settings(max_examples=150, deadline=None)
@given(_BRACKETY)
def test_fuzz_redaction_split_rebuilds_the_text_or_refuses(text):
    try:
        pieces = split_redacted(text)
    except InvalidInputError as e:
        assert "position" in str(e)
        return
    rebuilt = "".join(f"[{piece}]" if cut else piece for piece, cut in pieces)
    assert rebuilt == text.replace("[]", "")


def test_characters_transliterated_to_nothing_a_space_or_a_quote_leave_one_space():
    """The whole class of ``' ¨ '``: every character whose transliteration is empty, spaces or double quotes.

    Cleaning sees only the transliteration, so one character per distinct transliteration covers all of Unicode.
    """
    from unidecode import unidecode

    kinds = {}
    for cp in range(0x110000):
        if not 0xD800 <= cp < 0xE000 and unidecode(chr(cp)).strip(' "') == "":
            kinds.setdefault(unidecode(chr(cp)), chr(cp))
    assert {"", " ", '"'} <= set(kinds)  # "" (emoji, controls), " " (spaces), '"' ("¨", "〃", ...)
    for c in kinds.values():
        for text, cleaned in [(f"a {c} b", "a b"), (f" {c} ", " "), (f"{c}{c} a", " a")]:
            assert _TOKENIZER.clean(text) == cleaned, (hex(ord(c)), text)


# --- numbers: any size and shape is spoken, never an error ----------------------------------------------------------

_DIGIT_RUN = st.text("0123456789", min_size=1, max_size=60)
_NUMBER_SHAPES = st.one_of(
    _DIGIT_RUN,  # plain and long digit runs (inflect names at most 36 digits)
    st.from_regex(r"\A-?[0-9]{1,40}(,[0-9]{3}){0,14}(\.[0-9]{1,40})?\Z"),  # grouped, decimals, negatives
    st.from_regex(r"\A[0-9]{1,45}(st|nd|rd|th)\Z"),  # ordinals
    st.from_regex(r"\A[$£€¥][0-9,.]{0,50}[0-9]\Z"),  # currency, stray separators included
    st.from_regex(r"\A[0-9]{1,40}(\.[0-9]{1,5})?%\Z"),  # percentages
    st.from_regex(r"\A(1[0-9]{3}|2[0-9]{3})s?\Z"),  # years
    st.from_regex(r"\A\+?[0-9]{1,3}[ -]?\(?[0-9]{3}\)?[ -.]?[0-9]{3}[ -.][0-9]{4}\Z"),  # phone numbers
    st.from_regex(r"\Av?[0-9]{1,5}(\.[0-9]{1,5}){1,4}(-rc[0-9])?\Z"),  # versions
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_NUMBER_SHAPES, min_size=1, max_size=4), st.sampled_from([" ", ", ", " and ", "/", "-"]))
@example(["9" * 37], " ")  # the original raised NumOutOfRangeError past 36 digits
@example(["1" * 4301], " ")  # and ValueError past Python's 4300-digit int conversion
@example(["$,5", "$5.,3"], " ")  # and ValueError on a comma inside a dollar amount
@example(["1234567890123456789012345678901234567th"], " ")
def test_fuzz_numbers_are_always_spoken(numbers, separator):
    text = f"It is {separator.join(numbers)} now."
    cleaned = english_cleaners(text)  # never raises
    assert cleaned.isascii() and not any(c.isdigit() for c in cleaned), cleaned
    assert english_cleaners(cleaned) == cleaned
    assert len(TextTokenizer().encode(text)) > 0


_ONES = " ".join(["one"] * 37)


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("1" * 37, _ONES),  # past inflect's 36 digits: digit by digit
        ("$" + "1" * 37, _ONES + " dollars"),
        ("$" + "1" * 37 + ".01", _ONES + " dollars, one cent"),
        ("1" * 37 + "2nd", _ONES + " second"),
        ("$,5 and $5.,3", "five dollars and five dollars, three cents"),
    ],
)
def test_numbers_the_original_could_not_read_are_read_digit_by_digit(text, spoken):
    assert english_cleaners(text) == spoken


def test_numbers_the_original_could_read_are_read_as_it_did():
    import inflect

    words = inflect.engine().number_to_words
    assert english_cleaners("1" * 36) == words(int("1" * 36), andword="")  # decillions, as the original
    assert english_cleaners("1" * 36 + "th") == words("1" * 36 + "th")
    assert english_cleaners("0" * 50 + "7") == "seven"  # leading zeros, as the original
    assert english_cleaners("$0" + "0" * 40 + "1.5") == "one dollar, five cents"


def test_100k_digits_are_cleaned_quickly():
    start = time.perf_counter()
    for text in ["1" * 100_000, "1" * 100_000 + "x.5", "1" * 100_000 + "th"]:
        assert english_cleaners(text).startswith("one one one")
    assert time.perf_counter() - start < 3.0  # the original's patterns took minutes (quadratic in the run's length)


# --- the property-test profile ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ci, derandomized", [("true", True), ("false", False), ("", False)])
def test_property_tests_are_derandomized_in_ci_only(ci, derandomized):
    code = "import tests.conftest; from hypothesis import settings; d = settings.default; "
    code += "print(d.derandomize, d.deadline, d.database is None)"
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {}) | {"HYPOTHESIS_PROFILE": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(derandomized), "None", str(derandomized)]
