"""``TextToSpeech``: the TorToiSe pipeline, from text and a voice to 24 kHz speech.

Stages: conditioning latents -> autoregressive candidates (static KV cache, batched) -> CLVP
(+ CVVP) ranking -> GPT latents of the best candidates -> diffusion decoder -> vocoder. Every stage is timed and
reported through an optional ``progress(stage, fraction)`` callback. Models are loaded lazily, on first use, from the
models folder; nothing is downloaded or loaded when this module is imported or the object is made. The stages are
those of ``tortoise/api.py::TextToSpeech.tts`` in tortoise-tts 3.0.0.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from . import candidates, devices, sampling
from .audio import OUTPUT_SAMPLE_RATE, format_conditioning
from .conditioning import LatentCache, Latents, VoiceConditioner
from .diffusion import decode_mel, output_length
from .errors import DeviceError, InvalidInputError, NonFiniteError
from .model_manager import ModelManager
from .options import PRESETS, GenerationOptions, new_seed, verify
from .postprocess import VoiceFixerUnavailableError, apply_voicefixer, voicefixer_available
from .redaction import has_redaction, redact, spoken_text
from .streaming import stream_fast_segment
from .text import TextTokenizer, split_text
from .vocoders import VOCODERS
from .voices import RANDOM_VOICE, VoiceLibrary

STAGES = ("conditioning", "autoregressive", "clvp", "latents", "diffusion", "vocoder")
Progress = Callable[[str, float], None]


@dataclass
class GenerationResult:
    """What one ``tts`` call produced. ``audio[i]`` is candidate i, (S,) float32 at 24 kHz on the CPU."""

    audio: list[Tensor]
    seed: int
    text: str
    voice: str
    options: GenerationOptions
    chosen: list[int]  # indices of the returned candidates among the autoregressive samples, best first
    scores: list[float]  # CLVP (+CVVP) score of every sample
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    sample_rate: int = OUTPUT_SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return self.audio[0].shape[-1] / self.sample_rate if self.audio else 0.0

    @property
    def real_time_factor(self) -> float:
        """Seconds of computing per second of speech (lower is faster; < 1 is faster than real time)."""
        return sum(self.timings.values()) / max(self.seconds, 1e-9)


def _explain_out_of_memory(method):
    """Out-of-memory that the batch halving could not absorb becomes a ``DeviceError`` saying what to change."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            if not devices.is_out_of_memory(e):
                raise
            devices.empty_cache(self.device)
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DeviceError(
                f"out of memory on {self.device} ({detail}). Close other programs using it, or use model offloading "
                "(--offload models), half precision (--precision bf16), a shorter text, or the CPU (--device cpu)"
            ) from e

    return wrapper


def candidate_bytes(cfg, max_tokens: int, dtype: torch.dtype, text_tokens: int | None = None) -> int:
    """Memory one AR candidate may need: its KV cache for the prompt (``text_tokens``, else the longest text the model
    takes) and ``max_tokens`` codes, plus 50% for activations and allocator slack. Measured on the CPU
    (bench/bench_memory.py, bench/RESULTS.md): the cache plus ~1%; the margin is for GPU allocators and workspaces,
    not measured yet (no GPU here; an out-of-memory error halves the batch anyway)."""
    elt = torch.finfo(dtype).bits // 8
    text = cfg.max_text_tokens if text_tokens is None else text_tokens
    seq = 1 + text + 2 + max_tokens + 1  # voice latent, start/stop text, codes, start code
    return int(2 * cfg.layers * cfg.model_dim * seq * elt * 1.5)


class TextToSpeech:
    """The pipeline. Decide device and precision once here; every model follows.

    Parameters
    ----------
    models_dir : folder with the checkpoints (default ``$TORTOISE_MODELS_DIR`` or ``~/.cache/tortoise/models``).
    device : a device name (cuda, xpu, mps, cpu, cuda:1, ...) or None for the best available.
    precision : "auto" (float32, the known-good choice), "bf16" or "fp16" (opt-in; the vocoder always runs in fp32).
    batch_size : AR candidates decoded together; None picks from the device's memory.
    offload : "auto", "none" (keep every model on the device), "models" (move each model there only while it
        runs) or "cpu".
    checkpoints : replacement files for fine-tuned models, e.g. ``{"autoregressive": Path("my_ar.pth")}``.
    voices : the voice library (default: user, extra and built-in voices).
    latent_cache : where conditioning latents are cached (default ``~/.cache/tortoise/latents``).
    enable_redaction : cut the audio of ``[bracketed]`` text (a prompt that sets the tone but is not spoken), with
        the wav2vec2 aligner (its weights are read from the Hugging Face cache).
    aligner : the redaction aligner to use (default: a ``Wav2VecAligner`` made on first use).
    compile : make the autoregressive decode step cheap to launch: recorded as a CUDA / XPU graph where the
        device has them, else ``torch.compile`` (falls back to eager with a warning).

    The loaded models are ``self.models`` (a :class:`~tortoise.model_manager.ModelManager`); the voices' latents
    come from ``self.conditioner`` (a :class:`~tortoise.conditioning.VoiceConditioner`).
    """

    # How the autoregressive candidates draw their random numbers. "per_candidate": each from its own stream derived
    # from (seed, candidate index), so the codes do not depend on the batch size. "batch": the original's one draw
    # per step for the whole batch from the seeded global generator (its codes at the same batch size; other batch
    # sizes give other codes).
    draws: str = "per_candidate"

    def __init__(
        self,
        *,
        models_dir: str | Path | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        batch_size: int | None = None,
        offload: str = "auto",
        checkpoints: dict[str, str | Path] | None = None,
        voices: VoiceLibrary | None = None,
        latent_cache: LatentCache | None = None,
        enable_redaction: bool = True,
        aligner=None,
        compile: bool = False,
    ):
        from .weights import resolve_models_dir

        self.device = devices.pick(device if offload != "cpu" else "cpu")
        self.caps = devices.capabilities(self.device)
        self.dtype = devices.resolve_precision(precision, self.caps)
        devices.set_float32_math(self.device, self.dtype)
        self.models_dir = resolve_models_dir(models_dir)
        self.models = ModelManager(
            models_dir=self.models_dir, device=self.device, dtype=self.dtype, caps=self.caps, offload=offload,
            checkpoints=checkpoints, compile=compile,
        )  # fmt: skip
        self.checkpoints, self.compile = self.models.checkpoints, compile
        if batch_size is not None and batch_size < 1:
            raise InvalidInputError(f"batch_size={batch_size} must be >= 1 (or None for automatic)")
        self._batch_size = batch_size
        self.voices = voices or VoiceLibrary()
        self.latent_cache = latent_cache or LatentCache()
        self.conditioner = VoiceConditioner(self.voices, self.latent_cache, self.models)
        self.tokenizer = TextTokenizer()
        self.enable_redaction = enable_redaction
        self._aligner = aligner

    # ---- models (tortoise/model_manager.py) ------------------------------------------------------------------------
    @property
    def decode_steps(self) -> dict[str, sampling.Step]:
        """With ``compile``: the recorded or compiled decode step per model name (see ``ModelManager.get``)."""
        return self.models.decode_steps

    def model(self, name: str) -> nn.Module:
        """Model ``name`` (a checkpoint name), loaded on first use (see ``ModelManager.get``)."""
        return self.models.get(name)

    def batch_size(self, ar: nn.Module, max_tokens: int, text_tokens: int | None = None) -> int:
        """Candidates decoded at once: the one given at construction, else as many as the free memory holds."""
        if self._batch_size is not None:
            return self._batch_size
        per_candidate = candidate_bytes(ar.cfg, max_tokens, self.dtype, text_tokens)
        resident = self.models.resident_bytes()
        return devices.auto_batch_size(self.caps, bytes_per_candidate=per_candidate, resident_bytes=resident)

    @torch.inference_mode()
    def warm_up(self) -> float:
        """Load the standard models and run each once on small inputs (XPU compiles its kernels on first use).

        Returns the seconds it took. Seeded results are unaffected: the CPU RNG is restored and every ``tts`` call
        seeds all generators anyway.
        """
        start = time.perf_counter()
        rng = torch.get_rng_state()
        with self.models.using("autoregressive") as (ar,):
            dtype = next(ar.parameters()).dtype
            cond = torch.zeros(1, ar.cfg.model_dim, device=self.device, dtype=dtype)
            text = torch.tensor([self.tokenizer.encode_for_model("Warm up.")], device=self.device)
            step = self.decode_steps.get("autoregressive")  # recorded or compiled now, with compile=True
            greedy = sampling.SamplingParams(greedy=True)
            codes = sampling.generate(ar, cond, text, num_samples=1, max_tokens=4, sampling=greedy, step=step)
            ar.latents(cond, text, codes)
        with self.models.using("diffusion_decoder") as (diffusion,):
            C = diffusion.cfg.model_channels
            decode_mel(diffusion, torch.zeros(1, C, 8, device=self.device), 8, sampler="ddim", steps=2)
        with self.models.using(VOCODERS["univnet"].checkpoint) as (vocoder,):
            vocoder.inference(torch.full((1, vocoder.cfg.n_mel_channels, 8), -5.0, device=self.device))
        devices.synchronize(self.device)
        torch.set_rng_state(rng)
        return time.perf_counter() - start

    def unload(self) -> None:
        """Drop every loaded model and free device memory (between jobs, or to change settings)."""
        self.models.unload()

    # ---- voices (tortoise/conditioning.py) --------------------------------------------------------------------------
    def model_identity(self) -> str:
        """What cached conditioning latents are keyed on (see ``ModelManager.identity``)."""
        return self.models.identity()

    def has_cached_latents(self, voice: str) -> bool:
        """Whether ``voice``'s conditioning latents are ready without computing (cached, or a latents-only voice)."""
        return self.conditioner.has_cached(voice)

    def check_voice(self, voice: str) -> None:
        """Raise ``VoiceError`` unless every name in ``voice`` (``a&b`` mixes) is ``random`` or a known voice."""
        self.conditioner.check(voice)

    def voice_latents(self, voice: str, *, diffusion: bool = True) -> Latents:
        """Conditioning latents of ``voice``: a name, ``random``, or several names mixed with ``&``.

        With ``diffusion=False`` (fast mode) the diffusion latent may be left out, so the diffusion model is not
        needed when the voice's latents are not cached yet.
        """
        return self.conditioner.latents(voice, diffusion=diffusion)

    # ---- generation -----------------------------------------------------------------------------------------------
    def check_text(self, text: str) -> list[int]:
        """The ids ``tts`` feeds the model for ``text`` (one segment), or the ``InvalidInputError`` it would raise.

        Loads no model: callers check every segment of a long text before any work.
        """
        ids = self.tokenizer.encode_for_model(text)
        redacting = self.enable_redaction and has_redaction(text)  # raises on unbalanced brackets
        if redacting and not any(c.isalnum() for c in spoken_text(text)):
            raise InvalidInputError(
                "everything in this text is inside [brackets], which are cut from the audio: nothing would be "
                "spoken. Put the words to speak outside the brackets (or turn redaction off to speak them)"
            )
        return ids

    @_explain_out_of_memory
    @torch.inference_mode()
    def tts(
        self,
        text: str,
        voice: str = RANDOM_VOICE,
        options: GenerationOptions | None = None,
        *,
        progress: Progress | None = None,
        latents: Latents | None = None,
    ) -> GenerationResult:
        """Speak ``text`` (one segment; split long text first with ``tortoise.text.split_text``) in ``voice``.

        ``latents``: ``voice``'s conditioning latents made before (``voice_latents(voice)``, e.g. shipped once to the
        workers of a cluster render); None computes them. ``random`` has none to give: its latents are drawn from
        the seed. Returns a :class:`GenerationResult`; raises ``TortoiseError`` subclasses for bad input or missing
        models.
        """
        options = verify(options or PRESETS["fast"])
        ids = self.check_text(text)
        redacting = self.enable_redaction and has_redaction(text)
        if options.voicefixer and not voicefixer_available():
            raise VoiceFixerUnavailableError("voicefixer is not installed: pip install voicefixer (or turn it off)")
        seed = options.seed if options.seed is not None else new_seed()
        devices.seed_all(seed)
        timer = _Timer(self.device, progress)
        fast = options.mode == "fast"
        if latents is not None and not fast and latents.diffusion is None:
            raise InvalidInputError("these latents lack the diffusion part, which the standard mode needs")
        with timer("conditioning"):
            if latents is None:
                latents = self.voice_latents(voice, diffusion=not fast)
            latents = latents.to(self.device)
        self._check_finite("conditioning", latents.ar, latents.diffusion)
        text_tokens = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, N + 1)
        with timer("autoregressive"), self.models.using("autoregressive") as (ar,):
            codes = self._sample_codes(ar, latents.ar, text_tokens, options, timer, seed)
        fixed = candidates.fix_autoregressive_output(codes)
        with timer("clvp"):
            scores = self._rank(text_tokens, fixed, latents, options)
            chosen = candidates.select_best(scores, options.candidates)
        if fast:  # api_fast vocodes the raw codes up to and including the stop code: no end fix, no calm trim
            best = codes[chosen]  # (k, T)
            keep = [candidates.speech_length(row) for row in best]
        else:
            best = fixed[chosen]  # (k, T)
            keep = [max(candidates.calm_cutoff(row), 1) for row in best]  # an all-silence candidate keeps one frame
        k = best.shape[0]
        with timer("latents"), self.models.using("autoregressive") as (ar,):
            # latents are causal: those before the longest cut are exactly the ones the full 500 codes would give
            codes = best[:, : max(keep)]
            gpt_latents = ar.latents(latents.ar.expand(k, -1), text_tokens.expand(k, -1), codes).float()  # (k, T', C)
        self._check_finite("latents", gpt_latents)
        audio = []
        for i in range(k):
            trimmed = gpt_latents[i : i + 1, : keep[i]]
            if fast:
                with timer("vocoder"), self.models.using("hifidecoder") as (hifi,):
                    wav = hifi.inference(trimmed, latents.ar)
            else:
                with timer("diffusion"), self.models.using("diffusion_decoder") as (diffusion,):
                    mel = self._diffuse(diffusion, trimmed, latents.diffusion, options, timer, i, k)
                self._check_finite("diffusion", mel)
                with timer("vocoder"), self.models.using(VOCODERS[options.vocoder].checkpoint) as (vocoder,):
                    wav = vocoder.inference(mel.to(next(vocoder.parameters()).dtype))
            self._check_finite("vocoder", wav)
            audio.append(self._postprocess(wav.reshape(-1).float(), text, redacting, options, timer))
        return GenerationResult(
            audio=audio,
            seed=seed,
            text=text,
            voice=voice,
            options=options,
            chosen=chosen.tolist(),
            scores=scores.tolist(),
            timings=timer.seconds,
        )

    def stream(
        self,
        text: str,
        voice: str = RANDOM_VOICE,
        options: GenerationOptions | None = None,
        *,
        chunk_tokens: int = 40,
        first_chunk_tokens: int = 60,
        progress: Progress | None = None,
        desired_length: int = 200,
        max_length: int = 300,
        splitter: str = "ours",
    ) -> Iterator[Tensor]:
        """Yield 24 kHz audio chunks (T_i,) as they are ready; long text is split into segments first (as
        ``tortoise.text.split_text`` with ``desired_length``, ``max_length`` and ``splitter``).

        In fast mode (``options.mode == "fast"``, e.g. the ``fast_mode`` preset) audio starts within a segment,
        after ``first_chunk_tokens`` autoregressive codes, and follows every ``chunk_tokens`` codes; in standard mode
        each segment is yielded when it is done. Segment ``i`` uses seed ``seed + i`` (as ``generate_long``).
        """
        options = verify(options or PRESETS["fast_mode"])
        seed = options.seed if options.seed is not None else new_seed()
        self.check_voice(voice)
        segments = split_text(text, desired_length=desired_length, max_length=max_length, splitter=splitter)
        for i, segment in enumerate(segments):
            # a [bracketed] prompt is cut from finished audio, so such a segment is delivered whole, already cut
            if options.mode != "fast" or (self.enable_redaction and has_redaction(segment)):
                yield self.tts(segment, voice, replace(options, seed=seed + i), progress=progress).audio[0]
            else:
                yield from self._stream_fast(segment, voice, options, seed + i, chunk_tokens, first_chunk_tokens)

    def _stream_fast(self, text: str, voice: str, options: GenerationOptions, seed: int, chunk_tokens: int,
                     first_chunk_tokens: int) -> Iterator[Tensor]:  # fmt: skip
        """One fast-mode segment, HiFi-GAN decoded as its codes grow (``tortoise.streaming.stream_fast_segment``)."""
        devices.seed_all(seed)
        latents = self.voice_latents(voice, diffusion=False).to(self.device)
        text_tokens = torch.tensor([self.tokenizer.encode_for_model(text)], device=self.device)
        params, streams = sampling.SamplingParams.from_options(options), None
        if self.draws != "batch":  # candidate 0's own stream, as tts() draws it: the same codes
            streams = sampling.candidate_keys(seed, range(1), self.device)
        with self.models.using("autoregressive", "hifidecoder") as (ar, hifi):
            cond = latents.ar.to(next(ar.parameters()).dtype)
            for chunk in stream_fast_segment(
                ar, hifi, cond, text_tokens, max_tokens=options.max_mel_tokens, params=params, streams=streams,
                step=self.decode_steps.get("autoregressive"), chunk_tokens=chunk_tokens,
                first_chunk_tokens=first_chunk_tokens,
            ):  # fmt: skip
                chunk = chunk.cpu()
                self._check_finite("vocoder", chunk)
                yield chunk

    def _check_finite(self, stage: str, *outputs: Tensor | None) -> None:
        """Raise ``NonFiniteError`` naming ``stage`` when an output holds NaN or infinity, before the next stage
        turns it into noise or silence (one device sync per stage)."""
        if all(bool(torch.isfinite(x).all()) for x in outputs if x is not None):
            return
        raise NonFiniteError(
            f"the {stage} stage produced NaN or infinite values on {self.device} ({str(self.dtype).split('.')[-1]}). "
            "Try --precision fp32, TORTOISE_NO_EMPTY_CACHE=1 (some GPU drivers corrupt memory when PyTorch empties "
            "its cache), a newer GPU driver, or --device cpu"
        )

    def _postprocess(self, wav: Tensor, text: str, redacting: bool, o: GenerationOptions, timer) -> Tensor:
        if redacting:
            with timer("redaction"):
                wav = redact(wav, text, self.aligner())
        if o.voicefixer:
            with timer("voicefixer"):
                wav = torch.as_tensor(apply_voicefixer(wav.cpu(), OUTPUT_SAMPLE_RATE, device=self.device)[0])
        return wav.cpu()

    def aligner(self):
        """The redaction aligner, made (and its model loaded) on first use."""
        if self._aligner is None:
            from .redaction import Wav2VecAligner

            self._aligner = Wav2VecAligner(device=self.device)
        return self._aligner

    def _sample_codes(self, ar, cond: Tensor, text: Tensor, o: GenerationOptions, timer: _Timer, seed: int) -> Tensor:
        """All candidates, in batches; on out-of-memory the batch is halved (and stays smaller) with a warning."""
        if self.draws not in ("per_candidate", "batch"):
            raise InvalidInputError(f"draws={self.draws!r} is unknown; use 'per_candidate' or 'batch'")
        total, start, out = o.num_autoregressive_samples, 0, []
        batch = min(self.batch_size(ar, o.max_mel_tokens, text.shape[-1]), total)
        params, step = sampling.SamplingParams.from_options(o), self.decode_steps.get("autoregressive")
        while start < total:  # every sample is drawn (the original dropped num % batch of them)
            n = min(batch, total - start)

            def report(done: int, of: int, start: int = start, n: int = n) -> None:
                timer.report("autoregressive", (start + n * done / of) / total)

            keys = None
            if self.draws == "per_candidate":  # candidate i draws from stream (seed, i), whatever batch it is in
                keys = sampling.candidate_keys(seed, range(start, start + n), self.device)
            try:
                codes = sampling.generate(
                    ar, cond.to(next(ar.parameters()).dtype), text, num_samples=n, max_tokens=o.max_mel_tokens,
                    sampling=params, streams=keys, step=step, progress=report,
                )  # fmt: skip
            except Exception as e:
                if n == 1 or not devices.is_out_of_memory(e):
                    raise
                batch = self._batch_size = max(1, n // 2)
                devices.empty_cache(self.device)
                warnings.warn(
                    f"out of memory decoding {n} candidates at once on {self.device}; using {batch}", stacklevel=2
                )
                continue
            out.append(codes)
            start += n
        return torch.cat(out)

    def _rank(self, text: Tensor, codes: Tensor, latents: Latents, o: GenerationOptions) -> Tensor:
        """CLVP score of every candidate, mixed with CVVP against the voice clips when ``cvvp_amount`` > 0.

        Also when every candidate is returned: they come back best first, as the original's ``topk`` sorts them.
        """
        if codes.shape[0] == 1:
            return torch.zeros(1)  # nothing to order: skip loading the rerankers
        use_cvvp = o.cvvp_amount > 0 and bool(latents.clips)
        names = (["clvp2"] if not use_cvvp or o.cvvp_amount < 1 else []) + (["cvvp"] if use_cvvp else [])
        with self.models.using(*names) as models:
            found = dict(zip(names, models))
            # the same fixed windows of the clips as the AR latent (format_conditioning is deterministic)
            mels = [format_conditioning(c).to(self.device) for c in latents.clips] if use_cvvp else []
            return candidates.score_candidates(
                text, codes, clvp=found.get("clvp2"), cvvp=found.get("cvvp"), cond_mels=mels, cvvp_amount=o.cvvp_amount
            ).total

    def _diffuse(self, model, gpt_latents: Tensor, cond: Tensor, o: GenerationOptions, timer, i: int, k: int):
        L = output_length(gpt_latents.shape[1])
        aligned = model.timestep_independent(gpt_latents, cond, L)

        def callback(info: dict) -> None:
            timer.report("diffusion", (i + (info.get("i", 0) + 1) / o.diffusion_steps) / k)

        return decode_mel(
            model,
            aligned,
            L,
            sampler=o.sampler,
            steps=o.diffusion_steps,
            cond_free=o.cond_free,
            cond_free_k=o.cond_free_k,
            temperature=o.diffusion_temperature,
            callback=callback,
        )


class _Timer:
    """Wall time per stage (synchronised with the device) and progress reports."""

    def __init__(self, device: torch.device, progress: Progress | None):
        self.device, self.progress = device, progress
        self.seconds: dict[str, float] = {}

    def report(self, stage: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(stage, min(max(fraction, 0.0), 1.0))

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self.report(stage, 0.0)
        start = time.perf_counter()
        try:
            yield
        finally:
            devices.synchronize(self.device)
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        self.report(stage, 1.0)
