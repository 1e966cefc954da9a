#!/usr/bin/env bash
# Set up everything from scratch and run the whole test suite: ruff (lint + format) and pytest.
# Exits non-zero when any step fails, and when pytest runs no test at all.
#   bash install/test.sh [pytest arguments...]
# The environment is ./.venv made by install.sh on the CPU path with torch==2.13.0 (the build CI has on disk).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

step() { printf '\n=== %s\n' "$*"; }
TEST_PY=${TORTOISE_TEST_PYTHON:-}
if [[ -z $TEST_PY ]]; then
    # Python 3.11 matches the torch 2.13.0 wheel on CI's disk; any other version would download torch.
    if command -v python3.11 >/dev/null 2>&1; then TEST_PY=python3.11; else TEST_PY=python3; fi
fi

# Tools the tests use that do not come from PyPI: shellcheck (all scripts) and desktop-file-validate.
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v desktop-file-validate >/dev/null 2>&1 || missing+=(desktop-file-utils)
# Debian's chromium runs the app's browser tests (tests/browser, driven by Playwright; never `playwright install`).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The app's live (streamed) audio is encoded by Gradio with the ffmpeg program.
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        step "apt-get install ${missing[*]}"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
            echo "warning: could not install ${missing[*]}; the tests that need them will be skipped with a reason" >&2
    else
        echo "warning: ${missing[*]} missing and not root: the tests that need them will be skipped with a reason" >&2
    fi
fi

step "install.sh (CPU, dev tools, torch==2.13.0; doctor output is informational)"
start=$SECONDS
bash install/install.sh --device cpu --dev --python "$TEST_PY" --torch-spec torch==2.13.0 --torch-index pypi \
    --no-desktop --quiet || {
    echo "FAILED: install.sh" >&2
    exit 1
}
echo "install took $((SECONDS - start)) s"
# shellcheck disable=SC1091
. .venv/bin/activate
# py-rattler-build parses/renders the conda recipe in tests/test_conda_recipe.py.
python -c 'import rattler_build' 2>/dev/null || python -m pip install -q py-rattler-build ||
    echo "warning: py-rattler-build could not be installed; the conda recipe test will be skipped" >&2

failed=()
step "ruff check ."
ruff check . || failed+=("ruff check")
step "ruff format --check ."
ruff format --check . || failed+=("ruff format")
step "pytest"
python -m pytest "$@"
rc=$?
if ((rc == 5)); then
    echo "pytest collected no tests: that is a failure" >&2
    failed+=("pytest (no tests)")
elif ((rc != 0)); then
    failed+=("pytest (exit $rc)")
fi

if ((${#failed[@]})); then
    printf '\nFAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nAll checks passed.\n'
