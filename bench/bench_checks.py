"""How well the take checks (issue 19) catch bad takes, and how often they fail good ones (prints numbers; not a test).

    apt-get install espeak-ng sox                      # Debian packages
    python -m pip install --target /tmp/psphinx "pocketsphinx>=5.1,<6"   # ships an English model; bench only
    PYTHONPATH=$PWD:/tmp/psphinx python bench/bench_checks.py [--voices 3] [--asr-good 90] [--asr-bad 30] [--jobs 2]

Good takes: every sentence of ``checks_sentences.txt`` spoken by espeak-ng in ``--voices`` voice/speed settings.
Bad takes, one of each kind per good take, made from it on purpose (``checks_corpus.KINDS``): cut off, only the first
words spoken, another sentence, another sentence appended, silence inserted, a stutter, sped up / slowed down, noise.
Each is checked by :func:`tortoise.project.checks.check_take` with the project's default :class:`CheckSettings`:
(a) every take without a recogniser (rate, silence, cut-off end); (b) ``--asr-good`` good takes and ``--asr-bad``
takes of each bad kind with pocketsphinx as the recogniser. Pocketsphinx is a STAND-IN: the product transcribes with
wav2vec2 (a far stronger recogniser, not downloadable here), so the CER figures here are not the product's.
Also the model-free checks on the built-in voice clips (real human speech, text unknown: no rate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import time
from pathlib import Path

import numpy as np
from checks_corpus import KINDS, SR, VOICES, Take, good_take, make_bad, pick_other, tight_end
from common import cpu_name, save_json, table

from tortoise.audio_io import read_audio, resample_hq, to_mono
from tortoise.project.checks import check_take, measure
from tortoise.project.model import CheckSettings

HERE = Path(__file__).parent
SENTENCES = HERE / "checks_sentences.txt"
VOICE_CLIPS = HERE.parent / "tortoise" / "assets" / "voices"
TIGHT_END = [0.0, 0.05, 0.1]  # seconds kept after the speech in the good_tight_end takes
HUMAN_KINDS = {"cut": KINDS["cut"], "silence": [1.0, 2.0], "noise_white": [10.0, 5.0, 0.0]}


class PocketSphinxTranscriber:
    """A Transcriber (tortoise.project.checks) with pocketsphinx's own English model and language model.

    A stand-in for the wav2vec2 recogniser the product uses: a 2010s GMM recogniser, much weaker on clean speech.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def transcribe(self, audio, sample_rate: int) -> str:
        from scipy.signal import resample_poly

        x = resample_poly(np.asarray(audio, np.float32), 16000, sample_rate)
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr.lower() if hyp else ""


_TRANSCRIBER: PocketSphinxTranscriber | None = None


def _synth(args: tuple[str, str, int, int]) -> Take:
    return good_take(*args)


def evaluate(task: tuple) -> dict:
    """One take checked: without a recogniser, and with pocketsphinx when ``asr``."""
    global _TRANSCRIBER
    kind, param, j, take, other, seed, asr = task
    if kind == "good":
        audio = take.audio
    elif kind == "good_tight_end":
        audio = tight_end(take, param)
    else:
        audio = make_bad(kind, param, take, other, seed)
    settings = CheckSettings()
    check = check_take(audio, SR, take.text, settings)
    row = {"kind": kind, "param": param, "j": j, "voice": take.voice, "speed": take.speed, "seconds": check.seconds,
           "other_ratio": other.seconds / take.seconds if other else None, "speech": check.speech_seconds,
           "rate": check.rate, "silence": check.silence, "cut_off": check.cut_off,
           "problems": check.problems}  # fmt: skip
    if asr:
        if _TRANSCRIBER is None:
            _TRANSCRIBER = PocketSphinxTranscriber()
        with_asr = check_take(audio, SR, take.text, settings, _TRANSCRIBER)
        row |= {"cer": with_asr.cer, "transcript": with_asr.transcript, "asr_problems": with_asr.problems}
    return row


def tasks(takes: list[Take], args) -> list[tuple]:
    rng = np.random.default_rng(19)
    n = len(takes)
    out = []
    for k, kind in enumerate(["good", "good_tight_end", *KINDS]):
        params = KINDS.get(kind, TIGHT_END if kind == "good_tight_end" else [0.0])
        n_asr = 0 if kind == "good_tight_end" else args.asr_good if kind == "good" else args.asr_bad
        asr = set(rng.choice(n, min(n, n_asr), replace=False).tolist())
        for j, take in enumerate(takes):
            seed = 100_000 * (k + 1) + j
            pr = np.random.default_rng(seed)
            param = params[pr.integers(len(params))]
            out.append((kind, param, j, take, pick_other(kind, j, takes, pr), seed, j in asr))
    return out


def flagged(problems: list[str], check: str) -> bool:
    return any(p.startswith(check) for p in problems)


def frac(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "-"


def label(kind: str, param: float) -> str:
    unit = {"good_tight_end": "s kept", "cut": "of speech", "first_words": "of words", "silence": "s",
            "stutter": "s", "tempo": "x", "appended": "s gap", "noise_white": "dB SNR",
            "noise_pink": "dB SNR"}.get(kind)  # fmt: skip
    return f"{kind} {param:g} {unit}" if unit else kind


def groups(rows: list[dict], by_param: bool) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    order = ["good", "good_tight_end", *KINDS]
    for r in sorted(rows, key=lambda r: (order.index(r["kind"]), r["param"])):
        out.setdefault(label(r["kind"], r["param"]) if by_param else r["kind"], []).append(r)
    return out


def model_free_table(rows: list[dict], by_param: bool) -> str:
    body = []
    for name, rs in groups(rows, by_param).items():
        n = len(rs)
        cells = [frac(sum(flagged(r["problems"], c) for r in rs), n) for c in ("rate", "silence", "cut off")]
        body.append([name, *cells, frac(sum(bool(r["problems"]) for r in rs), n)])
    return table(["takes", "rate", "silence", "cut-off end", "verdict: bad"], body)


def asr_table(rows: list[dict]) -> str:
    body = []
    for name, rs in groups([r for r in rows if "cer" in r], by_param=False).items():
        n = len(rs)
        cer = [r["cer"] for r in rs]
        body.append([name, frac(sum(flagged(r["asr_problems"], "CER") for r in rs), n),
                     frac(sum(bool(r["problems"]) for r in rs), n), frac(sum(bool(r["asr_problems"]) for r in rs), n),
                     f"{np.median(cer):.2f}"])  # fmt: skip
    return table(["takes", "CER > max_cer", "verdict without CER", "verdict with CER", "median CER"], body)


def distribution(values: list[float]) -> str:
    q = np.percentile(values, [0, 10, 50, 90, 95, 100])
    return " / ".join(f"{v:.2f}" for v in q)


def good_stats(rows: list[dict]) -> str:
    good = [r for r in rows if r["kind"] == "good"]
    lines = ["quantity on good takes: min / p10 / median / p90 / p95 / max"]
    for key in ("rate", "silence", "seconds"):
        lines.append(f"- {key}: {distribution([r[key] for r in good])}")
    asr = [r for r in good if "cer" in r]
    if asr:
        for family in ("all", "klatt", "plain"):
            cer = [r["cer"] for r in asr if family == "all" or (family == "klatt") == ("klatt" in r["voice"])]
            if cer:
                lines.append(f"- CER (pocketsphinx, {family} voices, n={len(cer)}): {distribution(cer)}")
        for voice in sorted({r["voice"] for r in asr}):
            cer = [r["cer"] for r in asr if r["voice"] == voice]
            lines.append(f"  - {voice} (n={len(cer)}): median {np.median(cer):.2f}, max {max(cer):.2f}")
    return "\n".join(lines)


def human_clips() -> tuple[str, str]:
    """The built-in voice clips as they are (one row each), and made bad (cut, silence, noise): silence/cut-off only."""
    settings = CheckSettings()
    clips, rows = [], []
    for path in sorted(VOICE_CLIPS.glob("*/*")):
        if path.suffix in (".wav", ".mp3"):
            audio, sr = read_audio(path)
            clips.append(Take("", f"{path.parent.name}/{path.name}", 0, resample_hq(to_mono(audio), sr, SR)))
    for j, clip in enumerate(clips):
        variants = [("good", 0.0, clip.audio)]
        for kind, params in HUMAN_KINDS.items():
            variants += [(kind, p, make_bad(kind, p, clip, None, 1000 * j + k)) for k, p in enumerate(params)]
        for kind, param, audio in variants:
            speech, silence, cut_off = measure(audio, SR)
            rows.append({"kind": kind, "param": param, "clip": clip.voice, "seconds": len(audio) / SR,
                         "speech": speech, "silence": silence, "cut_off": cut_off,
                         "problems": [p for p, bad in (("silence", silence > settings.max_silence),
                                                       ("cut off", cut_off)) if bad]})  # fmt: skip
    good = [[r["clip"], r["seconds"], r["speech"], r["silence"], r["cut_off"]] for r in rows if r["kind"] == "good"]
    body = []
    for name, rs in groups(rows, by_param=True).items():
        n = len(rs)
        body.append([name, *(frac(sum(flagged(r["problems"], c) for r in rs), n) for c in ("silence", "cut off"))])
    return (
        table(["clip", "seconds", "speech s", "longest silence s", "cut-off end"], good),
        table(["takes", "silence", "cut-off end"], body),
    )


def sweep(rows: list[dict], name: str, values: list[float], flag, kinds: list[str]) -> str:
    """Good takes failed and bad takes caught by one check as its threshold moves (``flag(row, value)``)."""
    by_kind = groups([r for r in rows if r["kind"] in ["good", *kinds]], by_param=False)
    body = []
    for v in values:
        body.append([f"{name} = {v:g}", *(frac(sum(flag(r, v) for r in rs), len(rs)) for rs in by_kind.values())])
    return table(["threshold", *(f"{k}" for k in by_kind)], body)


def relative_rate(rows: list[dict], bounds: tuple[float, float] = (0.75, 1.33)) -> str:
    """A rate check against the voice's own median rate (of its good takes), not fixed bounds (not the product's)."""
    rates: dict[tuple, list[float]] = {}
    for r in rows:
        if r["kind"] == "good":
            rates.setdefault((r["voice"], r["speed"]), []).append(r["rate"])
    median = {k: float(np.median(v)) for k, v in rates.items()}
    lo, hi = bounds
    out = [r | {"relative": r["rate"] / median[(r["voice"], r["speed"])]} for r in rows]
    kinds = ["cut", "first_words", "other_similar", "other_different", "appended", "silence", "stutter", "tempo"]
    return sweep(out, f"rate / voice median outside {lo}..", [hi], lambda r, v: not lo <= r["relative"] <= v, kinds)


def sweeps(rows: list[dict]) -> str:
    d = CheckSettings()
    out = [sweep(rows, "max_rate", [20.0, 22.0, 23.0, 25.0], lambda r, v: r["rate"] > v,
                 ["cut", "first_words", "other_different", "tempo"]),
           sweep(rows, "min_rate", [6.0, 8.0, 10.0], lambda r, v: r["rate"] < v,
                 ["other_different", "appended", "silence", "tempo"]),
           sweep(rows, "max_silence", [0.6, 0.8, 1.0, 1.2, d.max_silence], lambda r, v: r["silence"] > v,
                 ["silence"])]  # fmt: skip
    out.append(relative_rate(rows))
    asr = [r for r in rows if "cer" in r]
    if asr:
        kinds = [k for k in KINDS if any(r["kind"] == k for r in asr)]
        values = [d.max_cer, 0.5, 0.6, 0.7, 0.8]
        out.append(sweep(asr, "max_cer (pocketsphinx)", values, lambda r, v: r["cer"] > v, kinds))
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", type=int, default=3, help="voice/speed settings per sentence")
    ap.add_argument("--asr-good", type=int, default=90, help="good takes checked with pocketsphinx (0: none)")
    ap.add_argument("--asr-bad", type=int, default=30, help="takes of each bad kind checked with pocketsphinx")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--report", type=Path, help="print the tables of a --json file again, measuring nothing")
    args = ap.parse_args()
    if args.report:
        report(json.loads(args.report.read_text())["rows"])
        return
    sentences = [s for s in SENTENCES.read_text().splitlines() if s.strip()]
    specs = [(s, *VOICES[(args.voices * i + k) % len(VOICES)], i * 10 + k)
             for i, s in enumerate(sentences) for k in range(args.voices)]  # fmt: skip
    start = time.time()
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        takes = pool.map(_synth, specs, chunksize=8)
        rows = pool.map(evaluate, tasks(takes, args), chunksize=4)
    print(f"machine: {cpu_name()}, {platform.platform()}, {args.jobs} jobs, {time.time() - start:.0f} s")
    print(f"corpus: {len(sentences)} sentences x {args.voices} voices = {len(takes)} good takes, "
          f"{sum(t.seconds for t in takes) / 60:.1f} min; settings {CheckSettings()}\n")  # fmt: skip
    report(rows)
    save_json(args.json, {"rows": rows, "args": vars(args) | {"json": str(args.json)}})
    good, bad = human_clips()
    print("## Built-in voice clips (real human speech, text unknown: no rate, no CER)\n\n" + good + "\n\n" + bad)


def report(rows: list[dict]) -> None:
    print("## Model-free checks (no recogniser), every take\n\n" + model_free_table(rows, by_param=False) + "\n")
    print(model_free_table(rows, by_param=True) + "\n")
    if any("cer" in r for r in rows):
        print("## With pocketsphinx as a stand-in recogniser (NOT wav2vec2)\n\n" + asr_table(rows) + "\n")
    print(good_stats(rows) + "\n")
    ratios = [r["other_ratio"] for r in rows if r["kind"] == "other_similar"]
    print(f"other_similar duration ratio: {distribution(ratios)}\n")
    print("## Thresholds moved (one check alone; the other settings as they are)\n\n" + sweeps(rows) + "\n")


if __name__ == "__main__":
    main()
