"""``tortoise-tts voices prepare FILE... --name NAME``: the command-line face of ``prepare_voice``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from ..errors import InvalidInputError, TortoiseError
from .options import PrepOptions
from .prepare import _json_safe, prepare_voice
from .report import format_report

_D = PrepOptions()
EXTRA_MODULES = ("scipy", "pyloudnorm")  # what the voiceprep extra brings
EXTRA_INSTALL = "pip install 'tortoise-tts-oneapi[voiceprep]'"


def _region(text: str) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END in seconds, e.g. 0:0.8 (got {text!r})") from None
    return start, end


def add_prepare_command(subparsers) -> None:
    """Register ``prepare`` on an argparse sub-parsers object (the lead's ``voices`` group)."""
    p = subparsers.add_parser(
        "prepare",
        help="turn recordings into a voice (clean 22.05 kHz clips + voice.json)",
        description="Mix down, clean, trim, slice and loudness-normalise recordings into a new voice folder. "
        "The original files are never modified.",
    )
    # fmt: off
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings (wav/flac/ogg/mp3/m4a/webm/...)")
    p.add_argument("--name", required=True, help="voice name (sanitised to a safe folder name)")
    p.add_argument("--voices-dir", default=None, help="voices folder (default: the user voices folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing voice of that name")
    p.add_argument("--dry-run", action="store_true", help="process and report, write nothing")
    p.add_argument("--models-dir", default=None, help="models folder: when the models are there, the voice's "
                   "conditioning latents are computed and cached right away")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    g = p.add_argument_group("steps")
    g.add_argument("--channel", type=int, default=None, help="keep this channel (0 = left) instead of averaging")
    g.add_argument("--no-dc", dest="remove_dc", action="store_false", help="keep the DC offset")
    g.add_argument("--highpass-hz", type=float, default=_D.highpass_hz, help="high-pass cut-off, Hz (%(default)s)")
    g.add_argument("--no-highpass", dest="highpass_hz", action="store_const", const=None, help="no high-pass filter")
    g.add_argument("--no-denoise", dest="denoise", action="store_false", help="no noise reduction")
    g.add_argument("--denoise-strength", type=float, default=_D.denoise_strength, help="0..1 (default %(default)s)")
    g.add_argument("--noise-region", type=_region, default=None, metavar="START:END", help="noise-only seconds")
    g.add_argument("--no-trim", dest="trim", action="store_false", help="keep silence at the edges")
    g.add_argument("--trim-db", type=float, default=_D.trim_db, help="silence: dB below speech (%(default)s)")
    g.add_argument("--no-normalize", dest="normalize", action="store_false", help="keep the recorded loudness")
    g.add_argument("--loudness", type=float, default=_D.target_lufs, help="target loudness, LUFS (default %(default)s)")
    g.add_argument("--true-peak", type=float, default=_D.true_peak_db, help="true-peak ceiling, dBTP (%(default)s)")
    g.add_argument("--no-slice", dest="slice", action="store_false", help="one clip per recording")
    g.add_argument("--min-clip", type=float, default=_D.min_clip_s, help="shortest clip, s (default %(default)s)")
    g.add_argument("--max-clip", type=float, default=_D.max_clip_s, help="longest clip, s (default %(default)s)")
    g.add_argument("--keep-rejected", action="store_true", help="also save clips that failed validation")
    # fmt: on
    p.set_defaults(func=run_prepare)


def _options(args: argparse.Namespace) -> PrepOptions:
    return PrepOptions(
        channel=args.channel,
        remove_dc=args.remove_dc,
        highpass_hz=args.highpass_hz,
        denoise=args.denoise,
        denoise_strength=args.denoise_strength,
        noise_region=args.noise_region,
        trim=args.trim,
        trim_db=args.trim_db,
        normalize=args.normalize,
        target_lufs=args.loudness,
        true_peak_db=args.true_peak,
        slice=args.slice,
        min_clip_s=args.min_clip,
        max_clip_s=args.max_clip,
        keep_rejected=args.keep_rejected,
    )


def _cache_latents(models_dir: str | None):
    """``on_saved`` hook: compute and cache the new voice's conditioning latents when the models are present."""

    def on_saved(folder: Path) -> None:
        from ..api import TextToSpeech
        from ..voices import VoiceLibrary
        from ..weights import CHECKPOINTS, resolve_models_dir

        models = resolve_models_dir(models_dir)
        if not all((models / CHECKPOINTS[n].filename).is_file() for n in ("autoregressive", "diffusion_decoder")):
            return  # computed on first use instead
        library = VoiceLibrary(user_dir=Path(folder).parent)
        TextToSpeech(models_dir=models, voices=library).voice_latents(Path(folder).name)

    return on_saved


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``prepare`` and print the report. Exit codes: 0 saved (or dry run with a usable clip), 1 nothing usable
    or an audio/voice error, 2 a bad option or name. Errors print as one line on stderr, without a traceback."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:  # say so before any work starts
        print(f"error: {' and '.join(missing)} missing; install them with: {EXTRA_INSTALL}", file=sys.stderr)
        return 1
    if args.voices_dir:
        voices_dir = args.voices_dir
    else:  # the folder the voice library reads first: $TORTOISE_VOICES_DIR or $XDG_DATA_HOME/tortoise-tts/voices
        from ..voices import user_voices_dir

        voices_dir = user_voices_dir()

    def progress(fraction: float, message: str) -> None:
        if not args.json:
            print(f"[{100 * fraction:3.0f}%] {message}", file=sys.stderr, flush=True)

    try:
        options = _options(args)
        report = prepare_voice(
            args.files,
            args.name,
            voices_dir=voices_dir,
            options=options,
            overwrite=args.overwrite,
            progress=progress,
            dry_run=args.dry_run,
            on_saved=_cache_latents(args.models_dir),
        )
    except InvalidInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:  # scipy / pyloudnorm come with the voiceprep extra
        print(
            f"error: {e.name or e} is missing; install it with: {EXTRA_INSTALL}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(_json_safe(report.to_dict()), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    usable = any(c.file is not None or (args.dry_run and c.verdict != "rejected") for c in report.clips)
    return 0 if usable else 1
