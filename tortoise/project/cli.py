"""``tortoise-tts project``: new, render, check, status, export. Parses arguments and calls :mod:`tortoise.project`."""

from __future__ import annotations

import argparse
import functools
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .export import EXPORT_FORMATS, export
from .importing import new_project
from .model import MOST_TAKES, THRESHOLDS, CheckSettings
from .render import RenderProgress, render
from .store import ProjectFolder

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 130


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _thresholds(args: argparse.Namespace, settings: CheckSettings) -> CheckSettings:
    """``settings`` with the thresholds given on the command line (validated before any work)."""
    return settings.updated(**{name: getattr(args, name) for name in THRESHOLDS})


def _save_checks(folder: ProjectFolder, args: argparse.Namespace, enabled: bool | None) -> None:
    """Save the checks' switch and thresholds given on the command line in the project (if any were given)."""
    settings = _thresholds(args, folder.project.defaults.checks)
    if enabled is not None:
        settings.enabled = enabled
    if settings != folder.project.defaults.checks:
        folder.project.defaults.checks = settings
        folder.save()


def _new(args: argparse.Namespace) -> int:
    from ..options import preset

    try:
        desired, maximum = (int(x) for x in args.text_split.split(","))
    except ValueError:
        print(f"error: --text-split {args.text_split!r}: use two numbers, e.g. 200,300", file=sys.stderr)
        return EXIT_ERROR
    preset(args.preset)  # an unknown preset fails here, not at render time
    _thresholds(args, CheckSettings())  # so do thresholds out of range
    folder = new_project(
        args.dir, args.source, voice=args.voice, preset=args.preset, seed=args.seed, splitter=args.splitter,
        desired_length=desired, max_length=maximum,
    )  # fmt: skip
    _save_checks(folder, args, None if args.checks else False)
    p = folder.project
    n = sum(len(c.segments) for c in p.chapters)
    print(f"{folder.path}: {p.title or 'untitled'!r}, {len(p.chapters)} chapters, {n} segments")
    return EXIT_OK


def _render(args: argparse.Namespace) -> int:
    folder = ProjectFolder.open(args.dir)
    _save_checks(folder, args, args.checks)
    chapter = folder.project.chapter_index(args.chapter) if args.chapter is not None else None
    which = "bad" if args.only_bad else "all" if args.all else "pending"

    def report(p: RenderProgress) -> None:
        if args.quiet:
            return
        checks = p.segment.accepted.checks if p.segment.accepted else {}
        cer = f" CER {checks['cer']:.2f}" if checks.get("cer") is not None else ""
        print(f"[{p.done}/{p.total}] {p.segment.id} {p.segment.status}{cer}  ETA {_clock(p.eta)}", file=sys.stderr)

    try:
        if args.ray is not None:
            from .cluster import render_on_ray

            make_tts = functools.partial(args.engine, args)  # built on each worker, with these options
            summary = render_on_ray(
                folder, make_tts, address=args.ray, chapter=chapter, which=which, cpus_per_worker=args.ray_cpus,
                max_workers=args.ray_workers, progress=report,
            )  # fmt: skip
        else:
            summary = render(folder, args.engine(args), chapter=chapter, which=which, progress=report)
    except KeyboardInterrupt:
        print("cancelled; every finished segment is saved (run the same command to resume)", file=sys.stderr)
        return EXIT_CANCELLED
    for segment_id, message in summary.failed.items():
        print(f"{segment_id} failed: {message}", file=sys.stderr)
    print(f"{len(summary.rendered)} segments rendered in {_clock(summary.seconds)}; {len(summary.bad)} bad, "
          f"{len(summary.failed)} failed")  # fmt: skip
    return EXIT_ERROR if summary.failed else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from ..devices import pick
    from .checks import default_transcriber
    from .review import check_accepted, reviewable

    folder = ProjectFolder.open(args.dir)
    _save_checks(folder, args, None)
    chapter = folder.project.chapter_index(args.chapter) if args.chapter is not None else None
    if not reviewable(folder, chapter):
        print("nothing to check: no segment has a take of its current text (render first)")
        return EXIT_OK
    # a missing recogniser says what to download, first
    transcriber = default_transcriber(pick(args.device), instead="then check again")

    def report(p: RenderProgress) -> None:
        if not args.quiet:
            checks = p.segment.accepted.checks
            verdict = "ok" if checks.get("passed") else "bad: " + "; ".join(checks.get("problems", ()))
            print(f"[{p.done}/{p.total}] {p.segment.id} CER {checks['cer']:.2f} {verdict}", file=sys.stderr)

    try:
        summary = check_accepted(folder, transcriber, chapter=chapter, progress=report)
    except KeyboardInterrupt:
        print("cancelled; the checks made so far are saved", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"{len(summary.checked)} takes checked in {_clock(summary.seconds)}; {len(summary.bad)} bad "
          "(`project render DIR --only-bad` makes them again)")  # fmt: skip
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    p = ProjectFolder.open(args.dir).project
    c = p.defaults.checks
    checks = "off"
    if c.enabled:
        checks = (f"on (CER <= {c.max_cer:g}, {c.min_rate:g}-{c.max_rate:g} chars/s, silences <= {c.max_silence:g} s"
                  f"{', cut-off end' if c.cut_off else ''}; up to {c.max_takes} takes)")  # fmt: skip
    print(f"{p.title or 'untitled'!r} by {p.author or 'unknown'}: voice {p.defaults.voice}, "
          f"preset {p.defaults.preset}, checks {checks}")  # fmt: skip
    total: Counter = Counter()
    for c, chapter in enumerate(p.chapters, 1):
        counts = Counter(s.status for s in chapter.segments)
        total += counts
        seconds = sum(s.accepted.seconds for s in chapter.segments if s.accepted)
        detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"{c:>3}. {chapter.title[:40]:<40} {len(chapter.segments):>5} segments ({detail}), {_clock(seconds)}")
    print("total: " + ", ".join(f"{n} {status}" for status, n in sorted(total.items())))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    folder = ProjectFolder.open(args.dir)
    chapter = folder.project.chapter_index(args.chapter) if args.chapter is not None else None
    report = export(folder, args.output, args.format, chapter=chapter, target=args.target, words=args.words)
    line = f"{report.path}: {_clock(report.seconds)}, {len(report.cues)} segments, {len(report.chapters)} chapters"
    if report.loudness is not None:
        line += f", {report.loudness:.1f} LUFS {report.gain_db:+.1f} dB"
        line += " (gain lowered to keep the true peak at -1 dBTP)" if report.peak_limited else ""
    print(line)
    return EXIT_OK


def add_project_command(subparsers: Any, *, engine_args, engine) -> argparse.ArgumentParser:
    """Add ``project`` to the CLI; ``engine_args(parser)`` adds the model/device options, ``engine(args)`` makes the
    ``TextToSpeech`` (both from :mod:`tortoise.cli`, so every command takes the same options)."""
    from ..options import PRESETS
    from ..text import SPLITTERS

    project = subparsers.add_parser(
        "project", help="long-form projects (audiobooks): new, render, check, status, export"
    )
    sub = project.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    def thresholds(p: argparse.ArgumentParser) -> None:
        d = CheckSettings()  # the defaults, said in the help
        g = p.add_argument_group("check thresholds (saved in the project)")
        # fmt: off
        g.add_argument("--max-cer", type=float, help="a take whose transcript's character error rate is above this "
                       f"is bad (default {d.max_cer:g})")
        g.add_argument("--min-rate", type=float, help="fewest characters per second of speech (default "
                       f"{d.min_rate:g})")
        g.add_argument("--max-rate", type=float, help=f"most characters per second of speech (default {d.max_rate:g})")
        g.add_argument("--max-silence", type=float, help="longest silence inside a take, seconds (default "
                       f"{d.max_silence:g})")
        g.add_argument("--cut-off-check", dest="cut_off", action=argparse.BooleanOptionalAction, default=None,
                       help=f"a take still loud at its very end is bad (default {'on' if d.cut_off else 'off'})")
        g.add_argument("--max-takes", type=int, help=f"takes per segment at most, 1-{MOST_TAKES} (default "
                       f"{d.max_takes})")
        # fmt: on

    def device_only(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("models and device (accepted like every command's; this action uses no model)")
        g.add_argument("--models-dir", type=Path)
        g.add_argument("--device")

    # fmt: off
    p = sub.add_parser("new", help="make a project from a .txt, .md or .epub file")
    p.add_argument("dir", type=Path, help="the project folder to make")
    p.add_argument("--from", dest="source", type=Path, required=True, help="the book: .txt, .md or .epub")
    p.add_argument("-v", "--voice", default="random", help="the narrator's voice (default random)")
    p.add_argument("-p", "--preset", default="fast", choices=list(PRESETS), help="quality/speed preset (default fast)")
    p.add_argument("--seed", type=int, help="explicit seed: the segment at position i uses seed + i")
    p.add_argument("--splitter", default="ours", choices=SPLITTERS, help="how paragraphs are split into segments")
    p.add_argument("--text-split", default="200,300", help="desired,max characters per segment (default 200,300)")
    p.add_argument("--no-checks", dest="checks", action="store_false", help="do not transcribe and check takes")
    thresholds(p)
    device_only(p)
    p.set_defaults(func=_new)

    p = sub.add_parser("render", help="render what is new, edited or failed (resumable; Ctrl-C keeps what is done)")
    p.add_argument("dir", type=Path)
    p.add_argument("--chapter", type=int, help="only this chapter (numbered from 1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only-bad", action="store_true", help="only the segments marked bad")
    which.add_argument("--all", action="store_true", help="every segment again (new takes; old ones are kept)")
    p.add_argument("--checks", action=argparse.BooleanOptionalAction, default=None,
                   help="turn the project's checks on or off (saved in the project)")
    thresholds(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    g = p.add_argument_group("on a Ray cluster (extra 'ray'; paths such as --models-dir are the workers' paths)")
    g.add_argument("--ray", metavar="ADDRESS", help="render on a Ray cluster, one worker per GPU: auto, local (start "
                   "one here), HOST:6379 or ray://HOST:10001")
    g.add_argument("--ray-cpus", type=int, default=4, metavar="N", help="CPUs per worker on a cluster without GPUs "
                   "(default 4)")
    g.add_argument("--ray-workers", type=int, metavar="N", help="at most N workers (default: one per GPU)")
    engine_args(p)
    p.set_defaults(func=_render, engine=engine)

    p = sub.add_parser("check", help="check the takes made (CER, rate, silences, cut-off end; word timings for "
                       "subtitles) without rendering again; a failed take's segment is marked bad")
    p.add_argument("dir", type=Path)
    p.add_argument("--chapter", type=int, help="only this chapter (numbered from 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    thresholds(p)
    g = p.add_argument_group("device (the wav2vec2 recogniser runs there; --models-dir is accepted and unused)")
    g.add_argument("--models-dir", type=Path)
    g.add_argument("--device")
    p.set_defaults(func=_check)

    p = sub.add_parser("status", help="chapters, segments by status, rendered time")
    p.add_argument("dir", type=Path)
    device_only(p)
    p.set_defaults(func=_status)

    p = sub.add_parser("export", help="write the book or a chapter as audio or subtitles")
    p.add_argument("dir", type=Path)
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--chapter", type=int, help="only this chapter (numbered from 1)")
    p.add_argument("--target", type=float, default=-18.0, help="loudness of the whole book, LUFS (default -18)")
    p.add_argument("--words", action="store_true", help="srt/vtt: one cue per word (takes checked with wav2vec2)")
    device_only(p)
    p.set_defaults(func=_export)
    # fmt: on
    return project
