"""Redaction: bracket parsing, CTC forced alignment on known emissions, cutting audio, the wav2vec2 aligner."""

from __future__ import annotations

import itertools
import json
import math
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from tests.tiny_wav2vec import tiny_model
from tortoise.alignment import align_characters, ctc_forced_align
from tortoise.errors import CheckpointError, InvalidInputError, ModelNotFoundError
from tortoise.redaction import (
    CTCVocab,
    Emissions,
    RedactionUnavailableError,
    Wav2VecAligner,
    character_spans,
    has_redaction,
    redact,
    split_redacted,
)

BLANK = 0


def emissions_for(path: list[int], vocab_size: int, *, peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs where frame t gives ``peak`` to ``path[t]`` and shares the rest."""
    p = torch.full((len(path), vocab_size), (1 - peak) / (vocab_size - 1))
    p[torch.arange(len(path)), torch.tensor(path)] = peak
    return p.log()


def path_with(marks: dict[int, int], T: int) -> list[int]:
    """Blank everywhere except ``marks`` (frame -> token)."""
    path = [BLANK] * T
    for frame, token in marks.items():
        path[frame] = token
    return path


# --- split_redacted ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no brackets here", [("no brackets here", False)]),
        ("[I am really sad,] Please feed me.", [("I am really sad,", True), (" Please feed me.", False)]),
        ("a [b] c [d]", [("a ", False), ("b", True), (" c ", False), ("d", True)]),
        ("[all of it]", [("all of it", True)]),
        ("a[]b", [("a", False), ("b", False)]),
        ("", []),
    ],
)
def test_split_redacted(text, expected):
    assert split_redacted(text) == expected


def test_has_redaction():
    assert has_redaction("say [softly] hello")
    assert not has_redaction("plain text")
    assert not has_redaction("empty [] brackets")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a [b [c]] d", r"nested '\[' at position 5.*position 2 is still open"),
        ("a ]b", r"unmatched '\]' at position 2"),
        ("hello [world", r"unclosed '\[' at position 6"),
        ("[a] b] c", r"unmatched '\]' at position 5"),
    ],
)
def test_split_redacted_errors(text, pattern):
    with pytest.raises(InvalidInputError, match=pattern) as info:
        split_redacted(text)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidInputError):
        has_redaction(text)


# --- ctc_forced_align ----------------------------------------------------------------------------------------------


def test_forced_align_known_path():
    b = BLANK
    lp = emissions_for([b, 1, 1, b, 2, b, b, 3, b], 5)
    assert ctc_forced_align(lp, [1, 2, 3], b).tolist() == [[1, 2], [4, 4], [7, 7]]
    assert ctc_forced_align(lp.numpy(), [1, 2, 3], b).tolist() == [[1, 2], [4, 4], [7, 7]]


def test_forced_align_no_blanks_at_the_ends():
    assert ctc_forced_align(emissions_for([1, 0, 2], 3), [1, 2], BLANK).tolist() == [[0, 0], [2, 2]]


def test_forced_align_repeated_label_needs_a_blank():
    b = BLANK
    assert ctc_forced_align(emissions_for([b, 1, b, 1, b], 3), [1, 1], b).tolist() == [[1, 1], [3, 3]]
    # the emissions say "1" throughout; the alignment must still put a blank between the two 1s
    spans = ctc_forced_align(emissions_for([1, 1, 1, 1, 1], 3), [1, 1], b)
    assert spans[1, 0] >= spans[0, 1] + 2
    assert ctc_forced_align(emissions_for([1, 1], 3), [1, 1], b) is None  # 2 frames cannot hold "1 _ 1"
    assert ctc_forced_align(emissions_for([1, 2], 3), [1, 2], b).tolist() == [[0, 0], [1, 1]]


def test_forced_align_follows_the_text_not_the_argmax():
    # frame 2 looks most like token 3, which is not in the text: greedy decoding would disagree with the text
    lp = emissions_for([0, 1, 3, 0, 2, 0], 4)
    assert ctc_forced_align(lp, [1, 2], BLANK)[:, 0].tolist() == [1, 4]
    # the text says 2 before 1 although the audio says the opposite: still a monotonic answer, no error
    spans = ctc_forced_align(lp, [2, 1], BLANK)
    assert spans[0, 1] < spans[1, 0]


def test_forced_align_edge_cases():
    assert ctc_forced_align(emissions_for([0, 1], 3), [], BLANK).shape == (0, 2)
    assert ctc_forced_align(torch.zeros(0, 3), [1], BLANK) is None
    with pytest.raises(ValueError, match="frames, vocab"):
        ctc_forced_align(torch.zeros(3), [1], BLANK)


def collapse(path) -> list[int]:
    """CTC's many-to-one map: merge repeats, then drop blanks."""
    return [tok for i, tok in enumerate(path) if tok != BLANK and (i == 0 or path[i - 1] != tok)]


@pytest.mark.parametrize("seed", range(4))
def test_forced_align_is_the_best_path(seed):
    T, V = 6, 4
    rng = np.random.default_rng(seed)
    lp = torch.from_numpy(rng.normal(size=(T, V))).log_softmax(-1)
    targets = [[1, 2], [2, 2], [1, 3, 1], [3]][seed]
    best = max(
        sum(lp[t, tok].item() for t, tok in enumerate(path))
        for path in itertools.product(range(V), repeat=T)
        if collapse(path) == targets
    )
    spans = ctc_forced_align(lp, targets, BLANK)
    path = [BLANK] * T
    for tok, (a, b) in zip(targets, spans.tolist()):
        path[a : b + 1] = [tok] * (b - a + 1)
    assert collapse(path) == targets
    assert sum(lp[t, tok].item() for t, tok in enumerate(path)) == pytest.approx(best)


def test_forced_align_long_text():
    T, L = 1500, 400  # about 30 s of speech: more states than an int8 can index
    marks = {3 * k + 2: 1 + k % 5 for k in range(L)}
    spans = ctc_forced_align(emissions_for(path_with(marks, T), 6), list(marks.values()), BLANK)
    assert spans[:, 0].tolist() == list(marks)


# --- align_characters ----------------------------------------------------------------------------------------------


def test_align_characters_spans_and_out_of_vocabulary():
    lp = emissions_for(path_with({2: 1, 3: 1, 8: 2}, 10), 4)
    assert align_characters(lp, [1, None, None, 2], BLANK).tolist() == [[2, 4], [4, 6], [6, 8], [8, 9]]
    lp = emissions_for(path_with({6: 1}, 10), 4)
    assert align_characters(lp, [None, None, 1], BLANK).tolist() == [[0, 3], [3, 6], [6, 7]]  # from frame 0
    lp = emissions_for(path_with({2: 1}, 10), 4)
    assert align_characters(lp, [1, None], BLANK).tolist() == [[2, 3], [6, 10]]  # towards the end
    assert align_characters(lp, [None] * 5, BLANK)[:, 0].tolist() == [0, 2, 4, 6, 8]  # nothing known: spread
    assert align_characters(lp, [], BLANK).shape == (0, 2)


def test_align_characters_too_short_warns_and_spreads():
    with pytest.warns(RuntimeWarning, match="too short"):
        spans = align_characters(emissions_for([1, 2], 4), [1, 2, 3, 1], BLANK)
    assert spans.tolist() == [[0, 0.5], [0.5, 1], [1, 1.5], [1.5, 2]]


# --- vocabulary ----------------------------------------------------------------------------------------------------


def test_vocab_encode():
    vocab = CTCVocab({"_": 0, " ": 1, "a": 2, "b": 3, "'": 4}, blank_id=0, word_delimiter="|")
    assert vocab.encode("Ab a'1_") == [2, 3, 1, 2, 4, None, None]
    upper = CTCVocab({"<pad>": 0, "|": 1, "A": 2}, blank_id=0)
    assert upper.encode("a a") == [2, 1, 2]


def test_vocab_from_files(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"<s>": 0, "_": 1, "|": 2, "x": 3}))
    (tmp_path / "cfg.json").write_text(json.dumps({"pad_token": {"content": "_"}, "word_delimiter_token": "|"}))
    vocab = CTCVocab.from_files(tmp_path / "vocab.json", tmp_path / "cfg.json")
    assert (vocab.blank_id, vocab.word_delimiter, vocab.encode("x x")) == (1, "|", [3, 2, 3])
    assert CTCVocab.from_files(tmp_path / "vocab.json").blank_id == 0  # no "<pad>": id 0


# --- redact with a stub aligner on tone bursts ---------------------------------------------------------------------

SR, HOP, CHAR = 24_000, 480, 4_800  # each character is 10 frames: a tone burst, or silence for a space
LETTERS = "abcdefgh"
VOCAB = CTCVocab({"<pad>": 0, "|": 1, **{c: i + 2 for i, c in enumerate(LETTERS)}}, blank_id=0)


def frequency(c: str) -> float:
    return 300.0 + 150 * LETTERS.index(c)


def bursts(text: str) -> torch.Tensor:
    """One burst per character, back to back: (len(text) * CHAR,)."""
    t = torch.arange(CHAR) / SR
    window = torch.hann_window(CHAR)
    return torch.cat([torch.sin(2 * math.pi * frequency(c) * t) * window if c in LETTERS else 0 * t for c in text])


class StubAligner:
    """Knows what ``spoken`` says: letters are emitted on the inner 8 frames of their burst, spaces once mid-pause."""

    def __init__(self, spoken: str):
        self.vocab, self.spoken = VOCAB, spoken

    def emissions(self, audio, sample_rate):
        assert sample_rate == SR
        marks = {}
        for k, tok in enumerate(VOCAB.encode(self.spoken)):
            frames = [10 * k + 5] if self.spoken[k] == " " else range(10 * k + 1, 10 * k + 9)
            marks.update(dict.fromkeys(frames, tok) if tok is not None else {})
        return Emissions(emissions_for(path_with(marks, audio.shape[-1] // HOP), len(VOCAB.tokens)), HOP)


def frames(audio: torch.Tensor, *spans: tuple[int, int]) -> torch.Tensor:
    return torch.cat([audio[..., a * HOP : b * HOP] for a, b in spans], dim=-1)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("ab[cd]ef", [(0, 20), (40, 60)]),  # between letters: halfway between their emissions
        ("[ab]cdef", [(20, 60)]),
        ("abcd[ef]", [(0, 40)]),
        ("[a]bc[d]ef", [(10, 30), (40, 60)]),
        ("a[]bcdef", [(0, 60)]),
        ("ab [cd] ef", [(0, 26), (55, 80)]),  # next to a space: where the space was heard, inside the pause
        ("[ab] cd", [(25, 50)]),
    ],
)
def test_redact_cuts_the_bracketed_bursts(text, kept):
    spoken = "".join(s for s, _ in split_redacted(text))
    audio = bursts(spoken)
    out = redact(audio, text, StubAligner(spoken))
    assert torch.equal(out, frames(audio, *kept))


def test_redact_content_has_no_redacted_tone():
    audio = bursts("ab cd ef")
    out = redact(audio, "ab [cd] ef", StubAligner("ab cd ef"))
    assert abs(out.shape[-1] - 5 * CHAR) <= HOP  # a, b, e, f and one pause
    spectrum, hz = torch.fft.rfft(out).abs(), torch.fft.rfftfreq(out.shape[-1], 1 / SR)
    power = {c: spectrum[(hz - frequency(c)).abs() < 20].max().item() for c in "abcdef"}
    assert min(power[c] for c in "abef") > 50 * max(power["c"], power["d"])


def test_redact_whole_text_leading_dims_and_no_brackets():
    audio = bursts("abcd")[None, None]  # (1, 1, S)
    assert redact(audio, "[abcd]", StubAligner("abcd")).shape == (1, 1, 0)
    assert torch.equal(redact(audio, "a[b]cd", StubAligner("abcd")), frames(audio, (0, 10), (20, 40)))
    assert redact(audio, "abcd", StubAligner("abcd")) is audio
    empty = torch.zeros(0)
    assert redact(empty, "[a]b", StubAligner("ab")) is empty


def test_redact_out_of_vocabulary_boundary_is_interpolated():
    spoken = "ab%def"  # '%' is not in the vocabulary: it is placed halfway between 'b' and 'd'
    audio = bursts(spoken)
    out = redact(audio, "ab[%d]ef", StubAligner(spoken), cleaner=None)
    assert torch.equal(out, frames(audio, (0, 20), (40, 60)))


def test_redact_cleans_each_piece_like_synthesis():
    seen = []

    class Recording:
        vocab = types.SimpleNamespace(blank_id=0, encode=lambda text: seen.append(text) or VOCAB.encode(text))

        def emissions(self, audio, sample_rate):
            return Emissions(torch.zeros(audio.shape[-1] // HOP, len(VOCAB.tokens)), HOP)

    redact(torch.zeros(SR), "Mr. Smith [paid $5] today", Recording())
    assert seen == ["mister smith paid five dollars today"]


def test_redact_bad_brackets_fail_before_aligning():
    class Exploding(StubAligner):
        def emissions(self, audio, sample_rate):
            raise AssertionError("must not be called")

    with pytest.raises(InvalidInputError, match="unclosed"):
        redact(bursts("ab"), "a [b", Exploding("ab"))


@pytest.mark.parametrize("seed", range(3))
def test_redact_never_fails_on_arbitrary_emissions(seed):
    rng = np.random.default_rng(seed)

    class Noisy:
        vocab = VOCAB

        def emissions(self, audio, sample_rate):
            T = int(rng.integers(1, 40))  # sometimes far too few frames for the text
            return Emissions(torch.from_numpy(rng.normal(size=(T, 10))).log_softmax(-1), audio.shape[-1] / T)

    audio = torch.randn(int(rng.integers(1, 20_000)))
    text = "".join(rng.choice(list("abcdefgh  %1.,"), size=30))
    text = f"{text[:5]}[{text[5:12]}]{text[12:20]}[{text[20:]}]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = redact(audio, text, Noisy(), cleaner=None)
    assert out.shape[-1] <= audio.shape[-1]


def test_character_spans_in_samples():
    spans = character_spans(bursts("ab"), "ab", StubAligner("ab"))
    assert spans.tolist() == [[HOP, 9 * HOP], [11 * HOP, 19 * HOP]]


# --- Wav2VecAligner -------------------------------------------------------------------------------------------------


def test_wav2vec_aligner_end_to_end_tiny_random_model():
    aligner = Wav2VecAligner(model=tiny_model(), vocab=VOCAB)
    audio = bursts("abcdef")  # 1.2 s at 24 kHz
    em = aligner.emissions(audio, SR)
    assert em.samples_per_frame == HOP and aligner.hop_length == 320
    assert em.log_probs.shape == (59, 10)  # 19200 samples at 16 kHz -> (19200 - 400) // 320 + 1 frames
    assert torch.allclose(em.log_probs.exp().sum(-1), torch.ones(59), atol=1e-5)
    out = redact(audio, "ab [cd] ef", aligner)
    assert out.dim() == 1 and 0 < out.shape[-1] < audio.shape[-1]
    assert aligner.emissions(torch.zeros(100), SR).log_probs.shape == (1, 10)  # shorter than one frame


def test_wav2vec_aligner_arguments_are_checked():
    with pytest.raises(InvalidInputError, match="both model and vocab"):
        Wav2VecAligner(model=torch.nn.Linear(1, 1))
    with pytest.raises(CheckpointError, match="do not belong together"):
        Wav2VecAligner(model=tiny_model(vocab_size=5), vocab=VOCAB).load()


def fake_hub_repo(cache, repo_id: str) -> object:
    """A Hugging Face cache entry (refs/main -> snapshots/<commit>/) for ``repo_id``; returns the snapshot folder."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "snapshots" / commit).mkdir(parents=True)
    return root / "snapshots" / commit


def test_wav2vec_aligner_loads_from_the_hub_cache(tmp_path):
    tiny_model().save_pretrained(fake_hub_repo(tmp_path, "test/tiny-w2v"))
    vocab_dir = fake_hub_repo(tmp_path, "test/symbols")
    (vocab_dir / "vocab.json").write_text(json.dumps(dict(VOCAB.tokens)))
    (vocab_dir / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>", "word_delimiter_token": "|"}))
    aligner = Wav2VecAligner(
        model_id="test/tiny-w2v", vocab_id="test/symbols", cache_dir=tmp_path, local_files_only=True
    )
    em = aligner.emissions(bursts("ab"), SR)
    assert em.log_probs.shape[-1] == 10 and aligner.vocab.blank_id == 0 and aligner.vocab.encode("a b") == [2, 1, 3]


def test_wav2vec_aligner_missing_model_says_how_to_get_it(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(ModelNotFoundError) as info:
        Wav2VecAligner(cache_dir=tmp_path, local_files_only=True).load()
    message = str(info.value)
    assert "jbetker/wav2vec2-large-robust-ft-libritts-voxpopuli" in message and str(tmp_path) in message
    assert "HF_HOME" in message and "tortoise-tts models download" in message


def test_wav2vec_aligner_unreachable_hub(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("cannot reach the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelNotFoundError, match="could not be downloaded: cannot reach the hub"):
        Wav2VecAligner(cache_dir=tmp_path).load()


def test_wav2vec_aligner_without_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(RedactionUnavailableError, match=r"pip install 'tortoise-tts-oneapi\[redaction\]'"):
        Wav2VecAligner().load()


def test_wav2vec_aligner_cached_looks_at_the_cache_only(tmp_path, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError("cached() must not download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    aligner = Wav2VecAligner(model_id="test/tiny-w2v", vocab_id="test/symbols", cache_dir=tmp_path)
    assert not aligner.cached()
    tiny_model().save_pretrained(fake_hub_repo(tmp_path, "test/tiny-w2v"))
    assert not aligner.cached(), "the vocabulary is still missing"
    (fake_hub_repo(tmp_path, "test/symbols") / "vocab.json").write_text(json.dumps(dict(VOCAB.tokens)))
    assert aligner.cached() and not aligner._ready
    assert Wav2VecAligner(model=tiny_model(), vocab=VOCAB).cached()
