#!/usr/bin/env bash
# Build what users install, without any conda channel: the sdist, the wheel (built from that sdist, so the sdist
# provably holds everything) and a noarch .conda made from that wheel.
#   bash conda-recipe/build.sh OUTDIR        (PYTHON=... picks the interpreter; default: python3)
# Needs the packages `build` and `whl2conda` (both in the dev extra: pip install -e '.[dev]').
# whl2conda converts the wheel (run dependencies renamed to conda-forge's names by [tool.whl2conda] in
# pyproject.toml); conda-recipe/finish_conda.py adds the app's dependencies, the other extras as constrains, and the
# XPU post-link message and activation script, as conda-recipe/recipe.yaml does for rattler-build.
set -euo pipefail
out=${1:?usage: bash conda-recipe/build.sh OUTDIR}
py=${PYTHON:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

had_egg_info=$(compgen -G "$repo/*.egg-info" || true)
"$py" -m build --sdist --wheel --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    echo "error: building the sdist and wheel failed (log above)" >&2
    exit 1
}
[[ -n $had_egg_info ]] || rm -rf "$repo"/*.egg-info # the sdist step leaves setuptools' metadata in the source tree
wheel=$(echo "$work"/dist/*.whl)
"$py" -m whl2conda convert "$wheel" --project-root "$repo" --format tree --out-dir "$work/tree" --batch --quiet
"$py" "$repo/conda-recipe/finish_conda.py" "$work"/tree/*/ "$out" >/dev/null
cp "$work"/dist/* "$out"/
for f in "$out"/*.whl "$out"/*.tar.gz "$out"/*.conda; do
    printf '%8d KiB  %s\n' "$(($(stat -c %s "$f") / 1024))" "$f"
done
