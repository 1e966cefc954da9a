"""Fresh environments for the packaged-build tests: our package from the built artifact, its dependencies from here.

A fresh venv (no system site-packages, no source tree on ``sys.path``) gets the project only from the built wheel or
``.conda`` file. Its third-party dependencies are the ones this test run already has installed: every distribution
the artifact's requirements need (the closure, following their own requirements) is linked, folder by folder, into
one directory that a ``.pth`` file adds to the venv. Nothing is downloaded (torch alone is 200+ MB), nothing outside
the closure is importable, so a requirement missing from the package's metadata fails the tests, and so does an
extra that is used but not declared.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str], extras: tuple[str, ...] = ()) -> dict[str, metadata.Distribution]:
    """Installed distributions that ``requirements`` (with ``extras``) need here, recursively (markers evaluated)."""
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo = [(Requirement(r), extra) for r in requirements for extra in ("", *extras)]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonical(req.name)
        if name not in found:
            found[name] = metadata.distribution(req.name)
        for wanted in ("", *req.extras):
            if (name, wanted) not in done:
                done.add((name, wanted))
                todo += [(Requirement(r), wanted) for r in found[name].requires or []]
    return found


def link_dependencies(requirements: list[str], dest: Path, extras: tuple[str, ...] = ()) -> Path:
    """Link the top-level files and folders of every distribution in the closure into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for dist in closure(requirements, extras).values():
        for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if top != "__pycache__" and source.exists() and not (dest / top).exists():
                (dest / top).symlink_to(source)
    return dest


def fresh_venv(path: Path, deps: Path) -> Path:
    """A venv at ``path`` without pip or system site-packages, seeing ``deps`` through a .pth file. Returns python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    purelib = sysconfig.get_path("purelib", vars={"base": str(path), "platbase": str(path)})
    (Path(purelib) / "_test_dependencies.pth").write_text(f"{deps}\n")
    return path / "bin" / "python"


def clean_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment a user's shell would give: the venv's bin first, no PYTHONPATH, private home folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TORTOISE_", "VIRTUAL_ENV", "XDG_"))}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        OMP_NUM_THREADS=os.environ.get("TORTOISE_TEST_THREADS", "1"),
    )
    return env
