"""A project rendered on a local Ray cluster of two workers, on the tiny models: the same audio as a local render,
a worker killed mid-segment costs only that segment, and the driver is the only process writing in the project.

One Ray cluster for the module (``ray.init(num_cpus=2)``: two one-CPU workers). Ray gives each worker one torch
thread; the local reference render runs with one thread too, so the bit-for-bit comparison compares like with like.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_project_render import audio_of, make
from tortoise.api import TextToSpeech
from tortoise.cli import main
from tortoise.conditioning import LatentCache
from tortoise.project import ProjectFolder, render
from tortoise.voices import VoiceLibrary

REPO = Path(__file__).resolve().parents[1]


def _watch(folder: str, log: Path) -> None:
    """Log every file operation of this process inside ``folder`` (Python's audit events) to ``log``."""

    def hook(event: str, args: tuple) -> None:
        if event in ("open", "os.rename", "os.replace", "os.remove", "os.mkdir") and args:
            path = args[0]
            if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path).startswith(folder):
                with open(log, "a") as f:
                    f.write(f"{os.getpid()} {event} {os.fsdecode(path)}\n")

    sys.addaudithook(hook)


@dataclass(frozen=True)
class Engine:
    """The workers' ``make_tts``: the tiny models, private voices and cache; logs each segment a worker starts, and
    can make a worker die (``os._exit``) the first time it starts the segment of text ``crash_on``."""

    models: Path
    home: Path
    watched: str | None = None
    crash_on: str | None = None

    def __call__(self) -> TextToSpeech:
        if self.watched is not None:
            _watch(self.watched, self.home / "worker-files.log")
        voices, cache = VoiceLibrary(user_dir=self.home / "voices"), LatentCache(self.home / "latents")
        return Logged(self, models_dir=self.models, device="cpu", voices=voices, latent_cache=cache)


class Logged(TextToSpeech):
    def __init__(self, engine: Engine, **kwargs):
        super().__init__(**kwargs)
        self.engine = engine

    def tts(self, text, *args, **kwargs):
        with open(self.engine.home / "calls.log", "a") as f:
            f.write(f"{os.getpid()}\t{text}\n")
        marker = self.engine.home / "crashed"
        if text == self.engine.crash_on and not marker.exists():
            marker.touch()
            os._exit(1)  # the worker dies mid-segment, as a killed process or a lost node does
        return super().tts(text, *args, **kwargs)


def calls(home: Path) -> list[tuple[int, str]]:
    lines = (home / "calls.log").read_text().splitlines()
    return [(int(pid), text) for pid, text in (line.split("\t") for line in lines)]


@pytest.fixture(scope="module")
def ray(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="Ray is not installed (extra 'ray')")
    with pytest.MonkeyPatch.context() as mp:
        # the workers import this module (Engine) and keep their caches private, as the driver does
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("ray-cache")))
        mp.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster: no token written to ~/.ray
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def reference(tiny_models, tmp_path_factory):
    """The project rendered locally, with one torch thread (as each Ray worker has)."""
    home = tmp_path_factory.mktemp("local")
    folder = make(home)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        render(folder, Engine(tiny_models, home)())
    finally:
        torch.set_num_threads(threads)
    return folder


def assert_same_audio(folder, reference, chapter: int | None = None) -> None:
    ours = [s for _, _, s in folder.project.segments(chapter)]
    theirs = [s for _, _, s in reference.project.segments(chapter)]
    assert [s.status for s in ours] == ["done"] * len(theirs)
    assert [[t.seed for t in s.takes] for s in ours] == [[t.seed for t in s.takes] for s in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(audio_of(folder, a), audio_of(reference, b))


def test_a_ray_render_is_the_local_render_bit_for_bit_and_only_the_driver_writes(
    ray, reference, tiny_models, tmp_path, monkeypatch
):
    from tortoise.project.cluster import render_on_ray

    folder = make(tmp_path)
    written, renders = [], sys.modules["tortoise.project.render"]
    save_audio = renders.save_audio
    monkeypatch.setattr(renders, "save_audio", lambda path, *a, **k: written.append(path) or save_audio(path, *a, **k))
    seen = []
    engine = Engine(tiny_models, tmp_path, watched=str(folder.path))
    summary = render_on_ray(folder, engine, cpus_per_worker=1, progress=seen.append)
    segments = [s for _, _, s in folder.project.segments()]
    assert sorted(summary.rendered) == sorted(s.id for s in segments) and not summary.failed
    assert [p.done for p in seen] == list(range(1, len(segments) + 1)) and seen[-1].eta == 0
    assert_same_audio(ProjectFolder.open(folder.path), reference)
    made = calls(tmp_path)
    assert sorted(text for _, text in made) == sorted(s.text for s in segments)  # each segment made once
    assert len({pid for pid, _ in made} - {os.getpid()}) == 2  # by the two workers, not here
    assert not (tmp_path / "worker-files.log").exists()  # no worker opened, wrote or moved a file of the project
    assert sorted(written) == sorted((folder.path / "takes").iterdir())  # every take file written here


@pytest.mark.parametrize("restarts", [3, 0], ids=["restarted-by-ray", "handed-to-the-other-worker"])
def test_a_worker_killed_mid_segment_loses_only_that_segment(
    ray, reference, tiny_models, tmp_path, monkeypatch, restarts
):
    from tortoise.project import cluster
    from tortoise.project.cluster import render_on_ray

    monkeypatch.setattr(cluster, "RESTARTS", restarts)
    folder = make(tmp_path)
    segments = [s for _, _, s in folder.project.segments()]
    victim = segments[len(segments) // 2]
    summary = render_on_ray(folder, Engine(tiny_models, tmp_path, crash_on=victim.text), cpus_per_worker=1)
    assert (tmp_path / "crashed").exists() and len(summary.rendered) == len(segments)
    made = calls(tmp_path)
    starts = [pid for pid, text in made if text == victim.text]
    assert len(starts) == 2 and starts[0] != starts[1]  # started, killed, made again by another worker process
    assert sorted(text for _, text in made if text != victim.text) == sorted(
        s.text for s in segments if s is not victim
    )  # every other segment made once
    assert all(len(s.takes) == 1 for s in segments)  # the killed segment's take is not lost, nor made twice
    assert_same_audio(ProjectFolder.open(folder.path), reference)


# --- the command line ----------------------------------------------------------------------------------------------


@pytest.fixture
def cli(tiny_models, tmp_path, capsys):
    def go(*argv: str) -> tuple[int, str, str]:
        code = main(["project", "render", str(tmp_path / "p"), "--models-dir", str(tiny_models), "--device", "cpu",
                     *argv])  # fmt: skip
        out, err = capsys.readouterr()
        return code, out, err

    return go


def test_cli_renders_on_the_connected_cluster(ray, reference, cli, tmp_path):
    make(tmp_path)
    code, out, err = cli("--ray", "auto", "--ray-cpus", "1", "--chapter", "2")  # one segment: one worker
    n = len(reference.project.chapters[1].segments)
    assert code == 0 and f"{n} segments rendered" in out and f"[{n}/{n}]" in err and "ETA" in err
    assert_same_audio(ProjectFolder.open(tmp_path / "p"), reference, chapter=1)


def test_cli_refuses_an_unreachable_cluster_before_any_work(ray, cli, tmp_path, monkeypatch):
    folder = make(tmp_path)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as a fresh process
    code, _, err = cli("--ray", "127.0.0.1:9")
    assert code == 1 and err.startswith("error: cannot reach the Ray cluster at 127.0.0.1:9") and err.count("\n") == 1
    code, _, err = cli("--ray", "somewhere")
    assert code == 1 and "has no port" in err
    assert ProjectFolder.open(folder.path).project.to_dict() == folder.project.to_dict()  # no seed planned


def test_cli_without_ray_says_what_to_install(cli, tmp_path, monkeypatch):
    make(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    code, _, err = cli("--ray", "auto")
    assert code == 1 and err == "error: rendering on a Ray cluster needs Ray: pip install 'tortoise-tts-oneapi[ray]'\n"
