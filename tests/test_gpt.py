"""UnifiedVoice: config, checkpoint layout and loading, and the KV cache against full recomputation."""

from __future__ import annotations

import pytest
import torch

from tests.golden.fixtures import manifest_entry
from tortoise.errors import CheckpointError, InvalidInputError
from tortoise.loading import load_into
from tortoise.models.gpt import CachePos, GPTConfig, UnifiedVoice, remap_keys
from tortoise.sampling import FAKE_PROMPT_ID, SamplingParams, generate, logits_to_probs

# Tiny but complete: every code path of the real model, with a 66-code mel vocabulary to keep it fast.
TINY = GPTConfig(
    layers=2,
    model_dim=32,
    heads=4,
    max_text_tokens=20,
    max_mel_tokens=80,
    number_text_tokens=30,
    start_text_token=30,
    number_mel_codes=66,
    start_mel_token=64,
    stop_mel_token=65,
    cond_attn_blocks=1,
)


@pytest.fixture
def tiny() -> UnifiedVoice:
    torch.manual_seed(0)
    return UnifiedVoice(TINY).eval()


def _conv1d_form(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict in the original's layout: GPT-2 Conv1D weights (in, out)."""
    conv = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    return {k: (v.t() if k.startswith("gpt.h.") and k.endswith(conv) else v) for k, v in sd.items()}


# ---- config -------------------------------------------------------------------------------------------------------
def test_default_config_is_the_released_model():
    cfg = GPTConfig()
    assert (cfg.layers, cfg.model_dim, cfg.heads) == (30, 1024, 16)
    assert (cfg.max_text_tokens, cfg.max_mel_tokens, cfg.max_conditioning_inputs) == (402, 604, 2)
    assert (cfg.number_text_tokens, cfg.start_text_token, cfg.stop_text_token) == (255, 255, 0)
    assert (cfg.number_mel_codes, cfg.start_mel_token, cfg.stop_mel_token) == (8194, 8192, 8193)
    assert (cfg.n_mel_positions, cfg.n_text_positions) == (608, 404)


def test_from_reference_uses_the_reference_constructor_defaults():
    cfg = GPTConfig.from_reference({"model_dim": 64, "heads": 4})
    assert (cfg.layers, cfg.max_text_tokens, cfg.max_mel_tokens, cfg.max_conditioning_inputs) == (8, 120, 250, 1)
    assert cfg.start_text_token == cfg.number_text_tokens == 256  # start_text_token=None -> number_text_tokens
    assert GPTConfig.from_reference({"checkpointing": False}).layers == 8  # training-only flags are accepted


@pytest.mark.parametrize(
    "kwargs", [{"types": 2}, {"train_solo_embeddings": True}, {"use_mel_codes_as_input": False}, {"n_layer": 3}]
)
def test_from_reference_rejects_what_it_cannot_build(kwargs):
    with pytest.raises(ValueError):
        GPTConfig.from_reference(kwargs)


# ---- checkpoint layout --------------------------------------------------------------------------------------------
def _manifest() -> dict:
    return manifest_entry("autoregressive")


def _meta(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}


@pytest.mark.golden
def test_manifest_layout_loads_strictly_with_legacy_keys():
    man = _manifest()
    cfg = GPTConfig.from_reference(man["config"])
    with torch.device("meta"):
        model = UnifiedVoice(cfg)
    assert len(model.state_dict()) == man["n_keys"]
    assert sum(p.numel() for p in model.parameters()) == man["n_params"]
    sd = _meta(man["keys"])
    legacy = _meta({k: v["shape"] for k, v in man["legacy_keys"].items()})
    assert set(sd) - set(remap_keys(sd)) == set()
    assert set(legacy) - set(remap_keys(legacy)) == set(legacy)
    load_into(model, remap_keys({**sd, **legacy}))  # keys and shapes match after the Conv1D transposes

    for extra in ("gpt.h.0.attn.masked_bias_old", "gpt.h.0.attn.c_attn.mask", "gpt.wte.weight", "inference_model.x"):
        with pytest.raises(CheckpointError, match="unexpected"):
            load_into(model, remap_keys({**sd, **legacy, extra: torch.empty(1, device="meta")}))
    missing = dict(sd)
    del missing["gpt.h.0.attn.c_attn.bias"]
    with pytest.raises(CheckpointError, match="missing"):
        load_into(model, remap_keys(missing))


def test_remap_transposes_conv1d_weights(tiny):
    sd = tiny.state_dict()
    original = _conv1d_form(sd)
    assert original["gpt.h.0.attn.c_attn.weight"].shape == (32, 96)  # (in, out) as GPT-2 stores it
    remapped = remap_keys(original)
    assert remapped.keys() == sd.keys()
    assert all(torch.equal(remapped[k], sd[k]) for k in sd)


def test_caches_are_not_part_of_the_state_dict(tiny):
    keys = set(tiny.state_dict())
    tiny.setup_caches(2, 40)
    assert set(tiny.state_dict()) == keys


def test_setup_caches_reuses_a_large_enough_allocation(tiny):
    tiny.setup_caches(4, 100)
    cache = tiny.gpt.h[0].attn.kv_cache
    assert cache.k_cache.shape == (4, TINY.heads, 104, TINY.head_dim)  # rounded up to a multiple of 8
    tiny.setup_caches(2, 50)
    assert tiny.gpt.h[0].attn.kv_cache is cache
    tiny.setup_caches(8, 50)
    assert tiny.gpt.h[0].attn.kv_cache is not cache


def test_text_too_long_is_an_input_error(tiny):
    with pytest.raises(InvalidInputError, match="at most 20"):
        tiny.prefix(torch.zeros(1, 32), torch.ones(1, 21, dtype=torch.long))


# ---- the KV cache -------------------------------------------------------------------------------------------------
def test_cached_decode_logits_equal_full_recomputation(tiny):
    """Prefill + 60 single-code steps through the cache == teacher-forced full recompute, batch of 3 prompts."""
    g = torch.Generator().manual_seed(1)
    B, steps = 3, 60
    cond = torch.randn(B, TINY.model_dim, generator=g)
    text = torch.randint(1, TINY.number_text_tokens, (B, 7), generator=g)
    codes = torch.randint(0, TINY.start_mel_token, (B, steps), generator=g)
    with torch.no_grad():
        full = tiny.teacher_forced_logits(cond, text, codes)  # (B, steps + 1, V)
        prefix = tiny.prefix(cond, text)
        E = prefix.shape[1]
        tiny.setup_caches(B, E + steps + 1)
        start = torch.full((B, 1), TINY.start_mel_token)
        x = torch.cat([prefix, tiny.embed_mel(start, torch.tensor([0]))], dim=1)
        cached = [tiny.next_logits(x, CachePos(torch.arange(E + 1)))]
        for i in range(steps):
            x = tiny.embed_mel(codes[:, i : i + 1], torch.tensor([i + 1]))
            cached.append(tiny.next_logits(x, CachePos(torch.tensor([E + 1 + i]))))
    torch.testing.assert_close(torch.stack(cached, dim=1), full, atol=1e-5, rtol=1e-5)


def _naive_generate(model, cond, text, *, B, max_tokens, generator, greedy=False, sampling=None):
    """Reference loop in the original's manner: full recompute every step, torch.multinomial, HF-style stop padding."""
    cfg = model.cfg
    codes = torch.empty(B, 0, dtype=torch.long)
    finished = torch.zeros(B, dtype=torch.bool)
    seen = torch.zeros(B, cfg.number_mel_codes, dtype=torch.bool)
    seen[:, [FAKE_PROMPT_ID, cfg.start_mel_token]] = True
    for _ in range(max_tokens):
        logits = model.teacher_forced_logits(cond.expand(B, -1), text.expand(B, -1), codes)[:, -1]
        if greedy:
            token = logits.argmax(-1)
        else:
            token = torch.multinomial(logits_to_probs(logits, seen, sampling), 1, generator=generator)[:, 0]
        token = token.masked_fill(finished, cfg.stop_mel_token)
        seen.scatter_(1, token[:, None], True)
        finished |= token == cfg.stop_mel_token
        codes = torch.cat([codes, token[:, None]], dim=1)
        if finished.all():
            break
    return torch.nn.functional.pad(codes, (0, max_tokens - codes.shape[1]), value=cfg.stop_mel_token)


@pytest.mark.parametrize("stop_check_every", [1, 7])
def test_generate_matches_full_recompute_sampling(tiny, stop_check_every):
    """Sampled codes (with stops and padding) equal a full-recompute loop using torch.multinomial, same seed."""
    with torch.no_grad():
        tiny.mel_head.bias[TINY.stop_mel_token] += 3.0  # make rows stop at different times
    g = torch.Generator().manual_seed(3)
    cond = torch.randn(1, TINY.model_dim, generator=g)
    text = torch.randint(1, TINY.number_text_tokens, (1, 9), generator=g)
    sampling = SamplingParams(temperature=0.8, top_k=20, top_p=0.9, repetition_penalty=2.0)
    ours = generate(
        tiny,
        cond,
        text,
        num_samples=5,
        max_tokens=60,
        generator=torch.Generator().manual_seed(7),
        stop_check_every=stop_check_every,
        sampling=sampling,
    )
    with torch.no_grad():
        ref = _naive_generate(
            tiny, cond, text, B=5, max_tokens=60, generator=torch.Generator().manual_seed(7), sampling=sampling
        )
    assert torch.equal(ours, ref)
    stopped = (ours == TINY.stop_mel_token).any(dim=1)
    assert stopped.any() and len(set((ours == TINY.stop_mel_token).int().argmax(1)[stopped].tolist())) > 1


def test_generate_greedy_matches_full_recompute(tiny):
    g = torch.Generator().manual_seed(4)
    cond = torch.randn(1, TINY.model_dim, generator=g)
    text = torch.randint(1, TINY.number_text_tokens, (1, 5), generator=g)
    greedy = SamplingParams(greedy=True, repetition_penalty=1.0)
    ours = generate(tiny, cond, text, num_samples=2, max_tokens=70, sampling=greedy)
    with torch.no_grad():
        ref = _naive_generate(tiny, cond, text, B=2, max_tokens=70, generator=None, greedy=True)
    assert torch.equal(ours, ref)
    assert torch.equal(ours[0], ours[1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_generate_in_reduced_precision(tiny, dtype):
    model = tiny.to(dtype)
    cond = torch.randn(1, TINY.model_dim, dtype=dtype)
    text = torch.randint(1, TINY.number_text_tokens, (1, 5))
    codes = generate(model, cond, text, num_samples=3, max_tokens=30, generator=torch.Generator().manual_seed(0))
    assert codes.shape == (3, 30) and codes.dtype == torch.long
    assert model.gpt.h[0].attn.kv_cache.k_cache.dtype == dtype
    assert ((codes >= 0) & (codes < TINY.number_mel_codes)).all()


def test_forward_does_not_modify_codes_and_pads_stop(tiny):
    cond = torch.randn(2, TINY.model_dim)
    text = torch.randint(1, 30, (2, 6))
    codes = torch.randint(0, 64, (2, 10))
    before = codes.clone()
    with torch.no_grad():
        padded = tiny.set_mel_padding(codes, torch.tensor([3 * 1024, 20 * 1024]))
        tiny(cond, text, torch.tensor([6, 4]), codes, torch.tensor([3 * 1024, 20 * 1024]))
    assert torch.equal(codes, before)
    assert (padded[0, 4:] == TINY.stop_mel_token).all() and torch.equal(padded[0, :4], codes[0, :4])
    assert torch.equal(padded[1], codes[1])
