"""Candidate post-processing: stop-code fixing, calm-run trimming, best-k selection."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tortoise.candidates import (
    CALM_TOKEN,
    calm_cutoff,
    fix_autoregressive_output,
    score_candidates,
    select_best,
    speech_length,
)
from tortoise.errors import InvalidInputError

STOP = 8193


def _fix_reference(row: torch.Tensor) -> torch.Tensor:
    """The original's per-row algorithm, written out literally."""
    codes = row.clone()
    stops = (codes == STOP).nonzero()
    if len(stops) == 0:
        return codes
    codes[stops] = 83
    stm = int(stops.min())
    codes[stm:] = 83
    if stm - 3 < codes.shape[0]:
        codes[-3], codes[-2], codes[-1] = 45, 45, 248
    return codes


def _cutoff_reference(codes: torch.Tensor) -> int:
    run = 0
    for k in range(codes.shape[-1]):
        run = run + 1 if int(codes[k]) == CALM_TOKEN else 0
        if run > 8:
            return k
    return codes.shape[-1]


def test_fix_fills_calm_after_the_first_stop_and_ends_with_the_tail():
    codes = torch.tensor([[5, 6, STOP, 7, STOP, STOP, STOP, STOP, STOP, STOP], [1, 2, 3, 4, 5, STOP, 0, 0, 0, STOP]])
    fixed = fix_autoregressive_output(codes)
    assert fixed.tolist() == [[5, 6, 83, 83, 83, 83, 83, 45, 45, 248], [1, 2, 3, 4, 5, 83, 83, 45, 45, 248]]
    assert codes[0, 2] == STOP  # input untouched


def test_fix_with_the_stop_at_the_end_and_one_dimensional_input():
    assert fix_autoregressive_output(torch.tensor([1, 2, 3, 4, 5, STOP])).tolist() == [1, 2, 3, 45, 45, 248]


def test_fix_leaves_a_row_without_stop_and_warns():
    codes = torch.tensor([[1, 2, 3, 4], [1, STOP, 2, 3]])
    with pytest.warns(UserWarning, match=r"candidate\(s\) \[0\]"):
        fixed = fix_autoregressive_output(codes)
    assert fixed[0].tolist() == [1, 2, 3, 4]
    assert fixed[1].tolist() == [1, 45, 45, 248]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0, 45, 83, 248, 1000, STOP]), min_size=3, max_size=40), min_size=1, max_size=4)
)
def test_fix_equals_the_original_algorithm(rows):
    T = min(len(r) for r in rows)
    codes = torch.tensor([r[:T] for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = fix_autoregressive_output(codes)
    assert torch.equal(fixed, torch.stack([_fix_reference(r) for r in codes]))


def test_calm_cutoff_is_the_ninth_consecutive_calm_code():
    assert calm_cutoff(torch.tensor([CALM_TOKEN] * 12)) == 8
    codes = torch.tensor([1] + [CALM_TOKEN] * 8 + [2] + [CALM_TOKEN] * 9 + [3])
    assert calm_cutoff(codes) == 18  # the first run has only 8
    assert calm_cutoff(torch.tensor([1, 2, 3])) == 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([CALM_TOKEN, CALM_TOKEN, CALM_TOKEN, 7]), min_size=1, max_size=60))
def test_calm_cutoff_equals_the_original_loop(codes):
    t = torch.tensor(codes)
    assert calm_cutoff(t) == _cutoff_reference(t)


def test_calm_cutoff_keeps_the_speech_and_eight_calm_codes():
    codes = fix_autoregressive_output(torch.tensor([5, 6, 7, STOP] + [STOP] * 16))  # calm from index 3
    assert calm_cutoff(codes) == 11  # 3 speech codes + 8 calm ones: the latents the pipeline keeps


def test_select_best_returns_the_top_k_indices_best_first():
    scores = torch.tensor([0.1, 0.9, -0.3, 0.5])
    assert select_best(scores, 1).tolist() == [1]
    assert select_best(scores, 3).tolist() == [1, 3, 0]
    for k in (0, 5):
        with pytest.raises(InvalidInputError):
            select_best(scores, k)


def test_speech_length_counts_the_codes_through_the_first_stop():
    assert speech_length(torch.tensor([5, 6, STOP, 7, STOP])) == 3
    assert speech_length(torch.tensor([STOP, STOP])) == 1
    assert speech_length(torch.tensor([1, 2, 3])) == 3  # cut off at max_mel_tokens: every code


class _Scorer:
    """Scores a row by its first code, times ``scale`` (a stand-in with CLVP's and CVVP's call signatures)."""

    def __init__(self, scale: float):
        self.scale = scale

    def similarity(self, text, codes):
        return codes[:, 0].float() * self.scale

    def score(self, mel, codes):
        return codes[:, 0].float() * self.scale + mel.sum()


def test_score_candidates_mixes_clvp_and_the_clip_mean_of_cvvp_as_the_original():
    codes = torch.arange(5)[:, None].repeat(1, 4)  # first codes 0..4
    mels = [torch.zeros(1, 2, 3), torch.ones(1, 2, 3)]  # sums 0 and 6: the clip mean adds 3
    clvp, cvvp = _Scorer(1.0), _Scorer(2.0)
    s = score_candidates(torch.zeros(1, 3), codes, clvp=clvp, cvvp=cvvp, cond_mels=mels, cvvp_amount=0.25, batch=2)
    torch.testing.assert_close(s.clvp, torch.arange(5.0))
    torch.testing.assert_close(s.cvvp, torch.arange(5.0) * 2 + 3)
    torch.testing.assert_close(s.total, s.cvvp * 0.25 + s.clvp * 0.75)
    only_cvvp = score_candidates(torch.zeros(1, 3), codes, cvvp=_Scorer(2.0), cond_mels=mels, cvvp_amount=1.0)
    assert only_cvvp.clvp is None and torch.equal(only_cvvp.total, only_cvvp.cvvp)
    no_clips = score_candidates(torch.zeros(1, 3), codes, clvp=_Scorer(1.0), cvvp_amount=0.5)  # random voice
    assert no_clips.cvvp is None and torch.equal(no_clips.total, no_clips.clvp)
    with pytest.raises(InvalidInputError, match="CLVP"):
        score_candidates(torch.zeros(1, 3), codes, cvvp_amount=0.0)
    with pytest.raises(InvalidInputError, match="CVVP"):
        score_candidates(torch.zeros(1, 3), codes, clvp=_Scorer(1.0), cond_mels=mels, cvvp_amount=0.5)
