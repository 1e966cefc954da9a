"""``tortoise-tts``: the command line. It parses arguments and calls the library; errors are one line each.

``tortoise-tts [TEXT...] [options]`` speaks text (or stdin, or ``--textfile``); sub-commands: ``doctor``, ``voices``
(list, prepare), ``models`` (list, download, verify, import), ``latents`` (export a voice's latents), ``detect``,
``serve`` (the OpenAI-compatible speech API, tortoise/server), ``project`` (long-form projects: new, render, status,
export; tortoise/project).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .cpu import runtime
from .errors import InvalidInputError, TortoiseError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
SUBCOMMANDS = ("doctor", "voices", "models", "latents", "detect", "serve", "project")

# option flag -> GenerationOptions field (the original's and the fast fork's names are both accepted)
TUNING = {
    "num_autoregressive_samples": int,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "repetition_penalty": float,
    "max_mel_tokens": int,
    "cvvp_amount": float,
    "cond_free_k": float,
    "diffusion_temperature": float,
}


def _engine_args(p: argparse.ArgumentParser) -> None:
    from .options import OFFLOAD_POLICIES, PRECISIONS

    g = p.add_argument_group("models and device")
    # fmt: off
    g.add_argument("--models-dir", type=Path, help="folder with the model weights (default $TORTOISE_MODELS_DIR "
                   "or ~/.cache/tortoise/models)")
    g.add_argument("--device", help="cuda, xpu, mps or cpu (default: the best available)")
    g.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto = fp32, the known-good precision; bf16/fp16 are faster on GPUs but change the sound")
    g.add_argument("--batch-size", type=int, help="autoregressive candidates decoded at once (default: from memory)")
    g.add_argument("--offload", default="auto", choices=OFFLOAD_POLICIES,
                   help="keep models on the GPU (none), move each there only while it runs (models), or use the CPU")
    g.add_argument("--compile", action="store_true", help="record the autoregressive decode step as a CUDA/XPU graph "
                   "(2.5-6x faster decoding measured on an H200); elsewhere torch.compile (slow start, no gain on a "
                   "CPU); falls back to eager with a warning where unsupported")
    g.add_argument("--ar-checkpoint", type=Path, help="a fine-tuned autoregressive.pth to use instead")
    g.add_argument("--diffusion-checkpoint", "--diff-checkpoint", type=Path, help="a fine-tuned diffusion decoder")
    g.add_argument("--clvp-checkpoint", type=Path, help="a fine-tuned CLVP")
    g.add_argument("-V", "--voices-dir", action="append", default=[], help="extra voices folder(s), comma-separated "
                   "or repeated")
    # fmt: on


def _speak_parser() -> argparse.ArgumentParser:
    from .options import MODES, PRESETS, SAMPLERS, VOCODERS
    from .text import SPLITTERS

    p = argparse.ArgumentParser(
        prog="tortoise-tts",
        description="Speak text with TorToiSe. Other commands: " + ", ".join(SUBCOMMANDS) + " (see COMMAND --help).",
        epilog="Example: tortoise-tts 'Hello there.' -v train_grace -p fast -o hello.wav",
    )
    # fmt: off
    p.add_argument("text", nargs="*", help="the text to speak (default: --textfile or standard input)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--textfile", type=Path, help="read the text from this file (UTF-8); '|' forces a segment break")
    p.add_argument("-v", "--voice", default="random", help="voice name; 'a&b' mixes voices, 'a,b' makes one output "
                   "per voice; 'random' (default) invents one")
    p.add_argument("-p", "--preset", default="fast", choices=list(PRESETS), help="quality/speed preset (default fast)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, help="write the speech to this .wav file")
    out.add_argument("-O", "--output-dir", type=Path, help="folder for per-segment files and combined.wav "
                     "(default ./outputs/<voice>)")
    out.add_argument("-l", "--list-voices", action="store_true", help="list the voices and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--stream", action="store_true", help="with -o: write the audio progressively as it is made "
                   "(starts within a sentence in fast mode)")
    p.add_argument("--format", help="output format: mp3, opus, aac, m4a, m4b, flac, wav or pcm (default: from the -o "
                   "extension, else wav); with -O, written as combined.EXT beside combined.wav")
    p.add_argument("--speed", type=float, default=1.0, help="speaking rate, 0.25-4.0, pitch kept (default 1)")
    m = p.add_argument_group("several outputs and long text")
    m.add_argument("--candidates", type=int, help="return the N best candidates (default 1)")
    m.add_argument("--regenerate", help="only regenerate these segments, e.g. '2' or '1,4-5' (others are reused)")
    m.add_argument("--skip-existing", action="store_true", help="resume: keep segment files that already exist")
    m.add_argument("--text-split", default="200,300", help="desired,max characters per segment (default 200,300)")
    m.add_argument("--splitter", default="ours", choices=SPLITTERS, help="how long text is split: ours (default: "
                   "sentence ends anywhere, [brackets] kept whole) or original (the original's rules: quotes kept "
                   "whole)")
    m.add_argument("--seed", type=int, help="random seed (default: a new one, printed so you can reuse it)")
    t = p.add_argument_group("tuning (overrides the preset)")
    for name, kind in TUNING.items():
        t.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    t.add_argument("--diffusion-iterations", "--steps", type=int, dest="diffusion_steps", help="diffusion steps")
    t.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler (p = the original's)")
    t.add_argument("--cond-free", action=argparse.BooleanOptionalAction, default=None,
                   help="conditioning-free guidance (on in most presets)")
    t.add_argument("--vocoder", choices=VOCODERS, help=" or ".join(f"{n} ({v.about})" for n, v in VOCODERS.items()))
    t.add_argument("--mode", choices=MODES, help="fast: HiFi-GAN decoder, no diffusion (as preset fast_mode)")
    t.add_argument("--length-penalty", type=float, help=argparse.SUPPRESS)  # accepted: it never had an effect
    t.add_argument("--voicefixer", action="store_true", help="post-process with voicefixer (if installed)")
    t.add_argument("--disable-redaction", action="store_true", help="speak [bracketed] text instead of cutting it")
    # fmt: on
    _engine_args(p)
    return p


def _voices_dirs(args: argparse.Namespace) -> list[str]:
    """``-V`` folders, repeated or comma-separated."""
    return [d for item in args.voices_dir for d in item.split(",") if d]


def _engine(args: argparse.Namespace):
    from .api import TextToSpeech
    from .voices import VoiceLibrary

    checkpoints = {
        name: path
        for name, path in (
            ("autoregressive", args.ar_checkpoint),
            ("diffusion_decoder", args.diffusion_checkpoint),
            ("clvp2", args.clvp_checkpoint),
        )
        if path is not None
    }
    return TextToSpeech(
        models_dir=args.models_dir,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        offload=args.offload,
        checkpoints=checkpoints,
        voices=VoiceLibrary(extra_dirs=_voices_dirs(args)),
        enable_redaction=not getattr(args, "disable_redaction", False),
        compile=args.compile,
    )


def _options(args: argparse.Namespace):
    from .options import preset

    names = (*TUNING, "diffusion_steps", "sampler", "vocoder", "mode", "seed")
    overrides = {name: getattr(args, name) for name in names}
    overrides["cond_free"] = args.cond_free
    overrides["candidates"] = args.candidates
    overrides["voicefixer"] = True if getattr(args, "voicefixer", False) else None
    return preset(args.preset, **{k: v for k, v in overrides.items() if v is not None})


def _read_text(args: argparse.Namespace) -> str:
    if args.text:
        return " ".join(args.text)
    if args.textfile is not None:
        try:
            return args.textfile.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInputError(f"cannot read {args.textfile}: {e}") from e
    if not sys.stdin.isatty():
        return sys.stdin.read()
    raise InvalidInputError("no text given: pass it as arguments, with --textfile FILE, or on standard input")


def _split_lengths(spec: str) -> tuple[int, int]:
    try:
        desired, maximum = (int(x) for x in spec.split(","))
    except ValueError:
        raise InvalidInputError(f"--text-split {spec!r}: use two numbers, e.g. 200,300") from None
    return desired, maximum


def _checked_segments(tts, text: str, **split) -> list[str]:
    """The segments of ``text``, each checked as ``tts.tts`` will check it: one clear error before any work."""
    from .text import split_text

    segments = split_text(text, **split)
    if not segments:
        raise InvalidInputError("the text has nothing to speak")
    for i, segment in enumerate(segments):
        try:
            tts.check_text(segment)
        except InvalidInputError as e:
            if len(segments) == 1:
                raise
            preview = segment if len(segment) <= 40 else segment[:37] + "..."
            raise InvalidInputError(f"segment {i + 1} of {len(segments)} ({preview!r}): {e}") from None
    return segments


def _speak(args: argparse.Namespace) -> int:
    if args.list_voices:
        return _voices_list(args)
    if args.length_penalty is not None:
        warnings.warn("--length-penalty has no effect (it never had one in TorToiSe's sampling)", stacklevel=1)
    text = _read_text(args)
    options = _options(args)
    desired, maximum = _split_lengths(args.text_split)
    voices = [v.strip() for v in args.voice.split(",") if v.strip()]
    if args.output is not None and len(voices) > 1:
        raise InvalidInputError("several voices make several outputs: use -O/--output-dir instead of -o")
    if args.stream and (args.output is None or len(voices) > 1):
        raise InvalidInputError("--stream writes one file: give -o FILE and one voice")
    from .output import check_output

    args.output, fmt = check_output(args.output, args.format, args.speed, stream=args.stream)
    tts = _engine(args)  # loads no model
    # every segment, as generation will split it (--stream too: TextToSpeech.stream takes the same settings)
    split = {"desired_length": desired, "max_length": maximum, "splitter": args.splitter}
    segments = _checked_segments(tts, text, **split)
    for voice in voices:
        tts.check_voice(voice)  # fail before any work, not once per segment
    if args.stream:
        return _stream(tts, text, voices[0], options, args.output, fmt, args.speed, split)
    status = 0
    with contextlib.ExitStack() as stack:
        for voice in voices:
            status = max(status, _speak_voice(args, tts, text, voice, options, len(segments), fmt, stack))
    return status


def _speak_voice(args, tts, text: str, voice: str, options, n_segments: int, fmt: str | None, stack) -> int:
    """One voice's long-text generation for ``_speak``: its folder, progress bars, failures and final file."""
    from .cli_progress import StageBars, print_timings
    from .longform import COMBINED, generate_long, segment_file
    from .output import converted_name, file_tags, finish

    desired, maximum = _split_lengths(args.text_split)
    folder = (args.output_dir or Path("outputs")) / voice.replace("&", "+")
    if args.output is not None:  # the parts of a long text stay beside the file, for --skip-existing
        folder = args.output.with_name(args.output.stem + "_segments")
        if n_segments == 1 and not args.regenerate:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tortoise-")))
    bars = StageBars(disable=args.quiet)
    result = generate_long(
        tts, text, voice, options, folder, desired_length=desired, max_length=maximum,
        splitter=args.splitter, regenerate=args.regenerate, skip_existing=args.skip_existing,
        progress=bars.update, on_segment=bars.start_segment,
    )  # fmt: skip
    bars.close()
    status = 0
    for i, message in sorted(result.failed.items()):
        print(f"segment {i + 1} failed: {message}", file=sys.stderr)
        status = EXIT_ERROR
    if result.combined is None:
        print(f"{voice}: incomplete; finished segments are in {folder} (fix the text, rerun with --skip-existing)")
        return status
    final = result.combined
    tags = file_tags(final, text, voice)
    if args.output is not None:
        final = _place_output(result, args.output, options.candidates, segment_file, fmt, args.speed, tags)
    elif fmt is not None or args.speed != 1.0:
        final = finish(final, converted_name(final, fmt, args.speed), fmt, args.speed, tags=tags)
    print(f"{voice}: {final}")
    if result.generated and not args.quiet:
        print_timings(result, Path(final) if args.output else folder / COMBINED)
    return status


def _stream(tts, text: str, voice: str, options, output: Path, fmt: str | None, speed: float, split: dict) -> int:
    """Write chunks to ``output`` as they come (a WAV header is updated after each one)."""
    import time

    import soundfile as sf

    from .audio import OUTPUT_SAMPLE_RATE as RATE
    from .output import stream_to_file
    from .speed import change_speed

    output.parent.mkdir(parents=True, exist_ok=True)
    start, first, samples = time.perf_counter(), None, 0
    if fmt is not None:
        tags = {"title": text[:200], "artist": voice}
        for written in stream_to_file(tts.stream(text, voice, options, **split), output, fmt, speed, tags=tags):
            first = first if first is not None else time.perf_counter() - start
            samples = written
    else:
        with sf.SoundFile(output, "w", samplerate=RATE, channels=1, subtype="FLOAT") as f:
            for chunk in tts.stream(text, voice, options, **split):
                first = first if first is not None else time.perf_counter() - start
                audio = change_speed(chunk, speed)
                f.write(audio)
                f.flush()
                samples += audio.size
    total = time.perf_counter() - start
    print(f"{voice}: {output}")
    print(f"first audio after {first:.2f}s; {samples / RATE:.1f}s of speech in {total:.1f}s "
          f"(real-time factor {total / max(samples / RATE, 1e-9):.2f})")  # fmt: skip
    return EXIT_OK


def _place_output(result, output: Path, candidates: int, segment_file, fmt, speed: float, tags: dict) -> Path:
    """``-o FILE``: the combined speech at FILE (and FILE_c2.wav ... for single-segment candidates)."""
    from .output import finish

    finish(result.combined, output, fmt, speed, tags=tags)
    if len(result.segments) == 1:
        for c in range(1, candidates):
            extra = segment_file(result.folder, 0, c)
            if extra.is_file():
                finish(extra, output.with_name(f"{output.stem}_c{c + 1}{output.suffix}"), fmt, speed, tags=tags)
    return output


def _doctor(args: argparse.Namespace) -> int:
    from . import doctor

    report = doctor.run(args.device, smoke=not args.no_smoke_test, deep=args.deep)
    print(report.text())
    return EXIT_ERROR if report.problems else EXIT_OK


def _voices_list(args: argparse.Namespace) -> int:
    from .voices import VoiceLibrary

    for voice in VoiceLibrary(extra_dirs=_voices_dirs(args)).list():
        print(f"{voice.name:<24} {voice.kind:<8} {voice.summary}")
    print(f"{'random':<24} {'-':<8} a new random voice each time (reproducible with --seed)")
    return EXIT_OK


def _latents(args: argparse.Namespace) -> int:
    from .conditioning import write_latents_file

    latents = _engine(args).voice_latents(args.voice)
    out = args.output or Path(f"{args.voice.replace('&', '+')}.pth")
    write_latents_file(out, dataclasses.replace(latents, clips=()))
    print(f"{args.voice}: conditioning latents written to {out} (put it in a voice folder as latents.pth)")
    return EXIT_OK


def _detect(args: argparse.Namespace) -> int:
    from .audio import OUTPUT_SAMPLE_RATE
    from .audio_io import load_audio
    from .model_zoo import load_model
    from .weights import resolve_models_dir

    model = load_model("classifier", models_dir=resolve_models_dir(args.models_dir))
    status = EXIT_OK
    for path in args.files:
        try:
            p = model.prob_generated(load_audio(path, OUTPUT_SAMPLE_RATE))
        except TortoiseError as e:
            print(f"{path}: skipped: {e}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        verdict = "likely generated by TorToiSe" if p >= 0.5 else "likely not generated by TorToiSe"
        print(f"{path}: {p:.1%} {verdict}")
    return status


def _strict_load(checkpoint, path: Path) -> object:
    """``models verify --deep``: build the model at the folder's configuration and load the file strictly."""
    from .model_zoo import load_model

    return load_model(checkpoint.name, models_dir=path.parent, path=path)


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tortoise-tts")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("doctor", help="show devices, PyTorch build and why a GPU is or is not used")
    p.add_argument("--device", help="device to check (default: the best available)")
    p.add_argument("--no-smoke-test", action="store_true", help="do not run the tiny model on the device")
    p.add_argument(
        "--deep",
        action="store_true",
        help="also run a short generation with tiny random models on the "
        "device and name every operation that falls back to the CPU (PYTORCH_DEBUG_XPU_FALLBACK)",
    )
    p.set_defaults(func=_doctor)

    voices = sub.add_parser("voices", help="list voices, or prepare a new voice from recordings")
    vsub = voices.add_subparsers(dest="voices_command", metavar="ACTION", required=True)
    p = vsub.add_parser("list", help="list the voices available")
    p.add_argument("-V", "--voices-dir", action="append", default=[], help="an extra voices folder (repeatable)")
    p.set_defaults(func=_voices_list)
    try:
        from .voiceprep.cli import add_prepare_command
    except ImportError:  # the voice-prep extra is not installed
        pass
    else:
        add_prepare_command(vsub)
    from .models_cli import add_models_command

    add_models_command(sub, loader=_strict_load)

    p = sub.add_parser("latents", help="export a voice's conditioning latents to a .pth file")
    p.add_argument("voice", help="voice name (or 'a&b' to mix)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default VOICE.pth)")
    _engine_args(p)
    p.set_defaults(func=_latents)

    p = sub.add_parser("detect", help="estimate whether audio files were generated by TorToiSe")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--models-dir", type=Path, help="folder with classifier.pth")
    p.set_defaults(func=_detect)

    from .server.command import add_serve_command

    add_serve_command(sub, engine_args=_engine_args, make_engine=_engine)

    from .project.cli import add_project_command

    add_project_command(sub, engine_args=_engine_args, engine=_engine)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    runtime.configure_openmp()  # how OpenMP threads wait (tortoise/cpu/runtime.py); before torch is imported
    runtime.configure_allocator()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        args = _command_parser().parse_args(argv)
    else:
        args = _speak_parser().parse_args(argv)
        args.func = _speak
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, category, *a, **k: f"warning: {message}\n"
    try:
        return int(args.func(args) or EXIT_OK)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cancelled; finished segments are kept (rerun with --skip-existing to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
