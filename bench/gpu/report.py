"""Markdown tables from bench/gpu/run.py's results.json (also: ``python bench/gpu/report.py results.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common

STAGES = ["conditioning", "autoregressive", "clvp", "latents", "diffusion", "vocoder"]
GIB = 2**30


def _side(r: dict) -> str:
    return "original fp16" if r["side"] == "reference" else f"ours {r['dtype']}{' graph' if r['graph'] else ''}"


def e2e_table(runs: list[dict]) -> str:
    rows = []
    order = ["ultra_fast", "fast", "standard"]
    keys = sorted({(r["text"], r["preset"]) for r in runs}, key=lambda k: (k[0], order.index(k[1])))
    for text, preset in keys:
        group = [r for r in runs if (r["text"], r["preset"]) == (text, preset)]
        ref = [r["total_s"] for r in group if r["side"] == "reference"]
        for r in group:
            stages = [r["stages"].get(s, 0.0) for s in STAGES]
            speedup = f"{min(ref) / r['total_s']:.2f}x" if ref and r["side"] != "reference" else "-"
            peak = (r.get("peak_bytes") or 0) / GIB
            rows.append([text, preset, r["tokens"], _side(r), r.get("batch", "-"), *stages, r["total_s"], speedup,
                         round(peak, 2)])  # fmt: skip
    headers = ["text", "preset", "codes", "side", "AR batch", *STAGES, "total s", "vs original", "peak GiB"]
    return common.table(headers, rows)


def write_report(res: dict) -> str:
    out = ["# GPU run", "", f"machine: {json.dumps(res.get('machine', {}))}", ""]
    if res.get("tests"):
        out += ["## Tests on the device", "", common.table(["precision", "result", "s"], [
            [p, t["summary"], t["seconds"]] for p, t in res["tests"].items()]), ""]  # fmt: skip
    if res.get("loads"):
        out += ["## Loading", "", "```", json.dumps(res["loads"], indent=1), "```", ""]
    if res.get("e2e"):
        out += ["## End to end (seconds, medians not taken: one timed run after a warm-up run)", "",
                e2e_table(res["e2e"]), ""]  # fmt: skip
    if res.get("first_audio"):
        out += ["## Time to first audio, fast mode (HiFi-GAN), streamed, text A", "", common.table(
            ["precision", "first chunk s", "total s", "audio s"],
            [[d, r["first_s"], r["total_s"], r["audio_s"]]
             for d, r in res["first_audio"].items() if r]), ""]  # fmt: skip
    if res.get("step_ms"):
        rows = [[d, k, v] for d, r in res["step_ms"].items() if r for k, v in r.items() if k != "ok"]
        out += ["## Decode step (ms per step)", "", common.table(["precision", "mode, batch", "ms"], rows), ""]
    if res.get("memory"):
        rows = [[d, b, m["peak_bytes"] / 2**20, m["per_candidate"] / 2**20, m["estimate_per_candidate"] / 2**20]
                for d, r in res["memory"].items() if r for b, m in r.items() if b != "ok"]  # fmt: skip
        headers = ["precision", "batch", "peak", "measured per candidate", "estimate"]
        out += ["## Memory per AR candidate (MiB)", "", common.table(headers, rows), ""]
    if res.get("oom"):
        out += ["## Out-of-memory halving", "", "```", json.dumps(res["oom"], indent=1), "```", ""]
    if res.get("skipped"):
        out += ["Skipped for time: " + "; ".join(res["skipped"]), ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(write_report(json.loads(Path(sys.argv[1]).read_text())))
