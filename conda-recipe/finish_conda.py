"""Finish the package tree whl2conda made from our wheel and pack it as a ``.conda`` file (conda-recipe/build.sh).

    python conda-recipe/finish_conda.py TREE OUTDIR

whl2conda converts the wheel (files, ``noarch: python``, entry points, license files, run dependencies renamed by
``[tool.whl2conda]`` in pyproject.toml). This adds what a wheel cannot say, the same things conda-recipe/recipe.yaml
says for rattler-build: the app's extra as run dependencies (the launcher starts the app), the other extras as
``constrains``, the XPU post-link message and activation script. Dependencies come from the wheel's own metadata.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from email.parser import HeaderParser
from pathlib import Path

RECIPE_DIR = Path(__file__).resolve().parent
# Extras the package depends on, and extras that only constrain versions when a user installs them.
INCLUDED_EXTRAS = ("app",)
CONSTRAINED_EXTRAS = ("voiceprep", "redaction", "project", "api", "speed", "ray")


def conda_renames(pyproject: Path) -> dict[str, str]:
    """PyPI name -> conda-forge name, from ``[tool.whl2conda] dependency-rename`` (names canonicalised)."""
    import tomllib

    pairs = tomllib.loads(pyproject.read_text())["tool"]["whl2conda"]["dependency-rename"]
    return {canonical(pypi): conda for pypi, conda in pairs}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_requirements(metadata: str, extra: str) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA that belong to ``extra`` (markers dropped)."""
    out = []
    for line in HeaderParser().parsestr(metadata).get_all("Requires-Dist") or []:
        req, _, marker = line.partition(";")
        if re.fullmatch(rf"\s*extra\s*==\s*['\"]{re.escape(extra)}['\"]\s*", marker):
            out.append(req.strip())
    return out


def conda_spec(requirement: str, renames: dict[str, str]) -> str:
    """'soundfile>=0.12,<1' -> 'pysoundfile >=0.12,<1' (a conda match spec)."""
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*([<>=!,.\d\s*]*)", requirement)
    if m is None:
        raise ValueError(f"requirement {requirement!r} needs a hand-made conda spec (extras, markers or ~=)")
    name, version = m.groups()
    name = renames.get(canonical(name), name)
    version = version.replace(" ", "")
    return f"{name} {version}" if version else name


def _record(tree: Path, relpath: str) -> dict:
    data = (tree / relpath).read_bytes()
    return {
        "_path": relpath,
        "path_type": "hardlink",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_in_bytes": len(data),
    }


def add_file(tree: Path, source: Path, relpath: str, mode: int = 0o644) -> None:
    """Copy ``source`` into the package at ``relpath`` and list it in info/files and info/paths.json."""
    dest = tree / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    dest.chmod(mode)
    files = (tree / "info/files").read_text().splitlines()
    (tree / "info/files").write_text("\n".join([*files, relpath]) + "\n")
    paths = json.loads((tree / "info/paths.json").read_text())
    paths["paths"].append(_record(tree, relpath))
    (tree / "info/paths.json").write_text(json.dumps(paths, indent=2, sort_keys=True))


def finish(tree: Path, renames: dict[str, str]) -> dict:
    """Add the extras' dependencies and the XPU scripts to ``tree``; return the new info/index.json."""
    index = json.loads((tree / "info/index.json").read_text())
    name = index["name"]
    metadata = next((tree / "site-packages").glob("*.dist-info/METADATA")).read_text()
    for extra in INCLUDED_EXTRAS:
        index["depends"] += [conda_spec(r, renames) for r in extra_requirements(metadata, extra)]
    index["constrains"] = [
        conda_spec(r, renames) for extra in CONSTRAINED_EXTRAS for r in extra_requirements(metadata, extra)
    ]
    (tree / "info/index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    add_file(tree, RECIPE_DIR / "activate.sh", f"etc/conda/activate.d/{name}.sh")
    add_file(tree, RECIPE_DIR / "post-link.sh", f"bin/.{name}-post-link.sh", mode=0o755)
    return index


def pack(tree: Path, outdir: Path, index: dict) -> Path:
    from conda_package_handling import api

    out = outdir / f"{index['name']}-{index['version']}-{index['build']}.conda"
    out.unlink(missing_ok=True)
    api.create(str(tree), None, out.name, out_folder=str(outdir))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    tree, outdir = Path(argv[0]), Path(argv[1])
    index = finish(tree, conda_renames(RECIPE_DIR.parent / "pyproject.toml"))
    print(pack(tree, outdir, index))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
