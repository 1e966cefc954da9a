#!/usr/bin/env bash
# Make the throwaway venv that holds the reference implementation (PyPI tortoise-tts==3.0.0) for the benchmarks.
#
#   bash bench/reference_env.sh [VENV_DIR]        (default /tmp/tortoise-ref-venv; ~3 min, ~6 GB)
#
# The reference needs transformers <= 4.48.3 and imports torchaudio without declaring it. The venv also gets our
# package's runtime dependencies, so the benchmark drivers run both implementations on the same torch in one
# process: `PYTHONPATH=<repo> VENV/bin/python bench/bench_ar.py`. The reference is never a dependency of the project;
# delete the venv when done (rm -r VENV_DIR).
set -euo pipefail
VENV="${1:-/tmp/tortoise-ref-venv}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import tortoise.api, torchaudio, transformers" 2>/dev/null; then
  echo "reference venv ready: $VENV"
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, pinned, so nothing else drags in another version.
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchaudio==2.11.0"
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "transformers==4.31.0" "tortoise-tts==3.0.0"
# Our package's runtime dependencies (our code is imported from the repo through PYTHONPATH, never installed here).
"$VENV/bin/python" -m pip install -q "torch==2.14.1" numpy soundfile soxr tokenizers inflect unidecode tqdm \
  huggingface_hub filelock psutil
"$VENV/bin/python" -c "import torch, torchaudio, transformers, tortoise.api; print('torch', torch.__version__, \
'torchaudio', torchaudio.__version__, 'transformers', transformers.__version__)"
echo "reference venv ready: $VENV"
