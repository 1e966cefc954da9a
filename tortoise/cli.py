"""``tortoise-tts``: the command line. Parses arguments and calls the library; one-line errors, exit codes.

Sub-commands: ``doctor`` (what the machine offers), ``voices list|prepare`` (the voice library).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from . import __version__
from .errors import TortoiseError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _doctor(args: argparse.Namespace) -> int:
    from . import doctor

    report = doctor.run(args.device, smoke=not args.no_smoke_test)
    print(report.text())
    return EXIT_ERROR if report.problems else EXIT_OK


def _voices_list(args: argparse.Namespace) -> int:
    from .voices import VoiceLibrary

    library = VoiceLibrary(extra_dirs=args.voices_dir)
    for voice in library.list():
        print(f"{voice.name:<24} {voice.kind:<8} {voice.summary}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tortoise-tts", description="TorToiSe text-to-speech and voice cloning.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="show devices, PyTorch build and why a GPU is or is not used")
    p.add_argument("--device", help="device to check (default: the best available)")
    p.add_argument("--no-smoke-test", action="store_true", help="do not run the tiny model on the device")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    warnings.simplefilter("default")
    try:
        return int(args.func(args) or EXIT_OK)
    except TortoiseError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
