"""UnifiedVoice against ``autoregressive.pt``: every output of the reference, built from the file's own config."""

from __future__ import annotations

import pytest
import torch

from tortoise.models.gpt import GPTConfig, UnifiedVoice, remap_keys
from tortoise.sampling import SamplingParams, generate, logits_to_probs

from .fixtures import assert_golden, build_on_test_device, load_fixture

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def fx():
    return load_fixture("autoregressive")


@pytest.fixture(scope="module")
def model(fx):
    cfg = GPTConfig.from_reference(fx["config"])
    # the file form: module keys plus the legacy GPT-2 buffers, which the loader must skip
    return build_on_test_device(lambda: UnifiedVoice(cfg), {**fx["state_dict"], **fx["legacy_keys"]}, remap=remap_keys)


def _forward_args(fx):
    i = fx["inputs"]
    return i["speech_conditioning_latent"], i["text_inputs"], i["text_lengths"], i["mel_codes"], i["wav_lengths"]


def test_legacy_keys_are_exactly_what_remap_drops(fx):
    sd = {**fx["state_dict"], **fx["legacy_keys"]}
    assert set(sd) - set(remap_keys(sd)) == set(fx["legacy_keys"])


def test_conditioning_latents(fx, model):
    with torch.no_grad():
        assert_golden(model.get_conditioning(fx["inputs"]["cond_mels"]), fx, "cond_latent")
        assert_golden(model.get_conditioning(fx["inputs"]["cond_mels_b"]), fx, "cond_latent_b")


@pytest.mark.parametrize(("key", "clip_inputs"), [("latents", False), ("latents_clip_inputs", True)])
def test_forward_latents(fx, model, key, clip_inputs):
    args = _forward_args(fx)
    before = args[3].clone()
    with torch.no_grad():
        assert_golden(model(*args, return_latent=True, clip_inputs=clip_inputs), fx, key)
    assert torch.equal(args[3], before), "forward must not write the stop-code padding into the caller's codes"


def test_pipeline_latents_pass_matches_forward(fx, model):
    """§1.7: latents(cond, text, codes) with the stop padding already applied == forward(return_latent=True)."""
    cond, text, _, codes, wav_lengths = _forward_args(fx)
    with torch.no_grad():
        assert_golden(model.latents(cond, text, model.set_mel_padding(codes, wav_lengths)), fx, "latents")


def test_losses_and_logits(fx, model):
    args = _forward_args(fx)
    with torch.no_grad():
        loss_text, loss_mel, mel_logits = model(*args, clip_inputs=False)
        text_logits = model.logits(*args, clip_inputs=False)[0]
    assert_golden(loss_text, fx, "loss_text")
    assert_golden(loss_mel, fx, "loss_mel")
    assert_golden(mel_logits, fx, "mel_logits")
    assert_golden(text_logits, fx, "text_logits")


def test_step_logits(fx, model):
    i = fx["inputs"]
    with torch.no_grad():
        prefix = model.prefix(i["speech_conditioning_latent"], i["tf_text_tokens"])
        logits = model.teacher_forced_logits(i["speech_conditioning_latent"], i["tf_text_tokens"], i["tf_codes"])
    assert_golden(prefix.shape[1], fx, "tf_prefix_len_E")
    assert_golden(logits, fx, "step_logits")


@pytest.mark.parametrize(("key", "shifted"), [("greedy_tokens", False), ("greedy_tokens_kv_cache_original", True)])
def test_greedy_tokens(fx, model, key, shifted):
    i = fx["inputs"]
    codes = generate(
        model,
        i["gen_cond_latent"],
        i["gen_text_tokens"],
        num_samples=1,
        max_tokens=i["max_generate_length"],
        sampling=SamplingParams(greedy=True, repetition_penalty=1.0),
        shifted_positions=shifted,
    )
    assert_golden(codes, fx, key)


def test_sample_step_probs(fx, model):
    """The processors on the reference's raw logits give the exact probabilities it passed to multinomial."""
    i, o = fx["inputs"], fx["outputs"]
    kw = i["sample_kwargs"]
    raw, prefix, tokens = o["sample_step_raw_logits"], o["sample_input_ids_prefix"], o["sample_tokens"]
    n_steps = raw.shape[0]
    B = tokens.shape[0]
    with torch.no_grad():
        ours = model.teacher_forced_logits(
            i["gen_cond_latent"].expand(B, -1), i["gen_text_tokens"].expand(B, -1), tokens[:, : n_steps - 1]
        )
    assert_golden(ours.transpose(0, 1), fx, "sample_step_raw_logits")
    probs = []
    for step in range(n_steps):
        seen = torch.zeros_like(raw[step], dtype=torch.bool)
        seen.scatter_(1, torch.cat([prefix, tokens[:, :step]], dim=1), True)
        probs.append(
            logits_to_probs(
                raw[step],
                seen,
                SamplingParams(
                    temperature=kw["temperature"],
                    top_k=kw.get("top_k", 50),  # HF's default, never overridden by the original
                    top_p=kw["top_p"],
                    repetition_penalty=kw["repetition_penalty"],
                ),
            )
        )
    assert_golden(torch.stack(probs), fx, "sample_step_probs")


@pytest.mark.cpu_generator
def test_sample_tokens_bit_exact(fx, model):
    """Seeded CPU sampling reproduces the reference's codes (same probabilities, same draws)."""
    i = fx["inputs"]
    kw = i["sample_kwargs"]

    def sample(generator=None):
        return generate(
            model,
            i["gen_cond_latent"],
            i["gen_text_tokens"],
            num_samples=kw["num_return_sequences"],
            max_tokens=kw["max_generate_length"],
            sampling=SamplingParams(
                temperature=kw["temperature"],
                top_p=kw["top_p"],
                top_k=kw.get("top_k", 50),
                repetition_penalty=kw["repetition_penalty"],
            ),
            generator=generator,
        )

    torch.manual_seed(i["sample_seed"])
    assert_golden(sample(), fx, "sample_tokens")
    # an explicit generator seeded the same way draws the same codes
    assert_golden(sample(torch.Generator().manual_seed(i["sample_seed"])), fx, "sample_tokens")
