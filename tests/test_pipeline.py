"""The whole pipeline, text -> 24 kHz audio, through the real loading code on tiny random-weight models."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

from tests.tiny_wav2vec import tiny_aligner
from tortoise.api import STAGES
from tortoise.errors import InvalidInputError, ModelNotFoundError, VoiceError
from tortoise.options import preset

QUICK = dict(num_autoregressive_samples=4, diffusion_steps=4, max_mel_tokens=80, seed=7)


def quick(**overrides):
    return preset("ultra_fast", **{**QUICK, **overrides})


def test_text_to_audio_reports_everything(tts_factory):
    tts = tts_factory()
    seen = []
    result = tts.tts("Hello world, this is a test.", "train_grace", quick(), progress=lambda s, f: seen.append((s, f)))
    wav = result.audio[0]
    assert result.sample_rate == 24000 and wav.dtype == torch.float32 and wav.ndim == 1
    assert wav.shape[0] % 256 == 0 and wav.shape[0] > 0
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1.0
    assert set(result.timings) == set(STAGES) and all(t >= 0 for t in result.timings.values())
    assert result.real_time_factor > 0 and result.seed == 7
    assert len(result.scores) == 4 and len(result.chosen) == 1
    assert result.scores[result.chosen[0]] == max(result.scores)
    stages = [s for s, _ in seen]
    assert stages[0] == "conditioning" and set(stages) == set(STAGES)
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_same_seed_same_audio_other_seed_other_audio(tts_factory):
    tts = tts_factory()
    a = tts.tts("The same words again.", "train_dotrice", quick(seed=123)).audio[0]
    b = tts.tts("The same words again.", "train_dotrice", quick(seed=123)).audio[0]
    c = tts.tts("The same words again.", "train_dotrice", quick(seed=124)).audio[0]
    assert torch.equal(a, b)
    assert a.shape != c.shape or not torch.equal(a, c)


def test_unseeded_runs_report_their_seed_and_it_reproduces(tts_factory):
    tts = tts_factory()
    first = tts.tts("Reproduce me.", "random", quick(seed=None))
    again = tts.tts("Reproduce me.", "random", quick(seed=first.seed))
    assert torch.equal(first.audio[0], again.audio[0])


@pytest.mark.parametrize("sampler", ["p", "ddim", "dpm++2m", "dpm++2m-sde"])
def test_every_sampler_runs(tts_factory, sampler):
    result = tts_factory().tts("Samplers.", "random", quick(sampler=sampler, cond_free=sampler != "p"))
    assert torch.isfinite(result.audio[0]).all()


def test_several_candidates_and_bigvgan(tts_factory):
    result = tts_factory().tts("Two of them.", "train_daws", quick(candidates=2, vocoder="bigvgan"))
    assert len(result.audio) == 2 and len(set(result.chosen)) == 2
    ranked = sorted(range(4), key=lambda i: -result.scores[i])
    assert result.chosen == ranked[:2]


def test_cvvp_ranking_uses_the_voice_clips(tts_factory):
    tts = tts_factory()
    clvp_only = tts.tts("Rank me.", "train_grace", quick(seed=3)).scores
    mixed = tts.tts("Rank me.", "train_grace", quick(seed=3, cvvp_amount=0.5)).scores
    assert len(clvp_only) == len(mixed) and clvp_only != mixed


def test_voice_mixing_and_latent_cache(tts_factory, tmp_path):
    tts = tts_factory()
    grace = tts.voice_latents("train_grace")
    daws = tts.voice_latents("train_daws")
    both = tts.voice_latents("train_grace&train_daws")
    n_grace, n_daws = len(grace.clips), len(daws.clips)  # weighted by clip count, as the original: 2/5 : 3/5
    torch.testing.assert_close(both.ar, (n_grace * grace.ar + n_daws * daws.ar) / (n_grace + n_daws))
    cached = sorted(p.name for p in (tmp_path / "latent-cache").iterdir())
    assert len(cached) == 2 and all(n.startswith(("train_grace-", "train_daws-")) for n in cached)
    again = tts_factory().voice_latents("train_grace")  # a fresh pipeline reads the cache
    torch.testing.assert_close(again.ar, grace.ar)


def test_voice_folders_are_never_written(tts_factory):
    from tortoise.voices import builtin_voices_dirs

    root = builtin_voices_dirs()[0]
    before = sorted((p.relative_to(root), p.stat().st_mtime) for p in root.rglob("*"))
    tts_factory().tts("Do not touch.", "train_grace", quick())
    assert sorted((p.relative_to(root), p.stat().st_mtime) for p in root.rglob("*")) == before


def test_latents_only_voice(tts_factory, tmp_path):
    from tortoise.conditioning import write_latents_file

    tts = tts_factory()
    latents = tts.voice_latents("train_grace")
    write_latents_file(tmp_path / "user-voices" / "saved" / "latents.pth", latents)
    result = tts.tts("From latents.", "saved", quick())
    assert result.audio[0].numel() > 0


def test_bad_input_gives_clear_errors(tts_factory, tmp_path):
    tts = tts_factory()
    with pytest.raises(VoiceError, match="unknown voice 'nobody'"):
        tts.tts("Hi.", "nobody", quick())
    with pytest.raises(InvalidInputError, match="empty"):
        tts.tts("   ", "random", quick())
    with pytest.raises(InvalidInputError, match="temperature"):
        tts.tts("Hi.", "random", dataclasses.replace(quick(), temperature=0))
    with pytest.raises(InvalidInputError, match="unknown checkpoint"):
        tts_factory(checkpoints={"gpt5": tmp_path / "x.pth"})
    from tortoise.api import TextToSpeech

    empty = TextToSpeech(models_dir=tmp_path / "no-models", device="cpu")
    with pytest.raises(ModelNotFoundError, match="tortoise-tts models download"):
        empty.tts("Hi.", "random", quick())


def test_fine_tuned_checkpoint_replaces_the_released_one(tts_factory, tiny_models, tmp_path):
    import shutil

    custom = tmp_path / "my_finetune.pth"
    shutil.copy(tiny_models / "autoregressive.pth", custom)
    result = tts_factory(checkpoints={"autoregressive": custom}).tts("Fine tuned.", "random", quick())
    assert result.audio[0].numel() > 0


def test_bracketed_text_is_cut_from_the_audio(tts_factory):
    text = "[I am really sad,] please feed me."
    spoken = tts_factory(enable_redaction=False).tts(text, "train_grace", quick(seed=4)).audio[0]
    redacted = tts_factory(aligner=tiny_aligner()).tts(text, "train_grace", quick(seed=4))
    assert 0 < redacted.audio[0].shape[0] < spoken.shape[0]
    assert "redaction" in redacted.timings


def test_unbalanced_brackets_fail_before_any_work(tts_factory):
    tts = tts_factory()
    with pytest.raises(InvalidInputError, match=r"\["):
        tts.tts("[never closed", "random", quick())
    assert not tts.models.loaded  # nothing was loaded


def test_voicefixer_missing_is_a_clear_error(tts_factory):
    from tortoise.postprocess import voicefixer_available

    if voicefixer_available():
        pytest.skip("voicefixer is installed here")
    from tortoise.postprocess import VoiceFixerUnavailableError

    with pytest.raises(VoiceFixerUnavailableError, match="pip install voicefixer"):
        tts_factory().tts("Hi.", "random", quick(voicefixer=True))


def test_out_of_memory_halves_the_batch_with_a_warning(tts_factory, monkeypatch):
    from tortoise import sampling

    real = sampling.generate
    sizes = []

    def tight_memory(*args, num_samples, **kwargs):
        sizes.append(num_samples)
        if num_samples > 1:
            raise RuntimeError("XPU out of memory. Tried to allocate 2.00 GiB")
        return real(*args, num_samples=num_samples, **kwargs)

    monkeypatch.setattr(sampling, "generate", tight_memory)
    tts = tts_factory(batch_size=4)
    with pytest.warns(UserWarning, match="out of memory"):
        result = tts.tts("Squeezed.", "random", quick())
    assert sizes[:3] == [4, 2, 1] and len(result.scores) == 4 and tts.batch_size(tts.model("autoregressive"), 80) == 1


def test_other_errors_are_not_mistaken_for_out_of_memory(tts_factory, monkeypatch):
    from tortoise import sampling

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(sampling, "generate", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tts_factory(batch_size=4).tts("Broken.", "random", quick())


def test_warm_up_loads_models_and_changes_no_result(tts_factory):
    tts = tts_factory()
    before = tts.tts("Warm.", "random", quick(seed=8)).audio[0]
    tts.unload()
    assert tts.warm_up() > 0
    assert {"autoregressive", "diffusion_decoder", "vocoder"} <= set(tts.models.loaded)
    torch.testing.assert_close(tts.tts("Warm.", "random", quick(seed=8)).audio[0], before)


def test_compiled_decode_step_gives_the_same_audio(tts_factory, monkeypatch):
    """Compiling the decode step (torch.compile's eager backend here) changes nothing, bit for bit.

    The compiled step keeps static shapes: it reads the whole KV cache with a mask, where the default step reads only
    the filled part (and on a CPU uses packed weights). Those differ in the last bits, by amounts that depend on the
    CPU's kernels (AVX-512, AMX, thread count), so the comparison is with the same static-shape step run uncompiled
    on unpacked weights: exact by construction.
    """
    from tortoise import devices
    from tortoise.models.gpt import CachePos

    real = devices.compile_function
    monkeypatch.setattr(devices, "compile_function", lambda fn, device: real(fn, device, backend="eager"))
    monkeypatch.setenv("TORTOISE_NO_PACK", "1")  # a compiled model is never CPU-packed: the same weights on both sides
    static_tts = tts_factory()
    ar = static_tts.model("autoregressive")
    static_tts.decode_steps["autoregressive"] = lambda x, pos: ar.next_logits(x, CachePos(pos.index))  # uncompiled
    static = static_tts.tts("Compiled.", "random", quick(seed=5)).audio[0]
    compiled_tts = tts_factory(compile=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = compiled_tts.tts("Compiled.", "random", quick(seed=5)).audio[0]
    assert not [w for w in caught if "torch.compile" in str(w.message)]  # compiled, no fallback to eager
    assert "autoregressive" in compiled_tts.decode_steps
    assert torch.equal(compiled, static)


def test_recorded_decode_step_gives_the_codes_of_the_static_step(monkeypatch):
    """The step recorded as a device graph (here a graph class that replays by re-running what it recorded, on the
    static buffers) receives the cache position as a tensor copied into its buffer each step: the same codes as the
    same static-shape step run eagerly, with one recording for the whole generation."""
    from tests.test_devices import _FakeBackend, _ReplayingGraph
    from tests.test_gpt import TINY
    from tortoise import devices
    from tortoise.model_manager import compiled_decode_step
    from tortoise.models.gpt import CachePos, UnifiedVoice
    from tortoise.sampling import candidate_keys, generate

    real_capture = devices.CapturedCall._capture

    def capture(self, args):
        real_capture(self, args)
        self.graph.fn, self.graph.args, self.graph.target = self.fn, self.inputs, self.output

    monkeypatch.setattr(devices, "_backend", lambda kind: _FakeBackend)
    monkeypatch.setattr(devices, "graph_class", lambda device: _ReplayingGraph)
    monkeypatch.setattr(devices.CapturedCall, "_capture", capture)
    torch.manual_seed(0)
    model = UnifiedVoice(TINY).eval()
    cond, text = torch.randn(1, TINY.model_dim), torch.randint(1, TINY.number_text_tokens, (1, 6))
    args = dict(num_samples=3, max_tokens=30, streams=candidate_keys(7, range(3)))
    static = generate(model, cond, text, step=lambda x, pos: model.next_logits(x, CachePos(pos.index)), **args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        recorded = generate(model, cond, text, step=compiled_decode_step(model, torch.device("cpu")), **args)
    assert torch.equal(recorded, static)
    assert _ReplayingGraph.recording.replays == 29  # one recording, replayed for every code after the prefill


def test_bf16_precision_runs_end_to_end(tts_factory):
    tts = tts_factory(precision="bf16")
    result = tts.tts("In brain float.", "train_grace", quick())
    assert torch.isfinite(result.audio[0]).all() and result.audio[0].numel() > 0
    ar = tts.model("autoregressive")
    assert ar.gpt.h[0].attn.c_attn.weight.dtype == torch.bfloat16
    assert ar.gpt.ln_f.weight.dtype == torch.float32  # norms keep float32 parameters
    streamed = list(tts.stream("In brain float.", "train_grace", preset("fast_mode", seed=1, max_mel_tokens=60)))
    assert all(torch.isfinite(c).all() for c in streamed)


def test_has_cached_latents(tts_factory):
    tts = tts_factory()
    assert not tts.has_cached_latents("train_grace")
    tts.voice_latents("train_grace")
    assert tts.has_cached_latents("train_grace")


def test_latents_cached_under_an_older_recipe_are_not_reused(tts_factory, monkeypatch):
    from tortoise import conditioning

    tts = tts_factory()
    tts.voice_latents("train_grace")
    monkeypatch.setattr(conditioning, "LATENT_RECIPE", conditioning.LATENT_RECIPE + 1)
    assert not tts.has_cached_latents("train_grace")  # a changed window rule is a new entry, never the old latent


def test_candidate_estimate_covers_the_cache_a_generation_allocates_and_follows_the_text():
    from tests.test_gpt import TINY
    from tortoise.api import candidate_bytes
    from tortoise.models.gpt import UnifiedVoice
    from tortoise.sampling import SamplingParams, generate

    torch.manual_seed(0)
    model = UnifiedVoice(TINY).eval()
    text = torch.randint(1, TINY.number_text_tokens, (1, 5))
    generate(
        model, torch.randn(1, TINY.model_dim), text, num_samples=3, max_tokens=20, sampling=SamplingParams(greedy=True)
    )
    cache = [b for b in model.buffers() if b.dim() == 4]  # the k and v caches of every layer
    per_row = sum(b[0].numel() * b.element_size() for b in cache)
    assert candidate_bytes(TINY, 20, torch.float32, text.shape[1]) >= per_row
    assert candidate_bytes(TINY, 20, torch.float32) > candidate_bytes(TINY, 20, torch.float32, text.shape[1])
    assert candidate_bytes(TINY, 20, torch.bfloat16, 5) * 2 == candidate_bytes(TINY, 20, torch.float32, 5)


# ---- reproducibility: the same seed gives the same audio whatever the batch size or an earlier precision ----------
def _codes_and_audio(tts, text: str, options) -> tuple[torch.Tensor, torch.Tensor]:
    """The AR codes of every candidate and the returned audio of one ``tts`` call."""
    seen = []
    real = tts._sample_codes

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    tts._sample_codes = spy
    audio = tts.tts(text, "train_grace", options).audio[0]
    return seen[0], audio


def test_same_seed_same_codes_and_audio_at_any_batch_size(tts_factory):
    text, options = "Batches must not matter.", quick(seed=21)
    codes, audio = _codes_and_audio(tts_factory(batch_size=4), text, options)
    assert len({tuple(row.tolist()) for row in codes}) == 4
    for batch in (1, 2, 3):
        other_codes, other_audio = _codes_and_audio(tts_factory(batch_size=batch), text, options)
        assert torch.equal(other_codes, codes), batch
        assert torch.equal(other_audio, audio), batch


def test_batch_draws_mode_gives_the_originals_codes(tts_factory):
    from tortoise import devices, sampling

    text, options = "Batches must not matter.", quick(seed=21)
    tts = tts_factory(batch_size=4)
    tts.draws = "batch"
    codes, _ = _codes_and_audio(tts, text, options)
    ar = tts.model("autoregressive")
    devices.seed_all(21)  # the original seeds once, then its batch draws from the global generator
    cond = tts.voice_latents("train_grace").ar
    ids = torch.tensor([tts.tokenizer.encode_for_model(text)])
    o = options
    with torch.inference_mode():
        expected = sampling.generate(ar, cond, ids, num_samples=4, max_tokens=o.max_mel_tokens,
                                     sampling=sampling.SamplingParams.from_options(o))  # fmt: skip
    assert torch.equal(codes, expected)
    tts.draws = "sometimes"
    with pytest.raises(InvalidInputError, match="draws"):
        tts.tts(text, "train_grace", options)


def test_latents_of_another_precision_are_not_reused(tts_factory, tmp_path):
    from tortoise.conditioning import LatentCache

    text, options = "Precision changes latents.", quick(seed=4)
    tts_factory(precision="bf16").tts(text, "train_grace", options)  # fills the shared latent cache in bf16
    after_bf16 = tts_factory(precision="fp32").tts(text, "train_grace", options).audio[0]
    fresh = tts_factory(precision="fp32", latent_cache=LatentCache(tmp_path / "fresh-cache"))
    assert torch.equal(after_bf16, fresh.tts(text, "train_grace", options).audio[0])
    assert len(list((tmp_path / "latent-cache").glob("train_grace-*.pth"))) == 2  # one per precision
