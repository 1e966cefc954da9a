#!/usr/bin/env bash
# Set up a fresh environment and run the whole test suite (lint + pytest). Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
ruff check .
ruff format --check .
python -m pytest "$@"
