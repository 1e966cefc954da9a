"""Fast mode (HiFi-GAN decoder) vs the standard ultra_fast preset: time to first audio and real-time factor.

Our side only, at the real model size with random weights (the checkpoints ``bench_ar.py`` writes, plus a real-size
random ``hifidecoder.pth`` written here). The AR checkpoint never samples the stop code, so every sample decodes
exactly ``--tokens`` codes. Run with any venv that has our package:

    python bench/bench_fast.py [--tokens 64] [--repeats 2]

Time to first audio: fast mode streamed with ``TextToSpeech.stream`` (first chunk after ``--first-chunk`` codes);
the standard path delivers its audio when the segment is done, so its first audio is its total time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_MODELS_DIR, SENTENCE, machine_info


def write_hifidecoder(models_dir: Path) -> None:
    """A real-size random ``hifidecoder.pth`` in the released layout (skipped when present)."""
    import torch

    from tortoise.model_zoo import SPECS

    path = models_dir / "hifidecoder.pth"
    if path.is_file():
        return
    spec = SPECS["hifidecoder"]
    torch.manual_seed(0)
    torch.save(spec.to_file(spec.model_cls(spec.default()).state_dict()), path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--first-chunk", type=int, default=40)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    from tortoise.cpu import runtime

    runtime.configure_openmp()  # as the CLI and the app (before torch is imported)
    runtime.configure_allocator()
    import torch

    from tortoise.api import TextToSpeech
    from tortoise.conditioning import LatentCache
    from tortoise.options import preset

    if not (args.models_dir / "autoregressive.pth").is_file():
        sys.exit(f"no checkpoints in {args.models_dir}: run bench/bench_ar.py once (it writes them)")
    write_hifidecoder(args.models_dir)
    tts = TextToSpeech(
        models_dir=args.models_dir, device="cpu", latent_cache=LatentCache(Path(tempfile.mkdtemp())), batch_size=16
    )
    voice = "train_grace"
    common = dict(max_mel_tokens=args.tokens, seed=1)
    fast = preset("fast_mode", **common)
    standard = preset("ultra_fast", **common)
    tts.tts(SENTENCE, voice, fast)  # loads the models and caches the voice latents: not timed
    tts.tts(SENTENCE, voice, preset("ultra_fast", **{**common, "num_autoregressive_samples": 1, "diffusion_steps": 2}))
    rows = {"fast": [], "standard": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        first, samples = None, 0
        for chunk in tts.stream(SENTENCE, voice, fast, first_chunk_tokens=args.first_chunk):
            first = first if first is not None else time.perf_counter() - start
            samples += chunk.numel()
        total = time.perf_counter() - start
        rows["fast"].append((first, total, samples / 24000))
        start = time.perf_counter()
        result = tts.tts(SENTENCE, voice, standard)
        total = time.perf_counter() - start
        rows["standard"].append((total, total, result.seconds))
    info = machine_info()
    print(f"# Fast mode vs ultra_fast, real size, {args.tokens} codes, torch {torch.__version__}, medians of "
          f"{args.repeats}; loadavg {info.get('loadavg')}")  # fmt: skip
    print("\n| mode | time to first audio s | total s | audio s | real-time factor |\n|---|---|---|---|---|")
    for name, label in (("fast", "fast_mode (1 sample, HiFi-GAN, streamed)"), ("standard", "ultra_fast (16, p x30)")):
        first, total, audio = (statistics.median(x[i] for x in rows[name]) for i in range(3))
        print(f"| {label} | {first:.2f} | {total:.2f} | {audio:.2f} | {total / audio:.2f} |")


if __name__ == "__main__":
    main()
