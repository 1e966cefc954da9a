"""The conda recipe (conda-recipe/recipe.yaml, rattler-build v1) parses, renders and matches pyproject.toml.

No conda channel is reachable here, so the package is not built; py-rattler-build parses the recipe against the v1
schema (it rejects unknown keys and malformed specs) and renders it offline.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import tomllib

rattler_build = pytest.importorskip(
    "rattler_build", reason="py-rattler-build is not installed (pip install py-rattler-build; install/test.sh does)"
)

REPO = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO / "conda-recipe"
RECIPE = RECIPE_DIR / "recipe.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "soundfile": "pysoundfile", "soxr": "soxr-python"}
# Extras whose packages the conda package depends on; the others become run_constraints.
INCLUDED_EXTRAS = ("app",)
CONSTRAINED_EXTRAS = ("voiceprep", "redaction", "project")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pypi_to_conda(requirement: str) -> tuple[str, str]:
    """'soundfile>=0.12,<1' -> ('pysoundfile', '>=0.12,<1')."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", requirement)
    assert m, requirement
    name, spec = m.groups()
    assert ";" not in spec and "[" not in spec, f"markers/extras need a hand-made mapping: {requirement}"
    name = _canonical(name)
    return _canonical(CONDA_NAMES.get(name, name)), spec.replace(" ", "")


def _conda_spec(spec: str) -> tuple[str, str]:
    name, _, version = spec.strip().partition(" ")
    return _canonical(name), version.replace(" ", "")


@pytest.fixture(scope="module")
def stage0():
    return rattler_build.Stage0Recipe.from_file(RECIPE)


@pytest.fixture(scope="module")
def rendered(stage0) -> dict:
    variants = stage0.render()
    assert len(variants) == 1, "a noarch package has exactly one variant"
    assert variants[0].variant == {"target_platform": "noarch"}
    return variants[0].recipe.to_dict()


def _extras(names) -> dict[str, str]:
    out = {}
    for extra in names:
        for req in PYPROJECT["optional-dependencies"][extra]:
            out.update([_pypi_to_conda(req)])
    return out


def test_recipe_is_v1_single_output_noarch_python(stage0, rendered):
    assert stage0.schema_version == 1
    assert isinstance(stage0, rattler_build.SingleOutputRecipe)
    assert rendered["build"]["noarch"] == "python"
    assert rendered["package"] == {"name": PYPROJECT["name"], "version": PYPROJECT["version"]}


def test_run_requirements_match_pyproject(rendered):
    run = dict(_conda_spec(s) for s in rendered["requirements"]["run"])
    python_spec = run.pop("python")
    expected = dict(_pypi_to_conda(r) for r in PYPROJECT["dependencies"])
    expected.update(_extras(INCLUDED_EXTRAS))
    assert run == expected, "conda-recipe/recipe.yaml run requirements differ from pyproject.toml"
    assert python_spec == PYPROJECT["requires-python"].replace(" ", "")


def test_run_constraints_match_optional_extras(rendered):
    constraints = dict(_conda_spec(s) for s in rendered["requirements"]["run_constraints"])
    assert constraints == _extras(CONSTRAINED_EXTRAS)
    covered = set(INCLUDED_EXTRAS) | set(CONSTRAINED_EXTRAS) | {"all", "dev"}
    assert set(PYPROJECT["optional-dependencies"]) <= covered, "a new extra needs a decision in the recipe"


def test_host_python_is_the_minimum(rendered):
    minimum = re.search(r">=\s*(3\.\d+)", PYPROJECT["requires-python"]).group(1)
    assert f"python {minimum}.*" in rendered["requirements"]["host"]


def test_entry_points_match_project_scripts(rendered):
    entry_points = rendered["build"]["python"]["entry_points"]
    expected = [f"{name} = {target}" for name, target in PYPROJECT["scripts"].items()]
    assert sorted(entry_points) == sorted(expected)


def test_test_section_imports_package_and_runs_cli_help(rendered):
    tests = rendered["tests"]
    imports = [i for t in tests if "python" in t for i in t["python"]["imports"]]
    assert "tortoise" in imports
    scripts = []
    for t in tests:
        if "script" in t:
            s = t["script"]
            scripts += [s] if isinstance(s, str) else list(s)
    assert "tortoise-tts --help" in scripts


def test_build_script_files_exist_and_xpu_instructions_are_shipped(rendered):
    script = "\n".join(rendered["build"]["script"])
    for name in re.findall(r"\$RECIPE_DIR/([\w.-]+)", script):
        assert (RECIPE_DIR / name).is_file(), f"build script copies missing file {name}"
    assert "etc/conda/activate.d" in script and "-post-link.sh" in script
    for name in ("activate.sh", "post-link.sh"):
        text = (RECIPE_DIR / name).read_text()
        assert "https://download.pytorch.org/whl/xpu" in text and "libstdcxx" in text


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda t: t.replace('  version: "0.1.0"\n', ""), "context without version"),
        (lambda t: t.replace("numpy >=1.26,<3", "numpy >>=1.26"), "malformed version spec"),
        (lambda t: t.replace("noarch: python", "noarch: pyton"), "unknown noarch kind"),
        (lambda t: t.replace("      imports:", "      imprts:"), "misspelt test key"),
        (lambda t: t + "\nbogus_top_level: 1\n", "unknown top-level key"),
    ],
)
def test_malformed_recipes_are_rejected(edit, why, tmp_path):
    text = edit(RECIPE.read_text())
    assert text != RECIPE.read_text(), f"the edit for {why!r} no longer applies to the recipe"
    with pytest.raises(rattler_build.RattlerBuildError):
        rattler_build.Stage0Recipe.from_yaml(text, recipe_dir=tmp_path).render()


def _activate(tmp_path: Path, *, intel: bool, torch_xpu: str | None, quiet: bool = False) -> str:
    prefix = tmp_path / "env"
    version_py = prefix / "lib/python3.11/site-packages/torch/version.py"
    version_py.parent.mkdir(parents=True)
    xpu = "None" if torch_xpu is None else repr(torch_xpu)
    version_py.write_text(f"__version__ = '2.8.0'\ncuda: Optional[str] = None\nxpu: Optional[str] = {xpu}\n")
    drm = tmp_path / "drm/renderD128/device"
    drm.mkdir(parents=True)
    (drm / "vendor").write_text("0x8086\n" if intel else "0x10de\n")
    env = {**os.environ, "CONDA_PREFIX": str(prefix), "TORTOISE_SYSFS_DRM": str(tmp_path / "drm")}
    env.pop("TORTOISE_QUIET", None)
    if quiet:
        env["TORTOISE_QUIET"] = "1"
    script = f'set -eu; . "{RECIPE_DIR / "activate.sh"}"; echo done'
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    return proc.stderr


def test_activation_hint_only_for_intel_gpu_without_xpu_torch(tmp_path):
    assert "whl/xpu" in _activate(tmp_path / "a", intel=True, torch_xpu=None)
    assert _activate(tmp_path / "b", intel=True, torch_xpu="20250101") == ""
    assert _activate(tmp_path / "c", intel=False, torch_xpu=None) == ""
    assert _activate(tmp_path / "d", intel=True, torch_xpu=None, quiet=True) == ""


def test_post_link_writes_message(tmp_path):
    env = {**os.environ, "PREFIX": str(tmp_path)}
    proc = subprocess.run(["bash", str(RECIPE_DIR / "post-link.sh")], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 0
    assert "whl/xpu" in (tmp_path / ".messages.txt").read_text()
