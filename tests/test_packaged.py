"""The packaged build as users get it: ``bash conda-recipe/build.sh`` makes the sdist, wheel and ``.conda``; each is
checked for content and metadata, then installed into a fresh environment and run from another folder.

What the ``.conda`` checks exercise: the package file itself (zip + zstd tarballs), its info/ metadata, the hashes in
info/paths.json, linking it the way conda does for ``noarch: python`` (``site-packages/`` into the prefix's
``lib/pythonX.Y/site-packages``, entry points written from info/link.json, the post-link script run with $PREFIX, the
activation script sourced), then the same commands as for the wheel. Not exercised: conda's solver and conda-forge's
builds of the dependencies (no channel is reachable here; the environment's dependencies are this run's own, picked
by the package's ``depends`` mapped back to PyPI names, see tests/packaged_env.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from tests.packaged_env import canonical, clean_env, fresh_venv, link_dependencies
from tests.test_conda_recipe import CONSTRAINED_EXTRAS

for _tool in ("build", "whl2conda"):  # by distribution: a stray build/ folder would import as `build`
    try:
        metadata.version(_tool)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{_tool} is not installed (the dev extra has it)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
RENAMES = {canonical(a): b for a, b in PYPROJECT["tool"]["whl2conda"]["dependency-rename"]}
VOICES = ("train_daws", "train_dotrice", "train_grace")
QUICK = ("-p", "ultra_fast", "--num-autoregressive-samples", "1", "--steps", "2", "--max-mel-tokens", "20", "-q")
MAX_ARTIFACT_BYTES = 3 * 2**20  # the voices are ~1.6 MB; weights or test data would blow this


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """sdist, wheel and .conda from the documented command."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        ["bash", str(REPO / "conda-recipe/build.sh"), str(out)],
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = {kind: sorted(out.glob(f"*{kind}")) for kind in (".tar.gz", ".whl", ".conda")}
    assert all(len(v) == 1 for v in found.values()), found
    return {kind: paths[0] for kind, paths in found.items()}


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return HeaderParser().parsestr(z.read(name).decode()).get_all("Requires-Dist") or []


def _check_runtime_files(names: list[str], prefix: str) -> None:
    """Everything the product reads at run time is there; nothing that is not the product."""
    for needed in (
        "tortoise/cli.py",
        "tortoise/assets/tokenizer.json",
        "tortoise/assets/mel_norms.pth",
        "tortoise/assets/LICENSE-tortoise-tts-Apache-2.0.txt",
        "tortoise/assets/voices/README.md",
        "ui/launch.py",
        "ui/app.py",
        *(f"tortoise/assets/voices/{v}/1.{'mp3' if v == 'train_daws' else 'wav'}" for v in VOICES),
    ):
        assert prefix + needed in names, f"{needed} is missing"
    assert not [n for n in names if n.startswith((prefix + "tests/", prefix + "bench/"))]
    heavy = [n for n in names if n.endswith((".pth", ".pt", ".safetensors", ".bin", ".npz")) and "mel_norms" not in n]
    assert heavy == [], "model weights or test data in the package"


def test_sdist_and_wheel_hold_what_runs_and_nothing_large(artifacts):
    with tarfile.open(artifacts[".tar.gz"]) as t:
        sdist = [m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name]
    _check_runtime_files(sdist, "")
    assert {"LICENSE", "NOTICE", "pyproject.toml", "README.md"} <= set(sdist)
    with zipfile.ZipFile(artifacts[".whl"]) as z:
        wheel = z.namelist()
        entry_points = z.read(next(n for n in wheel if n.endswith("entry_points.txt"))).decode()
    _check_runtime_files(wheel, "")
    assert {n.rsplit("/", 1)[-1] for n in wheel if "/licenses/" in n} == set(PROJECT["license-files"])
    for script, target in PROJECT["scripts"].items():
        assert f"{script} = {target}" in entry_points
    for path in artifacts.values():
        assert path.stat().st_size < MAX_ARTIFACT_BYTES, f"{path.name}: {path.stat().st_size} bytes"


def test_the_app_names_the_extra_of_a_missing_module():
    pytest.importorskip("gradio")
    from ui.alerts import message

    assert "[voiceprep]" in message(ModuleNotFoundError("No module named 'scipy'", name="scipy"))
    assert "[redaction]" in message(ModuleNotFoundError("No module named 'transformers'", name="transformers.models"))
    assert "unexpected error" in message(ModuleNotFoundError("No module named 'foo'", name="foo"))


def _unpack_conda(package: Path, dest: Path) -> Path:
    from conda_package_handling import api

    api.extract(str(package), dest_dir=str(dest))
    return dest


@pytest.fixture(scope="module")
def conda_tree(artifacts, tmp_path_factory) -> Path:
    return _unpack_conda(artifacts[".conda"], tmp_path_factory.mktemp("conda-pkg"))


def _conda_to_pypi(spec: str) -> tuple[str, set[str]]:
    """'pysoundfile <1,>=0.12' -> ('soundfile', {'<1', '>=0.12'})."""
    name, _, version = spec.partition(" ")
    pypi = {v: k for k, v in RENAMES.items()}.get(name, name)
    return canonical(pypi), set(filter(None, version.replace(" ", "").split(",")))


def _pyproject_specs(requirements: list[str]) -> dict[str, set[str]]:
    out = {}
    for req in requirements:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", req).groups()
        out[canonical(name)] = set(filter(None, version.replace(" ", "").split(",")))
    return out


def test_conda_metadata_agrees_with_pyproject(conda_tree):
    index = json.loads((conda_tree / "info/index.json").read_text())
    assert (index["name"], index["version"]) == (PROJECT["name"], PROJECT["version"])
    assert index["noarch"] == "python" and index["subdir"] == "noarch"
    depends = dict(_conda_to_pypi(s) for s in index["depends"])
    assert depends.pop("python") == set(PROJECT["requires-python"].replace(" ", "").split(","))
    extras = PROJECT["optional-dependencies"]
    assert depends == _pyproject_specs(PROJECT["dependencies"] + extras["app"])
    constrained = [r for extra in CONSTRAINED_EXTRAS for r in extras[extra]]
    assert dict(map(_conda_to_pypi, index["constrains"])) == _pyproject_specs(constrained)
    for conda_name in RENAMES.values():  # conda-forge's names are the ones written
        assert any(s.split()[0] == conda_name for s in index["depends"] + index["constrains"])
    link = json.loads((conda_tree / "info/link.json").read_text())
    assert link["noarch"]["type"] == "python"
    assert sorted(link["noarch"]["entry_points"]) == sorted(f"{k}={v}" for k, v in PROJECT["scripts"].items())
    assert sorted(p.name for p in (conda_tree / "info/licenses").iterdir()) == sorted(PROJECT["license-files"])
    assert json.loads((conda_tree / "info/about.json").read_text())["license"] == PROJECT["license"]


def test_conda_payload_matches_its_manifest_and_ships_the_xpu_notes(conda_tree):
    import hashlib

    paths = json.loads((conda_tree / "info/paths.json").read_text())["paths"]
    listed = sorted(p["_path"] for p in paths)
    assert listed == sorted((conda_tree / "info/files").read_text().split())
    on_disk = sorted(str(p.relative_to(conda_tree)) for p in conda_tree.rglob("*") if p.is_file())
    on_disk = [p for p in on_disk if not p.startswith("info/")]
    assert on_disk == listed
    for p in paths:
        assert hashlib.sha256((conda_tree / p["_path"]).read_bytes()).hexdigest() == p["sha256"], p["_path"]
    _check_runtime_files(listed, "site-packages/")
    name = PROJECT["name"]
    post_link = conda_tree / f"bin/.{name}-post-link.sh"
    activate = conda_tree / f"etc/conda/activate.d/{name}.sh"
    assert post_link.read_bytes() == (REPO / "conda-recipe/post-link.sh").read_bytes()
    assert activate.read_bytes() == (REPO / "conda-recipe/activate.sh").read_bytes()
    assert post_link.stat().st_mode & 0o111


# ---- installed and run ----------------------------------------------------------------------------------------------
class Installed:
    """A fresh environment holding the package; runs its commands from a folder outside the source tree."""

    def __init__(self, root: Path, python: Path):
        self.root, self.python = root, python
        self.cwd = root / "work"
        self.cwd.mkdir(exist_ok=True)
        self.env = clean_env(python.parent.parent, root / "home")

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def site_packages(self) -> Path:
        return Path(
            self.run(str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
        )


def _pip_install_wheel(wheel: Path, root: Path, extras: tuple[str, ...]) -> Installed:
    deps = link_dependencies(_wheel_requirements(wheel), root / "deps", extras)
    python = fresh_venv(root / "venv", deps)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout  # the linked dependencies satisfy the wheel's requirements
    return Installed(root, python)


ENTRY_POINT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys

from {module} import {func}

if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit({func}())
"""


def _conda_link(package_tree: Path, root: Path) -> Installed:
    """Link a noarch: python package into a prefix the way conda does; dependencies from its ``depends``."""
    index = json.loads((package_tree / "info/index.json").read_text())
    depends = [f"{name}{','.join(sorted(spec))}" for name, spec in map(_conda_to_pypi, index["depends"])]
    deps = link_dependencies([d for d in depends if not d.startswith("python")], root / "deps")
    prefix = root / "prefix"
    python = fresh_venv(prefix, deps)  # a venv has a conda prefix's layout: bin/python, lib/pythonX.Y/site-packages
    site = Path(Installed(root, python).site_packages())
    for entry in sorted(package_tree.iterdir()):
        if entry.name == "info":
            continue
        target = site if entry.name == "site-packages" else prefix / entry.name
        shutil.copytree(entry, target, dirs_exist_ok=True)
    link = json.loads((package_tree / "info/link.json").read_text())
    for spec in link["noarch"]["entry_points"]:
        name, target = (s.strip() for s in spec.split("="))
        module, func = target.split(":")
        script = prefix / "bin" / name
        script.write_text(ENTRY_POINT.format(python=python, module=module, func=func))
        script.chmod(0o755)
    post_link = prefix / "bin" / f".{index['name']}-post-link.sh"
    subprocess.run(["bash", str(post_link)], env={**os.environ, "PREFIX": str(prefix)}, check=True, timeout=30)
    assert "whl/xpu" in (prefix / ".messages.txt").read_text()
    return Installed(root, python)


def _one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_answers(inst: Installed, models: Path) -> str:
    port = _free_port()
    argv = ["tortoise-app", "--no-browser", "--no-warm-up", "--port", str(port), "--models-dir", str(models)]
    proc = subprocess.Popen(argv, cwd=inst.cwd, env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                time.sleep(0.5)
        raise AssertionError("the app did not answer on 127.0.0.1 within 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _exercise(inst: Installed, models: Path) -> None:
    """What a user does first: help, the voices, doctor, a generation with a built-in voice, the app."""
    site = inst.site_packages()
    where = inst.run(str(inst.python), "-c", "import tortoise.voices as v; print(v.__file__, *v.builtin_voices_dirs())")
    module, voices_dir = where.stdout.split()
    assert Path(module).is_relative_to(site) and Path(voices_dir) == site / "tortoise/assets/voices", where.stdout
    out = inst.run("tortoise-tts", "--help")
    assert out.returncode == 0 and "usage: tortoise-tts" in out.stdout, out.stderr
    out = inst.run("tortoise-tts", "-l")
    assert out.returncode == 0 and all(v in out.stdout for v in VOICES), out.stdout + out.stderr
    out = inst.run("tortoise-tts", "doctor", "--no-smoke-test")
    assert "Traceback" not in out.stderr and "torch" in out.stdout, out.stdout + out.stderr
    out = inst.run("tortoise-tts", "Hello from the package.", "-v", "train_grace", "-o", "hello.wav", "--seed", "3",
                   "--models-dir", str(models), *QUICK)  # fmt: skip
    assert out.returncode == 0, out.stderr
    import soundfile as sf

    assert sf.info(str(inst.cwd / "hello.wav")).samplerate == 24000
    assert "gradio" in _app_answers(inst, models).lower()


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs(artifacts, tiny_models, tmp_path):
    pytest.importorskip("gradio", reason="the app's extra is not installed here")
    _exercise(_pip_install_wheel(artifacts[".whl"], tmp_path, extras=("app",)), tiny_models)


@pytest.mark.slow
def test_conda_package_linked_into_a_prefix_runs(conda_tree, tiny_models, tmp_path):
    pytest.importorskip("gradio", reason="the app's extra is not installed here")
    inst = _conda_link(conda_tree, tmp_path)
    activate = inst.python.parent.parent / "etc/conda/activate.d" / f"{PROJECT['name']}.sh"
    env = {**inst.env, "CONDA_PREFIX": str(inst.python.parent.parent)}
    sourced = subprocess.run(["sh", "-c", f'. "{activate}" && echo ok'], env=env, capture_output=True, text=True)
    assert sourced.stdout.strip() == "ok", sourced.stderr
    _exercise(inst, tiny_models)


@pytest.mark.slow
def test_without_extras_the_cli_speaks_and_each_extra_feature_names_its_extra(artifacts, tiny_models, tmp_path):
    inst = _pip_install_wheel(artifacts[".whl"], tmp_path, extras=())
    missing = inst.run(
        str(inst.python),
        "-c",
        "import importlib.util as u; "
        "print([u.find_spec(m) for m in ('gradio', 'scipy', 'transformers', 'pyloudnorm')])",
    )
    assert missing.stdout.strip() == "[None, None, None, None]", missing.stdout + missing.stderr
    out = inst.run(
        "tortoise-tts",
        "Plain speech.",
        "-v",
        "train_grace",
        "-o",
        "plain.wav",
        "--models-dir",
        str(tiny_models),
        *QUICK,
    )
    assert out.returncode == 0 and (inst.cwd / "plain.wav").is_file(), out.stderr
    _one_line_error(inst.run("tortoise-app", "--no-browser"), "tortoise-tts-oneapi[app]")
    clip = Path(inst.site_packages()) / "tortoise/assets/voices/train_grace/1.wav"
    _one_line_error(
        inst.run("tortoise-tts", "voices", "prepare", str(clip), "--name", "mine"), "tortoise-tts-oneapi[voiceprep]"
    )
    out = inst.run(
        "tortoise-tts",
        "Say [this is cut] it.",
        "-v",
        "train_grace",
        "-o",
        "r.wav",
        "--models-dir",
        str(tiny_models),
        *QUICK,
    )
    _one_line_error(out, "tortoise-tts-oneapi[redaction]")
