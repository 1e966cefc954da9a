"""The original's glue between the stages: voice mixing by clip, the conditioning window, ranking every candidate."""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from tortoise.audio import COND_LENGTH, ar_mel, conditioning_window, format_conditioning
from tortoise.conditioning import Latents, compute_latents, load_clips, mix
from tortoise.options import preset


def _latents(value: float, n_clips: int) -> Latents:
    return Latents(
        torch.full((1, 4), value), torch.full((1, 6), -value), tuple(torch.zeros(1, 10) for _ in range(n_clips))
    )


def test_mix_weighs_each_voice_by_its_clip_count():
    a, b = _latents(3.0, 2), _latents(0.0, 1)
    both = mix([a, b])
    torch.testing.assert_close(both.ar, torch.full((1, 4), 2.0))  # (2 * 3 + 1 * 0) / 3
    torch.testing.assert_close(both.diffusion, torch.full((1, 6), -2.0))
    assert len(both.clips) == 3


def test_mix_counts_a_latents_only_voice_as_one_clip():
    saved = Latents(torch.full((1, 4), 4.0), torch.zeros(1, 6))  # latents.pth: no clips
    torch.testing.assert_close(mix([saved, _latents(1.0, 3)]).ar, torch.full((1, 4), 7.0 / 4))
    other = Latents(torch.zeros(1, 4), torch.zeros(1, 6))
    torch.testing.assert_close(mix([saved, other]).ar, torch.full((1, 4), 2.0))  # equal, as the original mixes them


def test_a_mix_is_the_latent_of_all_clips_together(tts_factory):
    tts = tts_factory()
    both = tts.voice_latents("train_grace&train_daws")
    clips = load_clips(tts.voices.get("train_grace")) + load_clips(tts.voices.get("train_daws"))
    together = compute_latents(tts.model("autoregressive"), tts.model("diffusion_decoder"), clips)
    torch.testing.assert_close(both.ar, together.ar, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both.diffusion, together.diffusion, atol=1e-5, rtol=1e-5)
    cached = tts_factory().voice_latents("train_grace&train_daws")  # from the latent cache: the same weights
    torch.testing.assert_close(cached.ar, both.ar)


def test_a_long_clip_is_conditioned_on_its_middle_six_seconds_whatever_the_seed():
    wav = torch.arange(COND_LENGTH + 1001, dtype=torch.float32)[None] / 1e6
    assert torch.equal(conditioning_window(wav), wav[:, 500 : 500 + COND_LENGTH])
    short = torch.ones(1, 100)
    assert torch.equal(conditioning_window(short), short)
    noise = torch.randn(1, COND_LENGTH + 30_000, generator=torch.Generator().manual_seed(0)) * 0.1
    random.seed(1)
    first = format_conditioning(noise)
    random.seed(2)
    assert torch.equal(format_conditioning(noise), first)
    torch.testing.assert_close(first, ar_mel(noise[:, 15_000 : 15_000 + COND_LENGTH]))


def test_cvvp_scores_the_window_the_ar_latent_was_computed_from(tts_factory):
    """Both built-in train_grace clips are longer than 6 s: each must be cut the same way for both models."""
    tts = tts_factory()
    ar, cvvp = tts.model("autoregressive"), tts.model("cvvp")
    seen_ar, seen_cvvp = [], []
    get_conditioning, score = ar.get_conditioning, cvvp.score

    def spy_ar(mels):
        seen_ar.append(mels.clone())  # (1, n_clips, 80, 517)
        return get_conditioning(mels)

    def spy_cvvp(mel, codes):
        seen_cvvp.append(mel.clone())  # (1, 80, 517), once per clip and batch of candidates
        return score(mel, codes)

    ar.get_conditioning, cvvp.score = spy_ar, spy_cvvp
    options = preset("ultra_fast", num_autoregressive_samples=2, diffusion_steps=2, max_mel_tokens=40, cvvp_amount=0.5)
    tts.tts("Same window.", "train_grace", options)
    (ar_mels,) = seen_ar
    assert ar_mels.shape[1] == len(seen_cvvp) == 2
    for i, mel in enumerate(seen_cvvp):
        torch.testing.assert_close(mel.reshape(ar_mels.shape[2:]), ar_mels[0, i])


def test_when_every_candidate_is_returned_they_are_ranked_best_first(tts_factory):
    tts = tts_factory()
    options = preset("ultra_fast", num_autoregressive_samples=3, diffusion_steps=2, max_mel_tokens=40, seed=5)
    one = tts.tts("Rank them all.", "train_grace", options)
    every = tts.tts("Rank them all.", "train_grace", replace(options, candidates=3))
    assert every.scores == one.scores and len(set(every.scores)) == 3  # CLVP ran, as for k < N
    assert every.chosen == sorted(range(3), key=lambda i: -every.scores[i])
    # -o and combined.wav take the best one. Not bit-exact: with k = 3 the GPT latents of the 3 candidates are one
    # batched product, which rounds differently from one row (1.7e-5 measured on one CPU; 1e-3 leaves room for others)
    torch.testing.assert_close(every.audio[0], one.audio[0], atol=1e-3, rtol=0)
