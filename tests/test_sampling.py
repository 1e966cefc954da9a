"""Logits processors, the multinomial draw, and the decode loop's stop handling (with a scripted stand-in model)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from tortoise.errors import InvalidInputError
from tortoise.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    generate,
    logits_to_probs,
    multinomial_sample_one,
    process_logits,
)

NEG = float("-inf")


# ---- processors ---------------------------------------------------------------------------------------------------
def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_scores():
    logits = torch.tensor([[2.0, -2.0, 3.0, -1.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert torch.equal(out, torch.tensor([[1.0, -4.0, 3.0, -1.0]]))
    assert apply_repetition_penalty(logits, seen, 1.0) is logits


def test_temperature_scales_scores():
    logits = torch.tensor([[1.0, -0.5]])
    assert torch.equal(apply_temperature(logits, 0.5), torch.tensor([[2.0, -1.0]]))
    assert apply_temperature(logits, 1.0) is logits


def test_top_k_keeps_the_k_best_and_ties_at_the_boundary():
    logits = torch.tensor([[5.0, 1.0, 3.0, 3.0, 0.0]])
    assert torch.equal(apply_top_k(logits, 2), torch.tensor([[5.0, NEG, 3.0, 3.0, NEG]]))
    assert torch.equal(apply_top_k(logits, 1), torch.tensor([[5.0, NEG, NEG, NEG, NEG]]))
    assert apply_top_k(logits, 0) is logits
    assert apply_top_k(logits, 5) is logits


def test_top_p_drops_the_low_tail_of_mass_at_most_1_minus_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    # ascending cumulative mass: 0.05, 0.20, 0.50, 1.0
    assert torch.isinf(apply_top_p(logits, 0.8)).tolist() == [[False, False, True, True]]
    assert torch.isinf(apply_top_p(logits, 0.81)).tolist() == [[False, False, False, True]]
    assert torch.isinf(apply_top_p(logits, 0.01)).tolist() == [[False, True, True, True]]  # min_keep = 1
    assert torch.isinf(apply_top_p(logits, 0.01, min_keep=2)).tolist() == [[False, False, True, True]]
    assert apply_top_p(logits, 1.0) is logits


def test_top_p_works_per_row_and_keeps_unsorted_order():
    logits = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.7, 0.1, 0.1, 0.1]]).log()
    kept = ~torch.isinf(apply_top_p(logits, 0.7))
    assert kept.tolist() == [[False, True, False, True], [True, False, False, False]]


def test_process_logits_applies_the_original_order():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 200, generator=g) * 3
    seen = torch.rand(3, 200, generator=g) < 0.2
    expected = apply_top_p(apply_top_k(apply_temperature(apply_repetition_penalty(logits, seen, 2.0), 0.8), 50), 0.8)
    out = process_logits(logits, seen, temperature=0.8, top_k=50, top_p=0.8, repetition_penalty=2.0)
    assert torch.equal(out, expected)
    probs = logits_to_probs(logits, seen, temperature=0.8, top_k=50, top_p=0.8, repetition_penalty=2.0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert ((probs > 0).sum(-1) <= 50).all()


def test_processors_run_in_float32_for_half_logits():
    logits = torch.randn(2, 100).half()
    seen = torch.zeros(2, 100, dtype=torch.bool)
    out = process_logits(logits, seen, temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=2.0)
    assert out.dtype == torch.float32


# ---- the draw -----------------------------------------------------------------------------------------------------
def test_sample_one_draws_what_torch_multinomial_draws():
    """Same generator state -> the same ids as torch.multinomial(probs, 1), and the same state afterwards."""
    g = torch.Generator().manual_seed(5)
    probs = torch.softmax(torch.randn(4, 1000, generator=g) * 2, dim=-1)
    probs[:, ::3] = 0
    a, b = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    for _ in range(20):
        assert torch.equal(multinomial_sample_one(probs, a), torch.multinomial(probs, 1, generator=b)[:, 0])
    assert torch.equal(a.get_state(), b.get_state())


def test_sample_one_follows_the_distribution():
    p = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0])
    n = 40_000
    ids = multinomial_sample_one(p.expand(n, -1), torch.Generator().manual_seed(0))
    freq = torch.bincount(ids, minlength=5).double() / n
    assert freq[4] == 0
    # 5 standard errors of a binomial proportion
    tol = 5 * (p.double() * (1 - p.double()) / n).sqrt()
    assert ((freq - p.double()).abs() <= tol + 1e-12).all(), freq


# ---- the loop, with a scripted model --------------------------------------------------------------------------------
class ScriptedModel:
    """Stand-in AR model: row b emits code ``step % 8`` and the stop code at step ``stop_at[b]``, then resumes."""

    E = 3  # prefix length

    def __init__(self, stop_at: list[int]):
        self.cfg = SimpleNamespace(start_mel_token=8, stop_mel_token=9, number_mel_codes=10, max_mel_tokens=100)
        self.stop_at = torch.tensor(stop_at)
        self.calls = 0
        self.mel_positions: list[list[int]] = []

    def prefix(self, cond_latent, text_tokens):
        return torch.zeros(1, self.E, 1)

    def embed_mel(self, codes, positions):
        self.mel_positions.append(positions.tolist())
        return codes[..., None].float()

    def setup_caches(self, max_batch, max_seq):
        self.max_seq = max_seq

    def next_logits(self, x, input_pos, kv_len=None):
        self.calls += 1
        step = int(input_pos[-1]) - self.E  # 0 after the prefill
        assert int(input_pos[-1]) < self.max_seq
        B = x.shape[0]
        ids = torch.where(self.stop_at == step, 9, step % 8)
        return torch.nn.functional.one_hot(ids, 10).float().reshape(B, 10) * 10


def test_rows_stop_independently_and_are_padded_with_stop():
    model = ScriptedModel(stop_at=[5, 9])
    seen_progress = []
    codes = generate(
        model,
        torch.zeros(1, 1),
        torch.zeros(1, 2, dtype=torch.long),
        num_samples=2,
        max_tokens=40,
        greedy=True,
        stop_check_every=4,
        progress=lambda done, total: seen_progress.append((done, total)),
    )
    assert codes.shape == (2, 40)
    assert codes[0, :5].tolist() == [0, 1, 2, 3, 4] and (codes[0, 5:] == 9).all()  # no resuming after its stop
    assert codes[1, :9].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0] and (codes[1, 9:] == 9).all()
    # all rows stopped at step 9; the loop notices at the next check (after 13 codes) and pads the rest
    assert model.calls == 13
    assert seen_progress == [(1, 40), (5, 40), (9, 40), (13, 40)]


@pytest.mark.parametrize(("shifted", "first_fed"), [(False, 1), (True, 2)])
def test_mel_positions(shifted, first_fed):
    model = ScriptedModel(stop_at=[100])
    generate(
        model,
        torch.zeros(1, 1),
        torch.zeros(1, 2, dtype=torch.long),
        num_samples=1,
        max_tokens=5,
        greedy=True,
        shifted_positions=shifted,
    )
    assert model.mel_positions == [[0]] + [[first_fed + i] for i in range(4)]


def test_sampling_with_a_peaked_distribution_is_the_argmax():
    model = ScriptedModel(stop_at=[3, 100, 6])
    codes = generate(
        model,
        torch.zeros(1, 1),
        torch.zeros(1, 2, dtype=torch.long),
        num_samples=3,
        max_tokens=12,
        temperature=0.1,
        repetition_penalty=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    greedy = generate(
        ScriptedModel(stop_at=[3, 100, 6]),
        torch.zeros(1, 1),
        torch.zeros(1, 2, dtype=torch.long),
        num_samples=3,
        max_tokens=12,
        greedy=True,
    )
    assert torch.equal(codes, greedy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 101}, "max_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"stop_check_every": 0}, "stop_check_every"),
        ({"temperature": math.nan}, "temperature"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, match):
    args = {"num_samples": 1, "max_tokens": 4, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        generate(ScriptedModel([1]), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), **args)
