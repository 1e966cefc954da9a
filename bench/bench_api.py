"""Time to first byte of the speech API (tortoise/server), measured with the official ``openai`` client.

    python bench/bench_api.py [--models-dir DIR] [--device cpu] [--requests 5] [--formats pcm mp3 opus]

Starts the API on 127.0.0.1 (a free port) in this process, warms it up with one request (models load, the voice's
latents are computed), then sends ``--requests`` streamed requests per format (model tts-1 = fast_mode, voice
alloy, seeds 1..N) one after another and prints the median and max time to the first body byte, the total time and
the seconds of speech. Without ``--models-dir`` it uses tiny random-weight models (the overhead of the server,
encoders and streaming path, not the speed of real models).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

TEXT = "Hello there, this is the local speech server speaking. It streams while it speaks."


def start(engine):
    import uvicorn

    from tortoise.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}/v1"


def one(client, fmt: str, seed: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first, size = None, 0
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format=fmt, extra_body={"seed": seed}
    ) as response:
        for data in response.iter_bytes():
            first = time.perf_counter() - start if first is None else first
            size += len(data)
    return first, time.perf_counter() - start, size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--device", default=None)
    p.add_argument("--requests", type=int, default=5)
    p.add_argument("--formats", nargs="+", default=["pcm", "mp3", "opus"])
    p.add_argument("--chunk-tokens", type=int, default=40)
    p.add_argument("--first-chunk-tokens", type=int, default=60)
    args = p.parse_args()

    import openai

    from tortoise.api import TextToSpeech
    from tortoise.server import ServerSettings, SpeechEngine

    models = args.models_dir
    if models is None:
        from tortoise.model_zoo import write_tiny_models

        models = write_tiny_models(Path(tempfile.mkdtemp(prefix="tiny-models-")), seed=0)
    tts = TextToSpeech(models_dir=models, device=args.device)
    settings = ServerSettings(chunk_tokens=args.chunk_tokens, first_chunk_tokens=args.first_chunk_tokens)
    server, url = start(SpeechEngine(tts, settings))
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
    warm = one(client, "pcm", 0)
    print(f"{tts.device}, models {models}; warm-up request {warm[1]:.2f} s")
    print("format  first byte median/max (s)  total median (s)  speech (s, pcm)")
    for fmt in args.formats:
        runs = [one(client, fmt, seed) for seed in range(1, args.requests + 1)]
        firsts, totals = [r[0] for r in runs], [r[1] for r in runs]
        speech = f"{statistics.median(r[2] for r in runs) / 48000:.2f}" if fmt == "pcm" else "-"
        first = f"{statistics.median(firsts):8.3f} / {max(firsts):.3f}"
        print(f"{fmt:6}  {first:>27}  {statistics.median(totals):16.3f}  {speech}")
    server.should_exit = True


if __name__ == "__main__":
    main()
