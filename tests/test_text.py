"""Text front end: splitting long text into segments, model-ready ids, error paths."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tortoise.errors import InvalidInputError
from tortoise.text import STOP_TOKEN, TextTokenizer, split_text

# A real paragraph (public-domain prose: the opening of "Little Red Riding Hood", Andrew Lang's version).
RIDING_HOOD = """Once upon a time there lived in a certain village a little country girl, the prettiest creature
who was ever seen. Her mother was excessively fond of her; and her grandmother doted on her still more. This good
woman had a little red riding hood made for her. It suited the girl so extremely well that everybody called her Little
Red Riding Hood.

One day her mother, having made some cakes, said to her, "Go, my dear, and see how your grandmother is doing, for I
hear she has been very ill. Take her a cake, and this little pot of butter." Little Red Riding Hood set out
immediately to go to her grandmother, who lived in another village. As she was going through the wood, she met with a
wolf, who had a very great mind to eat her up, but he dared not, because of some woodcutters working nearby in the
forest. He asked her where she was going. The poor child, who did not know that it was dangerous to stay and talk to a
wolf, said to him, "I am going to see my grandmother and carry her a cake and a little pot of butter from my mother."
"""


def _words(text: str) -> list[str]:
    return re.sub(r"[“”]", '"', text).split()


def test_split_keeps_every_word_in_order_and_respects_limits():
    segments = split_text(RIDING_HOOD)
    assert len(segments) >= 4
    assert _words(" ".join(segments)) == _words(RIDING_HOOD)
    assert all(len(s) <= 300 for s in segments)
    # all but the last segment of a paragraph reach the desired length, so there are no tiny fragments
    assert sum(len(s) >= 150 for s in segments) >= len(segments) - 2


def test_split_prefers_sentence_ends():
    for segment in split_text(RIDING_HOOD)[:-1]:
        assert segment.rstrip('"').endswith((".", "!", "?")), segment


def test_short_text_is_one_segment():
    assert split_text("Hello there. How are you?") == ["Hello there. How are you?"]


def test_pipe_forces_a_split():
    assert split_text("First part.|Second part.") == ["First part.", "Second part."]


def test_overlong_sentence_is_cut_between_words():
    sentence = " ".join(["word"] * 200) + "."
    segments = split_text(sentence, desired_length=100, max_length=150)
    assert all(len(s) <= 150 for s in segments)
    assert all(set(s.rstrip(".").split()) == {"word"} for s in segments)
    assert _words(" ".join(segments)) == _words(sentence)


def test_overlong_sentence_prefers_clause_boundaries():
    sentence = ("this clause is long enough to matter, " * 12).strip()
    segments = split_text(sentence, desired_length=100, max_length=150)
    assert all(s.endswith(",") for s in segments[:-1])


def test_brackets_are_never_split():
    text = "Start. [" + "This is a prompt. " * 20 + "] And the spoken part."
    for segment in split_text(text, desired_length=50, max_length=400):
        assert segment.count("[") == segment.count("]")


def test_punctuation_only_segments_are_dropped():
    assert split_text("Hello. ... !!! | ?") == ["Hello. ... !!!"]


def test_bad_lengths_raise():
    with pytest.raises(InvalidInputError):
        split_text("x", desired_length=300, max_length=200)


def test_encode_for_model_appends_stop_and_refuses_bad_text():
    tok = TextTokenizer()
    ids = tok.encode_for_model("Hello, world!")
    assert ids[-1] == STOP_TOKEN and ids[:-1] == tok.encode("Hello, world!")
    with pytest.raises(InvalidInputError, match="empty"):
        tok.encode_for_model("")
    with pytest.raises(InvalidInputError, match="at most"):
        tok.encode_for_model("supercalifragilistic " * 100)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_split_never_crashes_and_never_exceeds_max(text):
    for segment in split_text(text):
        assert 0 < len(segment) <= 300


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=200))
def test_round_trip_of_cleaned_ascii_text(text):
    tok = TextTokenizer(basic_cleaners=True)
    cleaned = tok.clean(text)
    # every character of the tokenizer's alphabet survives encode -> decode; the rest become [UNK] and vanish
    vocab = set("abcdefghijklmnopqrstuvwxyz!'(),-./:;? ")
    expected = "".join(c for c in cleaned if c in vocab)
    assert tok.decode(tok.encode(text)) == expected
