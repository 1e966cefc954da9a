#!/usr/bin/env bash
# Runs after conda installs tortoise-tts-oneapi; conda shows .messages.txt to the user. Never fails.
cat >>"$PREFIX/.messages.txt" <<'MSG' || true

tortoise-tts-oneapi is installed with conda-forge's PyTorch (CPU or NVIDIA CUDA).
For Intel Arc / Core Ultra GPUs there is no conda build of PyTorch; inside this environment run:
    python -m pip install --force-reinstall --no-deps torch --index-url https://download.pytorch.org/whl/xpu
    python -m pip install torch --index-url https://download.pytorch.org/whl/xpu
    conda install -c conda-forge "libstdcxx>=14"     # an old libstdc++ hides Intel GPUs
Check the result with:  tortoise-tts doctor
Download the models with:  tortoise-tts models download
MSG
exit 0
