"""The whole pipeline (text + voice clips + options -> 24 kHz audio) against ``pipeline.pt``, stage by stage.

Each case of the fixture is one call of the original ``tts()`` (or ``api_fast.tts()``) on tiny seeded models. The
models are written as a models folder in the released layout and the clips as float32 WAV voices, so the real
loading, voice and mixing code runs. The original's RNG protocol is reproduced at the fixture's three re-seeding
points (``tts()`` entry, each AR batch, each chosen candidate's diffusion) by seeding the global CPU generator at the
entry of our ``sampling.generate`` and ``diffusion.decode_mel``.

Two tests per case:
- ``test_stages``: every stage run alone on the fixture's own inputs to it (the previous stage's expected output), so
  a failure names the stage that diverges, not a later consequence;
- ``test_end_to_end``: one ``TextToSpeech.tts`` call; its AR codes, ranking, choice, decoder latents and audio are
  compared in pipeline order (this is what checks the glue between the stages).
Data-driven: cases, configs, shapes and tolerances all come from the file; it is skipped when absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.golden.fixtures import fixture_path, load_fixture
from tortoise import candidates, diffusion, sampling
from tortoise.audio import AR_SAMPLE_RATE, format_conditioning
from tortoise.audio_io import save_audio
from tortoise.options import GenerationOptions, verify

pytestmark = pytest.mark.golden


def _case_names() -> list[str]:
    path = fixture_path("pipeline.pt")
    if not path.is_file():
        return ["absent"]
    return [c["name"] for c in torch.load(path, map_location="cpu", weights_only=True)["inputs"]["cases"]]


CASES = _case_names()


@pytest.fixture(scope="module")
def fixture() -> dict:
    return load_fixture("pipeline")


@pytest.fixture(scope="module")
def folders(fixture: dict, tmp_path_factory) -> tuple[Path, Path]:
    """The fixture's models as a models folder (released files + configuration manifest), its clips as voices."""
    from tortoise.weights import CHECKPOINTS, CONFIGS_MANIFEST

    models = tmp_path_factory.mktemp("pipeline-models")
    for name, sd in fixture["state_dict"].items():
        key = CHECKPOINTS[name].container_key
        torch.save({key: sd} if key else sd, models / CHECKPOINTS[name].filename)
    (models / CONFIGS_MANIFEST).write_text(json.dumps({"configs": fixture["config"]}))
    voices = tmp_path_factory.mktemp("pipeline-voices")
    for voice, clip_names in fixture["inputs"]["voices"].items():
        for i, clip in enumerate(clip_names):  # numbered so that the folder lists them in the fixture's order
            wav = fixture["inputs"]["clips"][clip]
            assert fixture["inputs"]["sample_rate"] == AR_SAMPLE_RATE
            save_audio(voices / voice / f"{i:02d}_{clip}.wav", wav, AR_SAMPLE_RATE)
    return models, voices


def _tts(folders: tuple[Path, Path], tmp_path: Path, batch_size: int):
    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.voices import VoiceLibrary

    models, voices = folders
    tts = TextToSpeech(
        models_dir=models,
        device="cpu",
        batch_size=batch_size,
        voices=VoiceLibrary(user_dir=voices),
        latent_cache=LatentCache(tmp_path / "latent-cache"),
        enable_redaction=False,
    )
    tts.draws = "batch"  # the original's draws: one generator stream per AR batch, re-seeded as the fixture says
    return tts


def _case(fixture: dict, name: str) -> dict:
    if name == "absent":
        pytest.skip("golden fixture pipeline.pt not present")
    return next(c for c in fixture["inputs"]["cases"] if c["name"] == name)


def _options(case: dict) -> GenerationOptions:
    fast = case["mode"] == "api_fast"
    return verify(
        GenerationOptions(
            num_autoregressive_samples=case["num_autoregressive_samples"],
            candidates=case["k"],
            temperature=case["temperature"],
            top_p=case["top_p"],
            top_k=case["top_k"],
            repetition_penalty=case["repetition_penalty"],
            max_mel_tokens=case["max_generate_codes"],
            cvvp_amount=case["cvvp_amount"],
            diffusion_steps=2 if fast else case["diffusion_iterations"],
            sampler="p",
            cond_free=False if fast else case["cond_free"],
            cond_free_k=2.0 if fast else case["cond_free_k"],
            diffusion_temperature=1.0 if fast else case["diffusion_temperature"],
            mode="fast" if fast else "standard",
            seed=case["seed"],
        )
    )


class Stages:
    """Compares stage outputs with the case's expected ones; every failure message starts with the stage's name."""

    def __init__(self, fixture: dict, case: dict):
        self.name = case["name"]
        self.expected = fixture["outputs"][self.name]
        self.tolerances = fixture["tolerances"][self.name]

    def check(self, key: str, actual, expected=None, *, index: int | None = None) -> None:
        expected = self.expected[key] if expected is None else expected
        if index is not None:
            expected = expected[index]
        where = f"{self.name}: stage {key!r}" + ("" if index is None else f"[{index}]")
        if not isinstance(expected, torch.Tensor):
            assert actual == expected, f"{where}: {actual!r} != {expected!r}"
            return
        actual = torch.as_tensor(actual)
        assert tuple(actual.shape) == tuple(expected.shape), (
            f"{where}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
        )
        tol = self.tolerances[key]
        atol, rtol = (0.0, 0.0) if isinstance(tol, str) else (tol["atol"], tol["rtol"])
        torch.testing.assert_close(
            actual.to(expected.dtype), expected, atol=atol, rtol=rtol, msg=lambda m: f"{where}: {m}"
        )


class Reseeder:
    """The fixture's re-seeding protocol at our entry points: one seed per AR batch, one per chosen candidate."""

    def __init__(self, monkeypatch, case: dict):
        self.ar_seeds = list(case["ar_batch_seeds"])
        self.diffusion_seeds = list(case["diffusion_seeds"])
        self.codes: list[torch.Tensor] = []
        self.mels: list[torch.Tensor] = []
        generate, decode_mel = sampling.generate, diffusion.decode_mel

        def seeded_generate(*args, **kwargs):
            torch.manual_seed(self.ar_seeds.pop(0))
            self.codes.append(generate(*args, **kwargs))
            return self.codes[-1]

        def seeded_decode_mel(*args, **kwargs):
            torch.manual_seed(self.diffusion_seeds.pop(0))
            self.mels.append(decode_mel(*args, **kwargs))
            return self.mels[-1]

        monkeypatch.setattr(sampling, "generate", seeded_generate)
        monkeypatch.setattr("tortoise.api.decode_mel", seeded_decode_mel)


def _raw_until_stop(codes: torch.Tensor, stop: int) -> torch.Tensor:
    """api_fast's codes: the batch's codes up to the first stop code of the longest row (all when one has none)."""
    is_stop = codes == stop
    ends = torch.where(is_stop.any(dim=1), is_stop.int().argmax(dim=1) + 1, codes.shape[1])
    return codes[:, : int(ends.max())]


# ---- stage by stage -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_stages(fixture: dict, folders, tmp_path, name: str) -> None:
    case = _case(fixture, name)
    stages = Stages(fixture, case)
    exp = stages.expected
    o = _options(case)
    fast = o.mode == "fast"
    tts = _tts(folders, tmp_path, case["batch_size"])

    stages.check("text_tokens", torch.tensor([tts.tokenizer.encode_for_model(case["text"])]))

    torch.manual_seed(case["seed"])  # the tts() entry seed: only the random voice draws from it
    latents = tts.voice_latents(case["voice_spec"], diffusion=not fast)
    stages.check("auto_latent", latents.ar)
    if not fast:
        stages.check("diffusion_latent", latents.diffusion)

    ar = tts.model("autoregressive")
    text, cond = exp["text_tokens"], exp["auto_latent"]
    params = sampling.SamplingParams.from_options(o)
    stop = ar.cfg.stop_mel_token
    for b, seed in enumerate(case["ar_batch_seeds"]):
        torch.manual_seed(seed)
        codes = sampling.generate(ar, cond, text, num_samples=case["batch_size"], max_tokens=o.max_mel_tokens,
                                  sampling=params)  # fmt: skip
        if fast:  # api_fast keeps the raw codes up to the stop code: no padding, no fix
            codes = _raw_until_stop(codes, stop)
        stages.check("ar_codes", codes, index=b)

    if fast:
        raw = exp["ar_codes"][0]
        stages.check("gpt_latents", ar.latents(cond, text, raw[:, : candidates.speech_length(raw[0], stop)]))
        hifi = tts.model("hifidecoder")
        stages.check("wav", hifi.inference(exp["gpt_latents"], cond), index=0)
        return

    stages.check("codes_fixed", candidates.fix_autoregressive_output(torch.cat(exp["ar_codes"])))
    fixed = exp["codes_fixed"]
    with_cvvp = "cvvp_scores" in exp
    scores = candidates.score_candidates(
        text, fixed, clvp=tts.model("clvp2"), cvvp=tts.model("cvvp") if with_cvvp else None,
        cond_mels=[format_conditioning(c) for c in latents.clips] if with_cvvp else [], cvvp_amount=o.cvvp_amount,
    )  # fmt: skip
    stages.check("clvp_scores", scores.clvp)
    if "cvvp_scores" in exp:
        stages.check("cvvp_scores", scores.cvvp)
    stages.check("scores", scores.total)
    chosen = candidates.select_best(exp["scores"], case["k"])
    stages.check("chosen", chosen)
    stages.check("best_codes", fixed[chosen])

    best = exp["best_codes"]
    keep = [candidates.calm_cutoff(row) for row in best]
    stages.check("trim", keep)
    gpt_latents = ar.latents(cond.expand(len(keep), -1), text.expand(len(keep), -1), best[:, : max(keep)])
    for j, T in enumerate(keep):
        stages.check("latents", gpt_latents[j : j + 1, :T], index=j)

    model, vocoder = tts.model("diffusion_decoder"), tts.model("vocoder")
    for j, seed in enumerate(case["diffusion_seeds"]):
        expected_latents = exp["latents"][j]
        L = diffusion.output_length(expected_latents.shape[1])
        aligned = model.timestep_independent(expected_latents, exp["diffusion_latent"], L)
        torch.manual_seed(seed)
        mel = diffusion.decode_mel(
            model, aligned, L, sampler="p", steps=o.diffusion_steps, cond_free=o.cond_free,
            cond_free_k=o.cond_free_k, temperature=o.diffusion_temperature,
        )  # fmt: skip
        stages.check("mel", mel, index=j)
        stages.check("wav", vocoder.inference(exp["mel"][j]), index=j)  # z drawn right after the diffusion's noise


# ---- one tts() call ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_end_to_end(fixture: dict, folders, tmp_path, monkeypatch, name: str) -> None:
    case = _case(fixture, name)
    stages = Stages(fixture, case)
    exp = stages.expected
    o = _options(case)
    tts = _tts(folders, tmp_path, case["batch_size"])
    seeds = Reseeder(monkeypatch, case)
    recorded: list[torch.Tensor] = []
    decoder = tts.model("hifidecoder" if o.mode == "fast" else "diffusion_decoder")
    method = "inference" if o.mode == "fast" else "timestep_independent"
    original = getattr(decoder, method)

    def record(latents, *args, **kwargs):  # the decoder's latent input, one call per chosen candidate
        recorded.append(latents.clone())
        return original(latents, *args, **kwargs)

    monkeypatch.setattr(decoder, method, record)
    voice_latents, conditioning = tts.voice_latents, []
    monkeypatch.setattr(
        tts, "voice_latents", lambda *a, **kw: conditioning.append(voice_latents(*a, **kw)) or conditioning[-1]
    )
    result = tts.tts(case["text"], case["voice_spec"], o)

    assert not seeds.ar_seeds and not seeds.diffusion_seeds, f"{name}: re-seeding points not all reached"
    stages.check("auto_latent", conditioning[0].ar)
    if o.mode != "fast":
        stages.check("diffusion_latent", conditioning[0].diffusion)
    stop = tts.model("autoregressive").cfg.stop_mel_token
    for b, codes in enumerate(seeds.codes):
        if o.mode == "fast":
            codes = _raw_until_stop(codes, stop)
        stages.check("ar_codes", codes, index=b)
    if o.mode == "fast":
        stages.check("gpt_latents", recorded[0])
        stages.check("wav", result.audio[0].reshape(1, 1, -1), index=0)
        return
    stages.check("scores", torch.tensor(result.scores))
    stages.check("chosen", torch.tensor(result.chosen))
    for j, latents in enumerate(recorded):
        stages.check("latents", latents, index=j)
        stages.check("mel", seeds.mels[j], index=j)
        stages.check("wav", result.audio[j].reshape(1, 1, -1), index=j)
    assert len(recorded) == len(exp["wav"]) == len(result.audio), f"{name}: number of returned candidates"


def test_options_cover_every_case_field(fixture: dict) -> None:
    """Every tts() argument a case sets maps to one of ours (a new field in another fixture set must not be ignored)."""
    known = {
        "name", "mode", "text", "voice", "voice_spec", "clip_names", "batch_size", "seed", "ar_batch_seeds",
        "diffusion_seeds", "top_k", "max_generate_codes", "num_autoregressive_samples", "temperature", "top_p",
        "repetition_penalty", "length_penalty", "max_mel_tokens", "cvvp_amount", "diffusion_iterations", "cond_free",
        "cond_free_k", "diffusion_temperature", "k",
    }  # fmt: skip
    for case in fixture["inputs"]["cases"]:
        assert set(case) <= known, f"{case['name']}: unhandled case fields {set(case) - known}"
