"""Text cleaning, BPE ids and decoding match the original case by case (tokenizer.pt)."""

from __future__ import annotations

import pytest

from tests.golden.fixtures import load_fixture
from tortoise.text import TextTokenizer, basic_cleaners, english_cleaners

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fixture():
    return load_fixture("tokenizer", on_device=False)


def _cases(fixture):
    return fixture.get("cases") or fixture["outputs"]["cases"]


def test_cleaners_and_ids(fixture):
    config = fixture.get("config", {})
    tok = TextTokenizer(basic_cleaners=bool(config.get("use_basic_cleaners", False)))
    basic = TextTokenizer(basic_cleaners=True)
    cases = _cases(fixture)
    assert cases, "fixture holds no cases"
    for case in cases:
        text = case["text"]
        assert english_cleaners(text) == case["cleaned"], text
        assert tok.encode(text) == case["ids"], text
        if "cleaned_basic" in case:
            assert basic_cleaners(text) == case["cleaned_basic"], text
            assert basic.encode(text) == case["ids_basic"], text
        if "decoded" in case:
            assert tok.decode(case["ids"]) == case["decoded"], text


def test_decode_cases(fixture):
    tok = TextTokenizer()
    cases = fixture.get("decode_cases") or fixture["outputs"].get("decode_cases", [])
    for case in cases:
        assert tok.decode(case["ids"]) == case["decoded"], case["ids"]


def test_vocabulary(fixture):
    outputs = fixture["outputs"]
    tok = TextTokenizer()
    if "vocab_size" in outputs:
        assert tok.vocab_size == outputs["vocab_size"]
    for token, idx in outputs.get("special_ids", {}).items():
        assert tok._tok.token_to_id(token) == idx
