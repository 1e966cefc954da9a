"""Which CPU kernel each layer shape gets on this machine: measured once, at the first model load, then cached.

The packed (``prepacked.py``) and Winograd (``winograd.py``) kernels were tuned on one Intel Xeon with AMX. On other
CPUs a kernel can lose to the plain torch path: on an AMD EPYC with AVX-512-BF16 and no AMX our bf16 diffusion decoder
was 0.90x the original's (issue 20). So before a model's layers are replaced, each distinct layer shape is timed on
the model's own layer, both ways, at representative inputs (linear: 1 and 16 rows, as a decode step at batch 1 and
16; convolution: 128 frames at batch 1 and 512 frames at batch 2, a short sentence and a long one with
conditioning-free guidance): two warm-up calls each, then calls alternating between the two (about 20 ms' worth, 5 to
50 each), in :data:`BLOCKS` blocks that take the inputs in turn. A pair of neighbouring calls sees the same load on
the machine (a busy machine slows both), so the fast kernel's time is judged relative to the plain path's, pair by
pair. A trial keeps the fast kernel only when the median of those ratios is :data:`MARGIN` below 1 on (geometric)
average over the inputs, and it is not clearly slower at any one input (by more than :data:`SLACK` in :data:`CLEARLY`
of the pairs or more): a kernel is never chosen where it measurably loses; otherwise, and on ties, the plain path
stays. Two trials decide; if they disagree (other work on a shared machine spoiled one), a third. About 0.2 s per
layer shape, a few seconds for a real-size model, once.

Decisions are cached in ``$XDG_CACHE_HOME/tortoise/cpu-kernels/<machine>.json`` (``~/.cache`` without it), one file
per machine: its key is the CPU model name, the instruction-set flags these kernels depend on, the torch version and
the thread count, so a new CPU, torch or ``--threads`` measures again. Inside the file, one entry per kernel, dtype,
layer shape and input shapes. Files are written atomically; an unreadable or corrupt file is measured again and
rewritten; an unwritable cache folder only means measuring at every load. The same machine thus makes the same
choice every time. To measure again, delete the file (`tortoise-tts doctor` names it).

``TORTOISE_CPU_KERNELS`` forces a side: ``auto`` (the default: measured), ``fast`` (always the packed and Winograd
kernels, as before the calibration; the tests and kernel benchmarks use it for determinism) or ``plain`` (never; the
same as ``TORTOISE_NO_PACK=1``).

Not a candidate, on purpose: running a bf16 part in float32 instead (with Winograd). It would change the numbers and
the memory the user chose with ``precision="bf16"``; the calibration only picks among kernels computing the same thing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InvalidInputError

log = logging.getLogger(__name__)

ENV = "TORTOISE_CPU_KERNELS"
MODES = ("auto", "fast", "plain")
VERSION = 1  # of the measurement (inputs, rule): part of the machine key, so a change measures again
BLOCKS = 3  # separate measurements per input, spread in time (a burst of other work spoils one)
MIN_REPEATS, MAX_REPEATS, BUDGET = 5, 50, 0.02  # timed calls per run and block: about BUDGET seconds' worth
MARGIN = 0.03  # the fast kernel must save at least this share of the time, on average over the inputs
CLEARLY, SLACK = 0.75, 0.05  # and not be more than SLACK slower at any one input in CLEARLY of the pairs or more
# instruction-set features oneDNN's and MKL's kernel choice depends on (Linux /proc/cpuinfo names)
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
         "avx_vnni")  # fmt: skip

Runs = Mapping[str, Callable[[], object]]
Measure = Callable[[Runs], Mapping[str, list[float]]]  # seconds of each timed call, per run


def env_mode(environ: Mapping[str, str] = os.environ) -> str:
    """``TORTOISE_CPU_KERNELS`` (``auto`` unless set); ``plain`` when ``TORTOISE_NO_PACK`` is set.

    Raises ``InvalidInputError`` for any other value, before a model is loaded.
    """
    if environ.get("TORTOISE_NO_PACK"):
        return "plain"
    value = environ.get(ENV, "").strip().lower() or "auto"
    if value not in MODES:
        raise InvalidInputError(f"{ENV}={environ[ENV]!r} is not one of {', '.join(MODES)}; unset it for auto")
    return value


@dataclass(frozen=True)
class Machine:
    """What a kernel's speed depends on besides the layer: the CPU, its features, torch, threads."""

    cpu: str
    flags: tuple[str, ...]
    torch: str
    threads: int

    @classmethod
    def current(cls) -> Machine:
        name, flags = _cpuinfo()
        return cls(name, tuple(f for f in FLAGS if f in flags), torch.__version__, torch.get_num_threads())

    @property
    def key(self) -> str:
        text = json.dumps([VERSION, self.cpu, self.flags, self.torch, self.threads])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags (Linux); elsewhere the platform's processor name and no flags."""
    name, flags = "", set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    return name or platform.processor() or platform.machine() or "CPU", flags


def default_directory() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tortoise" / "cpu-kernels"


@dataclass(frozen=True)
class Choice:
    """A kernel decision: ``kernel`` is "plain" or the fast kernel's name; ``source`` says how it was made."""

    kernel: str
    source: str  # "measured", "cached" or "forced"
    ms: dict[str, float] = field(default_factory=dict)  # median ms per kernel, summed over the inputs
    ratios: tuple[float, ...] = ()  # the fast kernel's time relative to the plain one's (median), per input


def measure_alternating(
    runs: Runs, *, budget: float = BUDGET, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Seconds per call of each run: two warm-up calls each (the second timed), then rounds calling each once (in
    turn, the order reversed every other round): enough rounds for about ``budget`` seconds per run, between
    :data:`MIN_REPEATS` and :data:`MAX_REPEATS`."""
    slowest = 0.0
    for run in runs.values():
        run()
        t = clock()
        run()
        slowest = max(slowest, clock() - t)
    repeats = min(MAX_REPEATS, max(MIN_REPEATS, int(budget / max(slowest, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        for name in list(runs)[:: -1 if i % 2 else 1]:
            t = clock()
            runs[name]()
            times[name].append(clock() - t)
    return times


def pair_ratios(fast: str, times: Mapping[str, list[float]]) -> list[float]:
    """The fast run's time relative to the plain one's, round by round (calls next to each other see the same load
    on the machine)."""
    return [f / p if p > 0 else math.inf for f, p in zip(times[fast], times["plain"], strict=True)]


def pick(fast: str, ratios: list[list[float]]) -> str:
    """``fast`` when, per input, its time relative to the plain path's (``ratios``: the pairs' ratios of each input)
    has a median :data:`MARGIN` below 1 on (geometric) average over the inputs and is not clearly above 1 at any
    input (above ``1 + SLACK`` in :data:`CLEARLY` of the pairs or more); otherwise "plain"."""
    if not ratios or not all(ratios):
        return "plain"
    low = [statistics.quantiles(r, n=4)[0] if len(r) > 1 else r[0] for r in ratios]  # 3/4 of the pairs above it
    if max(low) > 1 + SLACK:
        return "plain"
    centers = [max(statistics.median(r), 1e-9) for r in ratios]
    mean = math.exp(sum(math.log(c) for c in centers) / len(centers))
    return fast if mean <= 1 - MARGIN else "plain"


class Calibration:
    """Kernel decisions for this machine: forced by ``mode`` (default: :func:`env_mode`), read from the cache, or
    measured (and cached).

    ``measure`` times a set of runs (default :func:`measure_alternating`); tests inject one. ``choices`` holds every
    decision this object made, by key, for reports.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        mode: str | None = None,
        machine: Machine | None = None,
        measure: Measure = measure_alternating,
    ):
        self.mode = env_mode() if mode is None else env_mode({ENV: mode})
        self.machine = machine or Machine.current()
        self.path = (Path(directory) if directory is not None else default_directory()) / f"{self.machine.key}.json"
        self.measure = measure
        self.choices: dict[str, Choice] = {}
        self._entries: dict[str, dict] | None = None  # the file's decisions, read once

    def choose(self, key: str, fast: str, runs: Callable[[], list[Runs]]) -> Choice:
        """Choose between "plain" and ``fast`` for ``key``; ``runs()`` gives, per representative input, both runs."""
        if self.mode != "auto":
            choice = Choice(fast if self.mode == "fast" else "plain", "forced")
        elif (entry := self._cached().get(key)) is not None and entry.get("kernel") in ("plain", fast):
            ms, ratios = entry.get("ms"), entry.get("ratios")
            ms, ratios = ms if isinstance(ms, dict) else {}, tuple(ratios) if isinstance(ratios, list) else ()
            choice = Choice(entry["kernel"], "cached", ms, ratios)
        else:
            choice = self._measured(fast, runs())
            self._store(key, choice)
            log.info("cpu kernel for %s: %s (measured: ms %s, %s/plain %s)", key, choice.kernel, choice.ms, fast,
                     choice.ratios)  # fmt: skip
        self.choices[key] = choice
        return choice

    def _measured(self, fast: str, per_input: list[Runs]) -> Choice:
        """Two trials' verdict; a third when they disagree (a burst of other work decided one of them)."""
        trials = [self._trial(fast, per_input) for _ in range(2)]
        if trials[0].kernel != trials[1].kernel:
            trials.append(self._trial(fast, per_input))
        kernels = [t.kernel for t in trials]
        return next(t for t in trials if t.kernel == max(set(kernels), key=kernels.count))

    def _trial(self, fast: str, per_input: list[Runs]) -> Choice:
        """One measurement of ``fast`` against "plain" at every input, in :data:`BLOCKS` blocks; its verdict."""
        blocks = [[self.measure(r) for r in per_input] for _ in range(BLOCKS)]  # inputs interleaved in time
        ms = {k: round(sum(statistics.median(t[k]) for t in blocks[0]) * 1e3, 4) for k in ("plain", fast)}
        ratios = [[x for b in blocks for x in pair_ratios(fast, b[i])] for i in range(len(per_input))]
        centers = tuple(round(statistics.median(r), 4) for r in ratios)
        return Choice(pick(fast, ratios), "measured", ms, centers)

    def _cached(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = self.cached()
        return self._entries

    def cached(self) -> dict[str, dict]:
        """The decisions on file for this machine; empty when there are none or the file is unreadable."""
        try:
            data = json.loads(self.path.read_text())
            entries = data["choices"] if data.get("machine", {}).get("key") == self.machine.key else {}
            return {k: v for k, v in entries.items() if isinstance(v, dict)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
            log.warning("ignoring the unreadable CPU kernel cache %s (%s): measuring again", self.path, e)
            return {}

    def _store(self, key: str, choice: Choice) -> None:
        """Add one decision to the file (re-read first: another process may have added its own), atomically."""
        from ..audio_io import atomic_write

        entries = {**self.cached(), key: {"kernel": choice.kernel, "ms": choice.ms, "ratios": list(choice.ratios)}}
        self._entries = entries
        machine = {"key": self.machine.key, "cpu": self.machine.cpu, "flags": list(self.machine.flags),
                   "torch": self.machine.torch, "threads": self.machine.threads, "version": VERSION}  # fmt: skip
        text = json.dumps({"machine": machine, "choices": entries}, indent=1, sort_keys=True)
        try:
            atomic_write(self.path, lambda tmp: tmp.write_text(text))
        except OSError as e:
            log.warning("could not cache the CPU kernel choice in %s (%s): measured again next time", self.path, e)


def describe(calibration: Calibration) -> str:
    """One line for ``tortoise-tts doctor``: the mode, and the decisions cached for this machine."""
    if calibration.mode != "auto":
        return f"{calibration.mode}, forced by {ENV}={calibration.mode} (no measurement)"
    entries = calibration.cached()
    if not entries:
        return (
            f"auto: measured per layer shape at the first model load on this CPU ({calibration.machine.cpu}, "
            f"{calibration.machine.threads} threads), then cached in {calibration.path}"
        )
    counts: dict[str, int] = {}
    for entry in entries.values():
        counts[entry.get("kernel", "?")] = counts.get(entry.get("kernel", "?"), 0) + 1
    chosen = ", ".join(f"{kernel} {n}" for kernel, n in sorted(counts.items()))
    return (
        f"auto: measured on this CPU ({calibration.machine.cpu}, {calibration.machine.threads} threads) and cached "
        f"for {len(entries)} layer shapes ({chosen}) in {calibration.path}"
    )
