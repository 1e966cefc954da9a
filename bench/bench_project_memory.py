"""Memory while a project renders: does it grow with the number of segments rendered? (prints numbers; not a test)

    PYTHONPATH=. python bench/bench_project_memory.py [--segments 240] [--every 24]

Tiny random-weight models (``write_tiny_models``) and a tiny random wav2vec2 for the checks (``tests/tiny_wav2vec``),
so the whole render path runs (takes, checks with word timings, retries, take files, project.json after every
segment) at the cost of the pipeline's overhead, not of real models. The resident memory (after ``gc`` and
``malloc_trim``, so what is in use, not what the C heap keeps) is read every ``--every`` segments. Two books:

* ``cycle``: the same ``--every`` texts with the same seeds, over and over. Every tensor shape is met in the first
  cycle, so after it only a leak can grow (the way ``tests/reliability/test_memory.py`` tells a leak from caches);
* ``book``: every segment a new text and seed, as a real book: new shapes keep filling torch's and oneDNN's bounded
  per-shape caches, so some growth that levels off is expected here.

The project file itself grows with the book (its segments and takes are kept in memory): that is data, counted in the
file's size, which ``bench_project.py`` times at 5,000 segments.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "The ship left the harbour at dawn.",
    "Nobody on the quay looked up as it passed, and the gulls kept to their posts on the old stone wall.",
    "She counted the lamps.",
    "By noon the wind had turned, and the sails hung like washing on a still day.",
    "It would be a long voyage.",
    "He wrote every evening, though no letter could be sent until they reached the islands.",
]
QUICK = {"num_autoregressive_samples": 2, "diffusion_steps": 2, "max_mel_tokens": 24}


def rss_mb() -> float:
    from tortoise.cpu.runtime import release_memory

    gc.collect()
    release_memory()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def make_project(path: Path, n: int, every: int, cycle: bool):
    from tortoise.project import new_project
    from tortoise.project.model import CheckSettings

    texts = [f"{SENTENCES[i % len(SENTENCES)]} Part {i % every if cycle else i}." for i in range(n)]
    folder = new_project(path, text="\n\n".join(texts), voice="train_grace", preset="ultra_fast", options=QUICK,
                         seed=None, desired_length=200, max_length=300)  # fmt: skip
    segments = [s for _, _, s in folder.project.segments()]
    for i, s in enumerate(segments):
        s.seed = (i % every if cycle else i) + 1  # explicit: the cycle repeats its seeds
    folder.project.defaults.checks = CheckSettings(max_cer=1.0, min_rate=0.0, max_rate=1e9, max_silence=1e9,
                                                   cut_off=False, max_takes=2)  # fmt: skip
    folder.save()
    return folder, len(segments)


def run(kind: str, tts, transcriber, n: int, every: int) -> None:
    from tortoise.project import render

    with tempfile.TemporaryDirectory() as tmp:
        folder, total = make_project(Path(tmp) / kind, n, every, cycle=kind == "cycle")
        samples, start = [], time.perf_counter()

        def progress(p):
            if p.done % every == 0:
                samples.append((p.done, rss_mb()))

        render(folder, tts, transcriber=transcriber, progress=progress)
        seconds = time.perf_counter() - start
    base = samples[0][1]
    series = ", ".join(f"{d}: {mb:.0f}" for d, mb in samples)
    growth = samples[-1][1] - base
    per100 = growth / max(samples[-1][0] - samples[0][0], 1) * 100
    print(f"{kind}: {total} segments in {seconds:.0f} s; RSS MB after segment {series}")
    print(f"{kind}: {growth:+.1f} MB from segment {samples[0][0]} to {samples[-1][0]} ({per100:+.2f} MB per 100)")


def main() -> None:
    import torch

    from tests.tiny_wav2vec import tiny_aligner
    from tortoise.api import TextToSpeech
    from tortoise.model_zoo import write_tiny_models
    from tortoise.project.checks import CTCTranscriber

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=240)
    ap.add_argument("--every", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = write_tiny_models(Path(tempfile.mkdtemp(prefix="tiny-models-")), seed=0)
    tts = TextToSpeech(models_dir=models, device="cpu")
    transcriber = CTCTranscriber(tiny_aligner())
    print(f"torch {torch.__version__}, {args.threads} threads; RSS at start {rss_mb():.0f} MB")
    for kind in ("cycle", "book"):
        run(kind, tts, transcriber, args.segments, args.every)


if __name__ == "__main__":
    main()
