#!/usr/bin/env bash
# The command for the lent GPU machine (see DEVELOPERS.md / the device tool): installs the carried wheels, then runs
# bench/gpu/run.py with the reference. Expects in the repo (git-ignored, carried): .gpu/whl-ours (our missing
# runtime packages), .gpu/whl-ref (transformers 4.48.3, tokenizers 0.21, huggingface_hub 0.x, librosa, ...),
# .gpu/ref (tortoise-tts 3.0.0's `tortoise` package without its voices), .gpu/fixtures (copy of ../shared/fixtures).
#   bash bench/gpu/device.sh OUT_DIR [run.py options...]
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${1:?output folder}
shift
pip_install() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$1" "$2"/*.whl; }
pip_install /tmp/site .gpu/whl-ours || exit 1
pip_install /tmp/site-ref .gpu/whl-ref || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi || true
python3 bench/gpu/run.py --device cuda --out "$out" --ref "$PWD/.gpu/ref" /tmp/site-ref --fixtures .gpu/fixtures "$@"
