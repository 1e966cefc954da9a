"""Logits processors, the multinomial draw, and the decode loop's stop handling (with a scripted stand-in model)."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch

from tortoise.errors import InvalidInputError
from tortoise.sampling import SamplingParams as P
from tortoise.sampling import (
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    candidate_keys,
    generate,
    generate_chunks,
    keyed_exponential,
    logits_to_probs,
    multinomial_sample_keyed,
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
    out = process_logits(logits, seen, P(temperature=0.8, top_k=50, top_p=0.8, repetition_penalty=2.0))
    assert torch.equal(out, expected)
    probs = logits_to_probs(logits, seen, P(temperature=0.8, top_k=50, top_p=0.8, repetition_penalty=2.0))
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert ((probs > 0).sum(-1) <= 50).all()


def test_processors_run_in_float32_for_half_logits():
    logits = torch.randn(2, 100).half()
    seen = torch.zeros(2, 100, dtype=torch.bool)
    out = process_logits(logits, seen, P(temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=2.0))
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

    def next_logits(self, x, pos):
        self.calls += 1
        step = int(pos.index[-1]) - self.E  # 0 after the prefill
        assert int(pos.index[-1]) < self.max_seq
        assert pos.end == int(pos.index[-1]) + 1  # the host-side filled length agrees with the device positions
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
        sampling=P(greedy=True),
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
        sampling=P(greedy=True),
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
        sampling=P(temperature=0.1, repetition_penalty=1.0),
        generator=torch.Generator().manual_seed(0),
    )
    greedy = generate(
        ScriptedModel(stop_at=[3, 100, 6]),
        torch.zeros(1, 1),
        torch.zeros(1, 2, dtype=torch.long),
        num_samples=3,
        max_tokens=12,
        sampling=P(greedy=True),
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
    settings = {k: v for k, v in kwargs.items() if k in P.__dataclass_fields__}  # SamplingParams checks these
    args = {"num_samples": 1, "max_tokens": 4, **{k: v for k, v in kwargs.items() if k not in settings}}
    with pytest.raises(InvalidInputError, match=match):
        generate(ScriptedModel([1]), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), sampling=P(**settings),
                 **args)  # fmt: skip


# ---- per-candidate streams ------------------------------------------------------------------------------------------
def test_keyed_draws_follow_the_distribution_across_candidates_and_along_one_stream():
    p = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0])
    n = 40_000
    tol = 5 * (p.double() * (1 - p.double()) / n).sqrt()  # 5 standard errors of a binomial proportion
    across = multinomial_sample_keyed(p.expand(n, -1), candidate_keys(3, range(n)), torch.tensor([7]))
    one_key = candidate_keys(3, [0]).expand(n)
    along = multinomial_sample_keyed(p.expand(n, -1), one_key, torch.arange(n))  # candidate 0 at n positions
    for ids in (across, along):
        freq = torch.bincount(ids, minlength=5).double() / n
        assert freq[4] == 0
        assert ((freq - p.double()).abs() <= tol + 1e-12).all(), freq


def test_keyed_noise_is_exponential_and_uncorrelated_between_codes_steps_and_candidates():
    keys = candidate_keys(11, range(64))
    a = keyed_exponential(keys, torch.tensor([5]), 2000)  # (64, 2000)
    b = keyed_exponential(keys, torch.tensor([6]), 2000)
    assert a.shape == (64, 2000) and a.dtype == torch.float32 and bool((a > 0).all()) and bool(torch.isfinite(a).all())
    assert abs(a.mean().item() - 1) < 0.02 and abs(a.var().item() - 1) < 0.05  # Exp(1): mean 1, variance 1
    for x, y in ((a, b), (a[:-1], a[1:]), (a[:, :-1], a[:, 1:])):  # next step, next candidate, next code
        r = torch.corrcoef(torch.stack([x.reshape(-1), y.reshape(-1)]))[0, 1].item()
        assert abs(r) < 0.01, r


def test_keyed_noise_is_a_pure_function_of_seed_candidate_position_and_code():
    state = torch.get_rng_state()
    pos = torch.tensor([9])
    whole = keyed_exponential(candidate_keys(5, range(4)), pos, 300)
    parts = torch.cat([keyed_exponential(candidate_keys(5, r), pos, 300) for r in (range(0, 1), range(1, 4))])
    assert torch.equal(whole, parts)  # the same candidate gets the same noise in any split
    assert torch.equal(whole[:, :100], keyed_exponential(candidate_keys(5, range(4)), pos, 100))
    assert not torch.equal(whole, keyed_exponential(candidate_keys(6, range(4)), pos, 300))  # another seed
    assert torch.equal(torch.get_rng_state(), state)  # no generator is used or advanced
    big = candidate_keys(2**64 - 1, range(2))
    assert big.dtype == torch.int64 and bool((big >= 0).all())
    with pytest.raises(InvalidInputError, match="seed"):
        candidate_keys(-1, range(2))


class TableModel:
    """Stand-in AR model with a real distribution: the next logits are a fixed random row per (last code, position).

    Rows never interact, so any difference between batch splits can only come from the draws.
    """

    E = 3

    def __init__(self, V: int = 24, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.cfg = SimpleNamespace(start_mel_token=V - 2, stop_mel_token=V - 1, number_mel_codes=V, max_mel_tokens=64)
        self.table = torch.randn(V, V, generator=g) * 1.5
        self.table[:, V - 1] -= 2.5  # the stop code is rare: sequences run a while, and stop at different times
        self.shift = torch.randn(128, V, generator=g) * 0.5

    def prefix(self, cond_latent, text_tokens):
        return torch.zeros(1, self.E, 1)

    def embed_mel(self, codes, positions):
        return codes[..., None].float()

    def setup_caches(self, max_batch, max_seq):
        pass

    def next_logits(self, x, pos):
        return self.table[x[:, -1, 0].long()] + self.shift[pos.index[-1]]


UNFILTERED = P(top_k=0, top_p=1.0)  # draws from the whole distribution


def _table_codes(split: list[int], seed: int = 42, **kw) -> torch.Tensor:
    out, start = [], 0
    for n in split:
        keys = candidate_keys(seed, range(start, start + n))
        out.append(generate(TableModel(), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), num_samples=n,
                            max_tokens=40, sampling=UNFILTERED, streams=keys, stop_check_every=5, **kw))  # fmt: skip
        start += n
    return torch.cat(out)


def test_keyed_codes_do_not_depend_on_the_batch_split():
    codes = _table_codes([4])
    assert len({tuple(row.tolist()) for row in codes}) == 4  # four different samples
    assert ((codes == 23).any(dim=1)).any()  # some rows stop early, so the batches run for different lengths
    for split in ([1, 1, 1, 1], [2, 2], [1, 3], [3, 1]):
        assert torch.equal(_table_codes(split), codes), split
    assert not torch.equal(_table_codes([4], seed=43), codes)


def test_generator_draws_depend_on_the_batch_split():
    """The original's mode, kept for parity: one draw per step for the whole batch (why streams exist)."""

    def sample(n: int) -> torch.Tensor:
        return generate(TableModel(), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), num_samples=n,
                        max_tokens=40, sampling=UNFILTERED, generator=torch.Generator().manual_seed(42))  # fmt: skip

    assert not torch.equal(torch.cat([sample(2), sample(2)]), sample(4))


def test_streamed_chunks_have_the_keyed_codes():
    keys = candidate_keys(42, range(4))
    chunks = generate_chunks(TableModel(), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), num_samples=4,
                             max_tokens=40, sampling=UNFILTERED, streams=keys, stop_check_every=5)  # fmt: skip
    streamed = torch.cat(list(chunks), dim=1)
    assert torch.equal(streamed, _table_codes([4])[:, : streamed.shape[1]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"streams": candidate_keys(1, range(3))}, r"\(2,\) keys"),
        ({"streams": candidate_keys(1, range(2)), "generator": torch.Generator()}, "generator"),
    ],
)
def test_bad_streams_are_rejected(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        generate(TableModel(), torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long), num_samples=2, max_tokens=4,
                 **kwargs)  # fmt: skip


# ---- the settings and the decode step as values ---------------------------------------------------------------------
def test_settings_come_from_generation_options():
    from tortoise.options import PRESETS, GenerationOptions

    o = PRESETS["ultra_fast_fork"]
    assert P.from_options(o) == P(temperature=o.temperature, top_p=o.top_p, top_k=o.top_k,
                                  repetition_penalty=o.repetition_penalty)  # fmt: skip
    assert P.from_options(GenerationOptions()) == P()  # the same defaults: the original's settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        P().temperature = 1.0


def test_a_given_step_decodes_every_code_after_the_prefill():
    """The prefill runs the model; each later code comes from ``step``, given the cache position as one value."""
    model = ScriptedModel(stop_at=[100, 100])
    seen = []

    def step(x, pos):
        seen.append((pos.index.tolist(), pos.end))
        return model.next_logits(x, pos)

    args = (torch.zeros(1, 1), torch.zeros(1, 2, dtype=torch.long))
    codes = generate(model, *args, num_samples=2, max_tokens=7, sampling=P(greedy=True), stop_check_every=4, step=step)
    E = ScriptedModel.E
    assert seen == [([E + i], E + i + 1) for i in range(1, 7)]  # one slot per code, across the stop checks
    plain = generate(ScriptedModel([100, 100]), *args, num_samples=2, max_tokens=7, sampling=P(greedy=True))
    assert torch.equal(codes, plain)
