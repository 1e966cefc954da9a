"""Fast mode (HiFi-GAN decoder) and streaming: chunks as they are ready, seams cross-faded, same audio at the end."""

from __future__ import annotations

import torch

from tortoise.candidates import STOP_TOKEN
from tortoise.options import preset
from tortoise.streaming import CrossFader
from tortoise.text import split_text


def test_crossfader_reassembles_a_stable_signal_exactly():
    signal = torch.randn(10_000)
    fader = CrossFader(overlap=256)
    chunks = [fader.push(signal[:n]) for n in (3000, 5000, 8000)] + [fader.push(signal, final=True)]
    torch.testing.assert_close(torch.cat(chunks), signal)


def test_crossfader_blends_a_changed_seam_linearly():
    fader = CrossFader(overlap=100)
    first = fader.push(torch.zeros(1000))
    assert first.shape[0] == 900  # the last 100 samples are held back
    second = fader.push(torch.ones(1500), final=True)
    assert second.shape[0] == 600
    seam = second[:100]
    assert seam[0] < 0.05 and seam[-1] > 0.95 and bool((seam[1:] >= seam[:-1]).all())
    assert bool((second[100:] == 1).all())


def _fast(**kw):
    return preset("fast_mode", **{"seed": 11, "max_mel_tokens": 120, **kw})


def test_fast_mode_skips_diffusion_and_clvp(tts_factory):
    tts = tts_factory()
    result = tts.tts("A quick one.", "train_grace", _fast())
    assert result.audio[0].numel() > 0 and torch.isfinite(result.audio[0]).all()
    assert "diffusion" not in result.timings and "vocoder" in result.timings
    assert "diffusion_decoder" not in tts.models.loaded and "clvp2" not in tts.models.loaded
    assert "hifidecoder" in tts.models.loaded


def _long_seed(tts, text):
    """A seed whose sample runs long enough to stream in several chunks (random weights stop at random times)."""
    for seed in range(40):
        n = tts.tts(text, "train_grace", _fast(seed=seed)).audio[0].numel()
        if n >= 30 * 1024:
            return seed
    raise AssertionError("no long sample found")


def test_stream_yields_early_chunks_that_end_in_the_same_audio(tts_factory):
    tts = tts_factory()
    text = "Streaming speech, chunk by chunk."
    seed = _long_seed(tts, text)
    whole = tts.tts(text, "train_grace", _fast(seed=seed)).audio[0]
    chunks = list(tts.stream(text, "train_grace", _fast(seed=seed), chunk_tokens=8, first_chunk_tokens=8))
    assert len(chunks) >= 3
    streamed = torch.cat(chunks)
    assert streamed.shape == whole.shape
    last = chunks[-1].shape[0]
    torch.testing.assert_close(streamed[-last + 1024 :], whole[-last + 1024 :])  # after the last seam: identical


def test_standard_mode_streams_one_chunk_per_segment(tts_factory):
    tts = tts_factory()
    text = "First sentence here. " * 12 + "|And a forced second segment."
    options = preset("ultra_fast", num_autoregressive_samples=2, diffusion_steps=3, seed=2)
    chunks = list(tts.stream(text, "random", options))
    assert len(chunks) == len(split_text(text)) == 3 and all(c.numel() > 0 for c in chunks)


def test_a_stream_splits_as_asked(tts_factory):
    tts = tts_factory()
    text = "One short sentence. Another short sentence. A third one here."  # one segment at the default lengths
    options = preset("ultra_fast", num_autoregressive_samples=1, diffusion_steps=2, max_mel_tokens=20, seed=2)
    chunks = list(tts.stream(text, "random", options, desired_length=20, max_length=40))
    assert len(chunks) == len(split_text(text, desired_length=20, max_length=40)) == 3


def test_a_redacted_segment_streams_whole_and_cut(tts_factory):
    from tests.tiny_wav2vec import tiny_aligner

    text = "[Whispering,] this part is spoken."
    tts = tts_factory(aligner=tiny_aligner())
    chunks = list(tts.stream(text, "train_grace", _fast(seed=3), chunk_tokens=4, first_chunk_tokens=4))
    whole = tts.tts(text, "train_grace", _fast(seed=3)).audio[0]
    assert len(chunks) == 1
    torch.testing.assert_close(chunks[0], whole)


def _spy_latents(tts) -> list[torch.Tensor]:
    """Record the codes every GPT-latent pass gets (the HiFi-GAN decoder's input)."""
    ar, seen = tts.model("autoregressive"), []
    latents = ar.latents

    def spy(cond, text, codes):
        seen.append(codes.clone())
        return latents(cond, text, codes)

    ar.latents = spy
    return seen


def _ends_at_its_first_stop(codes: torch.Tensor) -> bool:
    stops = (codes[0] == STOP_TOKEN).nonzero().flatten().tolist()
    return stops == [codes.shape[1] - 1]


def test_fast_mode_vocodes_the_raw_codes_up_to_the_stop_code(tts_factory):
    """The original's api_fast: no end-of-speech fix (83 ... 45 45 248) and no trim after 8 calm codes."""
    tts = tts_factory()
    seen = _spy_latents(tts)
    result = tts.tts("Stop where it stops.", "train_grace", _fast(max_mel_tokens=600))
    (codes,) = seen
    assert _ends_at_its_first_stop(codes), codes
    hifi = tts.model("hifidecoder")
    expected = hifi.inference(
        torch.zeros(1, codes.shape[1], hifi.cfg.in_channels), torch.zeros(1, hifi.cfg.cond_channels)
    )
    assert result.audio[0].numel() == expected.numel()


def test_a_stream_ends_with_the_raw_codes_up_to_the_stop_code(tts_factory):
    tts = tts_factory()
    seen = _spy_latents(tts)
    chunks = list(tts.stream("Stop where it stops.", "train_grace", _fast(max_mel_tokens=600), chunk_tokens=8))
    assert _ends_at_its_first_stop(seen[-1]), seen[-1]
    assert all(STOP_TOKEN not in c for c in seen[:-1])  # the partial decodes come before the stop
    whole = tts.tts("Stop where it stops.", "train_grace", _fast(max_mel_tokens=600)).audio[0]
    assert torch.cat(chunks).shape == whole.shape
