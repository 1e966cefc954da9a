#!/usr/bin/env bash
# Install tortoise-tts-oneapi on Linux or WSL2: detect the GPU, make an isolated environment, install the
# matching PyTorch build and the project, add a launcher, run `tortoise-tts doctor`.
# Safe to re-run: an existing environment is checked and repaired, not thrown away (use --force for that).
# `bash install/install.sh --help` lists the options; install/INSTALL.md explains every path.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_ID=tortoise-tts-oneapi
TORCH_INDEX_BASE=${TORTOISE_TORCH_INDEX_BASE:-https://download.pytorch.org/whl}
# Overridable so tests can fake the hardware without root (see tests/test_install.py).
DRI_DIR=${TORTOISE_INSTALL_DRI_DIR:-/dev/dri}
SYSFS_DRM=${TORTOISE_INSTALL_SYSFS_DRM:-/sys/class/drm}
OSRELEASE_FILE=${TORTOISE_INSTALL_OSRELEASE:-/proc/sys/kernel/osrelease}
CONFIG_DIR=${XDG_CONFIG_HOME:-$HOME/.config}/$APP_ID

usage() {
    cat <<EOF
Usage: bash install/install.sh [options]

Sets up tortoise-tts-oneapi in an isolated environment with the PyTorch build for your GPU.

Device
  --device auto|xpu|cuda|cpu  GPU backend (default auto: Intel -> xpu, NVIDIA -> cuda, else cpu)
  --cuda-variant cuNNN        PyTorch CUDA wheel index to use (default from the driver: cu128 or cu126)
  --torch-spec SPEC           pip requirement for torch (default: torch, the newest for the index)
  --torch-index URL|pypi      wheel index for torch (default: PyTorch's index for the device;
                              'pypi' = pip's configured index)
  --oneapi                    source the oneAPI setvars.sh (only for the legacy Intel extension)

Environment
  --venv DIR                  virtual environment to use (default: <repo>/.venv)
  --conda [NAME]              use a conda/mamba/micromamba environment instead (default name: tortoise-tts)
  --python PATH               Python for the venv (3.10-3.12; default: the newest one found)
  --python-version X.Y        Python for a new conda environment (default 3.11)
  --extras LIST               comma-separated extras to install (default: all = app,voiceprep,redaction,project,api,speed)
  --dev                       also install the development tools (extra 'dev')
  --force                     delete and recreate the environment

After the install
  --models                    download the model weights (about 3 GB) with 'tortoise-tts models download'
  --no-doctor                 skip 'tortoise-tts doctor'
  --no-desktop                do not install the launcher menu/desktop entries (or the WSL2 shortcut)
  --launch                    start the app when done
  --quiet                     less pip output

Other
  --dry-run                   print the plan and the commands, change nothing
  --uninstall                 remove what this script installed (see install/uninstall.sh --help)
  -h, --help                  this help
EOF
}

say() { printf '%s\n' "$*"; }
info() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit "${DIE_CODE:-1}"
}
have() { command -v "$1" >/dev/null 2>&1; }
# Can this machine open the torch page of wheel index $1? (Python's urllib: honours https_proxy/no_proxy.)
index_reachable() {
    "$ENV_PY" -c 'import sys, urllib.request  # probe-torch-index
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=15).close()' "$1" >/dev/null 2>&1
}
# "torch 2.9.0+cu128 (the CUDA 12.8 build)" for the torch in the environment.
torch_build() {
    "$ENV_PY" -c 'import torch; v = torch.version
kind = f"the CUDA {v.cuda} build" if v.cuda else "the XPU build" if getattr(v, "xpu", None) else "the CPU build"
print(f"torch {torch.__version__} ({kind})")' 2>/dev/null || printf 'torch (build unknown)'
}
quote() {
    local out=() a
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
    done
    printf '%s' "${out[*]}"
}
# Every command that changes the system goes through run: printed always, executed unless --dry-run.
run() {
    printf '+ %s\n' "$(quote "$@")"
    ((DRY_RUN)) && return 0
    "$@"
}

# ---------------------------------------------------------------------------------------------- options
DEVICE=auto
CUDA_VARIANT=""
TORCH_SPEC=torch
TORCH_INDEX=""
ONEAPI=0
ENV_KIND=venv
VENV_DIR=$REPO/.venv
CONDA_ENV=tortoise-tts
PYTHON=""
CONDA_PY=3.11
EXTRAS=all  # app + voice preparation + redaction: what the app and the CLI use
DEV=0
FORCE=0
MODELS=0
DOCTOR=1
DESKTOP=1
LAUNCH=0
QUIET=0
DRY_RUN=0
EXPLICIT_ENV=0

RETRY_CMD="bash $(quote "$REPO/install/install.sh" "$@")" # said when the install stops on something outside us
need_arg() { [[ $# -ge 2 && -n $2 && $2 != --* ]] || DIE_CODE=2 die "option $1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --device) need_arg "$@"; DEVICE=$2; shift ;;
    --device=*) DEVICE=${1#*=} ;;
    --cuda-variant) need_arg "$@"; CUDA_VARIANT=$2; shift ;;
    --torch-spec) need_arg "$@"; TORCH_SPEC=$2; shift ;;
    --torch-index) need_arg "$@"; TORCH_INDEX=$2; shift ;;
    --oneapi) ONEAPI=1 ;;
    --venv) need_arg "$@"; ENV_KIND=venv; VENV_DIR=$2; EXPLICIT_ENV=1; shift ;;
    --conda)
        ENV_KIND=conda; EXPLICIT_ENV=1
        if [[ $# -ge 2 && -n $2 && $2 != -* ]]; then CONDA_ENV=$2; shift; fi ;;
    --python) need_arg "$@"; PYTHON=$2; shift ;;
    --python-version) need_arg "$@"; CONDA_PY=$2; shift ;;
    --extras) [[ $# -ge 2 ]] || DIE_CODE=2 die "option --extras needs a value"; EXTRAS=$2; shift ;;
    --dev) DEV=1 ;;
    --force) FORCE=1 ;;
    --models) MODELS=1 ;;
    --no-doctor) DOCTOR=0 ;;
    --no-desktop) DESKTOP=0 ;;
    --launch) LAUNCH=1 ;;
    --quiet | -q) QUIET=1 ;;
    --dry-run | -n) DRY_RUN=1 ;;
    --uninstall) shift; exec bash "$REPO/install/uninstall.sh" "$@" ;;
    -h | --help) usage; exit 0 ;;
    *) DIE_CODE=2 die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
case $DEVICE in auto | xpu | cuda | cpu) ;; *) DIE_CODE=2 die "--device must be auto, xpu, cuda or cpu (got '$DEVICE')" ;; esac
[[ -z $CUDA_VARIANT || $CUDA_VARIANT =~ ^cu[0-9]{3}$ ]] || DIE_CODE=2 die "--cuda-variant must look like cu126 (got '$CUDA_VARIANT')"
[[ $CONDA_PY =~ ^3\.1[0-2]$ ]] || DIE_CODE=2 die "--python-version must be 3.10, 3.11 or 3.12 (got '$CONDA_PY')"
[[ $EXTRAS =~ ^[a-z,]*$ ]] || DIE_CODE=2 die "--extras takes a comma-separated list such as app,voiceprep (got '$EXTRAS')"
if ((DEV)); then EXTRAS=${EXTRAS:+$EXTRAS,}dev; fi
[[ $VENV_DIR == /* ]] || VENV_DIR=$PWD/$VENV_DIR

# ---------------------------------------------------------------------------------------------- system
NOTES=()
note() { NOTES+=("$*"); }

OS=$(uname -s 2>/dev/null || echo unknown)
ARCH=$(uname -m 2>/dev/null || echo unknown)
case $OS in
Linux) ;;
Darwin) DIE_CODE=3 die "macOS is not supported by this installer. Use: python3 -m venv .venv && .venv/bin/pip install -e '.[app]' (PyTorch's default wheels include Apple MPS support)." ;;
MINGW* | MSYS* | CYGWIN*) DIE_CODE=3 die "native Windows is not supported. Install WSL2 (wsl --install in PowerShell), open Ubuntu and run this script there." ;;
*) DIE_CODE=3 die "unsupported operating system '$OS': this installer supports Linux and WSL2." ;;
esac
WSL=0
if [[ -n ${TORTOISE_INSTALL_WSL:-} ]]; then
    WSL=$TORTOISE_INSTALL_WSL
elif grep -qiE 'microsoft|wsl' "$OSRELEASE_FILE" 2>/dev/null; then
    WSL=1
    grep -qi 'wsl2' "$OSRELEASE_FILE" 2>/dev/null || [[ -e /dev/dxg ]] || WSL=wsl1
fi
if [[ $WSL == wsl1 ]]; then
    DIE_CODE=3 die "this is WSL1, which has no GPU access and is not supported. Convert it in PowerShell: wsl --set-version <distro> 2"
fi
case $ARCH in
x86_64 | amd64) ARCH=x86_64 ;;
aarch64 | arm64) ARCH=aarch64 ;;
*) DIE_CODE=3 die "unsupported CPU architecture '$ARCH': PyTorch publishes Linux wheels for x86_64 and aarch64 only." ;;
esac

# ---------------------------------------------------------------------------------------------- GPU detection
# Names of Intel GPUs that PyTorch's XPU backend supports (Arc A/B, Core Ultra "Arc Graphics", Data Center).
INTEL_XPU_RE='arc|dg2|alchemist|battlemage|bmg|meteor ?lake|lunar ?lake|arrow ?lake|panther ?lake|data center gpu|flex [0-9]|max [0-9]|ponte vecchio'
INTEL_NAME=""
INTEL_HOW=""
detect_intel() {
    local out line node vendor found_node=0 intel_node=0
    if have sycl-ls && out=$(sycl-ls 2>/dev/null); then
        line=$(grep -iE '(level_zero|ext_oneapi_level_zero|opencl):gpu' <<<"$out" | grep -i intel | head -n1 || true)
        if [[ -n $line ]]; then
            # "[level_zero:gpu][level_zero:0] Intel(R) oneAPI ... Level-Zero, Intel(R) Arc(TM) A770 Graphics 12.55.8 [1.6]"
            INTEL_NAME=$(sed -E 's/^(\[[^]]*\])+ *//; s/.*, //; s/ +[0-9]+\.[0-9.]+ *(\[.*\])?$//' <<<"$line")
            INTEL_HOW="sycl-ls"
            return 0
        fi
    fi
    if ((WSL)); then
        # WSL2 exposes GPUs through /dev/dxg, not /dev/dri; ask Windows for the adapter names.
        if have powershell.exe &&
            out=$(powershell.exe -NoProfile -NonInteractive -Command \
                '(Get-CimInstance Win32_VideoController).Name' 2>/dev/null | tr -d '\r'); then
            line=$(grep -i intel <<<"$out" | head -n1 || true)
            if [[ -n $line ]]; then
                INTEL_NAME=$line
                INTEL_HOW="Windows (powershell.exe)"
                return 0
            fi
        fi
        return 1
    fi
    for node in "$DRI_DIR"/renderD*; do
        [[ -e $node ]] || continue
        found_node=1
        vendor=$(cat "$SYSFS_DRM/${node##*/}/device/vendor" 2>/dev/null || true)
        [[ $vendor == 0x8086 ]] && intel_node=1
    done
    ((found_node)) || return 1
    if have lspci && out=$(lspci 2>/dev/null); then
        line=$(grep -E 'VGA compatible controller|3D controller|Display controller' <<<"$out" | grep -i intel | head -n1 || true)
        if [[ -n $line ]]; then
            INTEL_NAME=$(sed -E 's/^[^:]*: *//; s/^[^:]*: *//' <<<"$line")
            INTEL_HOW="lspci + $DRI_DIR"
            return 0
        fi
    fi
    if ((intel_node)); then
        INTEL_NAME="unknown Intel GPU (install pciutils for its name)"
        INTEL_HOW="$SYSFS_DRM vendor 0x8086"
        return 0
    fi
    return 1
}

NVIDIA_NAME=""
NVIDIA_CUDA=""
detect_nvidia() {
    local out
    have nvidia-smi || return 1
    out=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null) || return 1
    NVIDIA_NAME=$(head -n1 <<<"$out")
    [[ -n $NVIDIA_NAME ]] || return 1
    NVIDIA_CUDA=$(nvidia-smi 2>/dev/null | sed -nE 's/.*CUDA Version: *([0-9]+\.[0-9]+).*/\1/p' | head -n1 || true)
    return 0
}

intel_supported() { grep -qiE "$INTEL_XPU_RE" <<<"$INTEL_NAME" || [[ $INTEL_NAME == unknown* ]]; }

REASON=""
HAVE_INTEL=0
HAVE_NVIDIA=0
detect_intel && HAVE_INTEL=1
detect_nvidia && HAVE_NVIDIA=1
if [[ $DEVICE == auto ]]; then
    if ((HAVE_NVIDIA)); then
        DEVICE=cuda
        REASON="NVIDIA GPU found by nvidia-smi: $NVIDIA_NAME"
        ((HAVE_INTEL)) && note "An Intel GPU was found too ($INTEL_NAME); re-run with --device xpu to use it instead."
    elif ((HAVE_INTEL)) && intel_supported; then
        DEVICE=xpu
        REASON="Intel GPU found by $INTEL_HOW: $INTEL_NAME"
        [[ $INTEL_NAME == unknown* ]] && note "Could not tell which Intel GPU this is; 'tortoise-tts doctor' will confirm that PyTorch can use it."
    elif ((HAVE_INTEL)); then
        DEVICE=cpu
        REASON="Intel GPU '$INTEL_NAME' is not supported by PyTorch XPU (needs Arc, Core Ultra or Data Center GPU)"
        note "To try it anyway: --device xpu"
    else
        DEVICE=cpu
        REASON="no supported GPU found (no Intel render node in $DRI_DIR or sycl-ls GPU, no working nvidia-smi)"
    fi
else
    REASON="chosen with --device"
fi
if [[ $DEVICE == xpu && $ARCH != x86_64 ]]; then
    DIE_CODE=3 die "PyTorch XPU wheels exist for x86_64 only (this machine is $ARCH). Use --device cpu."
fi

# Where torch comes from.
if [[ $DEVICE == cuda && -z $CUDA_VARIANT ]]; then
    CUDA_VARIANT=cu128
    if [[ -n $NVIDIA_CUDA ]]; then
        major=${NVIDIA_CUDA%%.*}
        minor=${NVIDIA_CUDA#*.}
        if ((major < 12 || (major == 12 && minor < 8))); then CUDA_VARIANT=cu126; fi
        if ((major < 12 || (major == 12 && minor < 6))); then
            note "The NVIDIA driver supports CUDA $NVIDIA_CUDA only; PyTorch needs 12.6 or newer. Update the driver (version 560 or newer), or CUDA will not be available."
        fi
    fi
fi
case $DEVICE in
xpu) INDEX_NAME=xpu ;;
cuda) INDEX_NAME=$CUDA_VARIANT ;;
cpu) INDEX_NAME=cpu ;;
esac
if [[ -z $TORCH_INDEX ]]; then
    TORCH_INDEX=$TORCH_INDEX_BASE/$INDEX_NAME
fi
PIP_INDEX_ARGS=()
[[ $TORCH_INDEX == pypi ]] || PIP_INDEX_ARGS=(--index-url "$TORCH_INDEX")

# Driver and permission checks for Intel GPUs (advice only: the install itself does not need them).
if [[ $DEVICE == xpu ]]; then
    if ((WSL)); then
        note "WSL2 + Intel GPU: install the latest Intel Arc/Iris graphics driver on Windows; nothing GPU-specific is installed inside Linux besides the PyTorch wheels. See install/INSTALL.md."
    else
        libs=$(ldconfig -p 2>/dev/null || true)
        if have ldconfig && [[ $libs != *libze_intel_gpu.so* ]]; then
            note "Intel GPU compute runtime (Level Zero) not found. Install it, e.g. on Ubuntu 24.04+/Debian 13: sudo apt install libze-intel-gpu1 libze1 intel-opencl-icd  (older releases: see install/INSTALL.md)."
        fi
        if [[ $(id -u) != 0 ]]; then
            for node in "$DRI_DIR"/renderD*; do
                [[ -e $node ]] || continue
                group=$(stat -c %G "$node" 2>/dev/null || echo render)
                if [[ " $(id -nG) " != *" $group "* ]]; then
                    note "You are not in the '$group' group, so PyTorch cannot open $node. Run: sudo usermod -aG $group \$USER  then log out and back in."
                fi
                break
            done
        fi
    fi
fi

# oneAPI environment: only for the legacy Intel extension, and only if it is installed.
SETVARS=""
if ((ONEAPI)); then
    for f in "${ONEAPI_ROOT:-/opt/intel/oneapi}/setvars.sh" "$HOME/intel/oneapi/setvars.sh"; do
        if [[ -f $f ]]; then SETVARS=$f; break; fi
    done
    [[ -n $SETVARS ]] || die "--oneapi was given but no oneAPI setvars.sh was found (looked in \${ONEAPI_ROOT:-/opt/intel/oneapi} and ~/intel/oneapi). Install the Intel oneAPI Base Toolkit, or drop --oneapi: PyTorch's XPU wheels do not need it."
    [[ $DEVICE == xpu ]] || note "--oneapi only matters for Intel GPUs (device is $DEVICE)."
fi

# ---------------------------------------------------------------------------------------------- environment
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
py_ok() { [[ $1 =~ ^3\.(10|11|12|13)$ ]]; }

CONDA_EXE_FOUND=""
if [[ $ENV_KIND == venv && $EXPLICIT_ENV == 0 && -z $PYTHON ]]; then
    # No suitable system Python but a conda-like tool: use it rather than fail.
    sys_ok=0
    for c in python3.12 python3.11 python3.10 python3 python3.13; do
        if have "$c" && py_ok "$(py_version "$c" || true)"; then sys_ok=1; break; fi
    done
    if ((!sys_ok)); then
        for c in micromamba mamba conda; do
            if have "$c"; then
                ENV_KIND=conda
                note "No Python 3.10-3.12 found on the system; using $c, which brings its own Python."
                break
            fi
        done
    fi
fi

if [[ $ENV_KIND == conda ]]; then
    for c in micromamba mamba conda; do
        if have "$c"; then CONDA_EXE_FOUND=$(command -v "$c"); break; fi
    done
    [[ -n $CONDA_EXE_FOUND ]] || die "--conda was given but none of micromamba, mamba or conda is on PATH. Install Miniforge (conda-forge's installer) or drop --conda to use a venv."
    CONDA_TOOL=${CONDA_EXE_FOUND##*/}
    ENV_DESC="conda environment '$CONDA_ENV' (via $CONDA_TOOL)"
    ENV_PREFIX=""
    if out=$("$CONDA_EXE_FOUND" run -n "$CONDA_ENV" python -c 'import sys; print(sys.prefix)' 2>/dev/null) && [[ -n $out ]]; then
        ENV_PREFIX=$(tail -n1 <<<"$out")
    fi
    ENV_EXISTS=0
    [[ -n $ENV_PREFIX ]] && ENV_EXISTS=1
    ENV_PY=${ENV_PREFIX:-<conda-env-prefix>}/bin/python
else
    if [[ -n $PYTHON ]]; then
        have "$PYTHON" || die "--python $PYTHON: no such interpreter."
        v=$(py_version "$PYTHON") || die "--python $PYTHON does not run."
        py_ok "$v" || DIE_CODE=3 die "Python $v ($PYTHON) is not supported: use Python 3.10, 3.11 or 3.12."
        BASE_PY=$(command -v "$PYTHON")
    else
        BASE_PY=""
        for c in python3.12 python3.11 python3.10 python3 python3.13; do
            if have "$c" && v=$(py_version "$c") && py_ok "$v"; then BASE_PY=$(command -v "$c"); break; fi
        done
        [[ -n $BASE_PY ]] || DIE_CODE=3 die "no Python 3.10-3.12 found. Install one (Debian/Ubuntu: sudo apt install python3 python3-venv; Fedora: sudo dnf install python3.12), or install Miniforge and use --conda."
        v=$(py_version "$BASE_PY")
    fi
    [[ $v == 3.13 ]] && note "Python 3.13 is outside the tested range (3.10-3.12); PyTorch may not publish every wheel for it."
    "$BASE_PY" -c 'import venv, ensurepip' 2>/dev/null ||
        DIE_CODE=3 die "$BASE_PY cannot create virtual environments (the venv/ensurepip module is missing). On Debian/Ubuntu: sudo apt install python$v-venv"
    ENV_DESC="virtual environment $VENV_DIR (Python $v from $BASE_PY)"
    ENV_PREFIX=$VENV_DIR
    ENV_PY=$VENV_DIR/bin/python
    ENV_EXISTS=0
    if [[ -e $VENV_DIR ]]; then
        if ev=$(py_version "$ENV_PY") && py_ok "$ev" && "$ENV_PY" -m pip --version >/dev/null 2>&1; then
            ENV_EXISTS=1
            if [[ -n $PYTHON && $ev != "$v" ]]; then
                ENV_EXISTS=broken
                note "$VENV_DIR has Python $ev but --python asks for $v: it will be recreated."
            fi
        else
            ENV_EXISTS=broken
        fi
    fi
fi

# What is in the environment already (read-only).
TORCH_HAVE=""
TORCH_HAVE_VERSION=""
if [[ $ENV_EXISTS == 1 ]] && out=$("$ENV_PY" - 2>/dev/null <<'PY'
import torch
v = torch.version
kind = "cuda" if v.cuda else "xpu" if getattr(v, "xpu", None) else "rocm" if getattr(v, "hip", None) else "cpu"
print(kind, torch.__version__)
PY
); then
    TORCH_HAVE=${out%% *}
    TORCH_HAVE_VERSION=${out#* }
fi

# ---------------------------------------------------------------------------------------------- the plan
say "tortoise-tts-oneapi installer"
say "  system:      Linux $ARCH$( ((WSL)) && printf ' (WSL2)')"
say "  device:      $DEVICE  ($REASON)"
say "  environment: $ENV_DESC$(
    case $ENV_EXISTS in 1) printf ' [exists: will be checked and repaired]' ;; broken) printf ' [broken: will be recreated]' ;; *) printf ' [will be created]' ;; esac
    ((FORCE)) && [[ $ENV_EXISTS == 1 ]] && printf ' [--force: will be recreated]'
)"
say "  torch:       $TORCH_SPEC from $TORCH_INDEX${TORCH_HAVE:+  (installed now: $TORCH_HAVE_VERSION, $TORCH_HAVE build)}"
say "  project:     $REPO [${EXTRAS}] (editable)"
[[ $ENV_KIND == conda ]] && say "  conda:       upgrade libstdcxx from conda-forge (an old libstdc++ hides Intel GPUs)"
say "  oneAPI:      $([[ -n $SETVARS ]] && printf 'source %s' "$SETVARS" || printf 'not needed (PyTorch XPU wheels bring their runtime)')"
say "  launcher:    $( ((DESKTOP)) && printf 'menu + desktop entry%s' "$( ((WSL)) && printf ' + Windows desktop shortcut')" || printf 'skipped (--no-desktop)')"
say "  doctor:      $( ((DOCTOR)) && printf 'yes' || printf 'skipped')"
say "  models:      $( ((MODELS)) && printf 'download now' || printf 'not now (later: tortoise-tts models download)')"
((LAUNCH)) && say "  then:        start the app"
for n in ${NOTES[@]+"${NOTES[@]}"}; do say "  note: $n"; done
if ((DRY_RUN)); then
    say ""
    say "Dry run: these commands would run (nothing is changed):"
fi

# ---------------------------------------------------------------------------------------------- do it
PIP_Q=()
((QUIET)) && PIP_Q=(-q)

info "Environment"
if [[ $ENV_KIND == conda ]]; then
    if ((FORCE)) && [[ $ENV_EXISTS == 1 ]]; then
        run "$CONDA_EXE_FOUND" env remove -y -n "$CONDA_ENV"
        ENV_EXISTS=0
    fi
    if [[ $ENV_EXISTS != 1 ]]; then
        run "$CONDA_EXE_FOUND" create -y -n "$CONDA_ENV" -c conda-forge --override-channels \
            "python=$CONDA_PY" pip "libstdcxx>=14"
    else
        run "$CONDA_EXE_FOUND" install -y -n "$CONDA_ENV" -c conda-forge --override-channels "libstdcxx>=14"
    fi
    if ((!DRY_RUN)); then
        ENV_PREFIX=$("$CONDA_EXE_FOUND" run -n "$CONDA_ENV" python -c 'import sys; print(sys.prefix)' | tail -n1)
        ENV_PY=$ENV_PREFIX/bin/python
    fi
else
    if [[ $ENV_EXISTS == broken ]] || { ((FORCE)) && [[ $ENV_EXISTS == 1 ]]; }; then
        run rm -rf "$VENV_DIR"
        ENV_EXISTS=0
    fi
    if [[ $ENV_EXISTS != 1 ]]; then
        run "$BASE_PY" -m venv "$VENV_DIR"
    fi
    # A current pip is needed for editable installs from pyproject.toml; an offline re-run can do without.
    run "$ENV_PY" -m pip install "${PIP_Q[@]}" --upgrade pip || warn "could not upgrade pip; continuing with the one there."
fi

info "PyTorch ($DEVICE)"
# PyTorch's own index unreachable (a network that reaches only PyPI, a proxy): say so in one line and take PyPI's torch
# where PyPI has a build for the device (CPU, CUDA); for XPU, where it has none, stop with what to check.
if [[ $TORCH_INDEX != pypi ]] && ((!DRY_RUN)) && ! index_reachable "$TORCH_INDEX"; then
    if [[ $DEVICE == xpu ]]; then
        die "PyTorch's wheel index $TORCH_INDEX cannot be reached, and PyPI has no PyTorch build for Intel GPUs (XPU).
  Check: that $TORCH_INDEX/torch/ opens on this machine (curl -I $TORCH_INDEX/torch/); the proxy (https_proxy, or 'proxy' in pip.conf); a firewall; or give an internal mirror with --torch-index URL.
  Then retry:  $RETRY_CMD
  (or install the CPU build now: add --device cpu)"
    fi
    warn "PyTorch's wheel index $TORCH_INDEX cannot be reached; installing torch from PyPI instead$(
        [[ $DEVICE == cpu && $ARCH == x86_64 ]] && printf ' (its CUDA build: a larger download that runs on the CPU too)'
    )."
    TORCH_INDEX=pypi
    PIP_INDEX_ARGS=()
fi
if [[ -n $TORCH_HAVE && $TORCH_HAVE != "$DEVICE" ]] || { ((FORCE)) && [[ -n $TORCH_HAVE ]]; }; then
    say "Replacing the installed $TORCH_HAVE build of torch with the $DEVICE build."
    run "$ENV_PY" -m pip uninstall -y torch
fi
run "$ENV_PY" -m pip install "${PIP_Q[@]}" "$TORCH_SPEC" "${PIP_INDEX_ARGS[@]}"
if [[ $TORCH_INDEX == pypi ]] && ((!DRY_RUN)); then
    say "Installed from PyPI: $(torch_build)"
fi

info "tortoise-tts-oneapi"
# Pin torch to the build just installed so that resolving the project cannot swap it for another one.
if ((DRY_RUN)); then
    CONSTRAINT=/tmp/tortoise-torch-pin.txt
    say "(pin torch to the installed build in $CONSTRAINT)"
else
    CONSTRAINT=$(mktemp)
    trap 'rm -f "$CONSTRAINT"' EXIT
    "$ENV_PY" -c 'from importlib.metadata import version; print("torch==" + version("torch"))' >"$CONSTRAINT"
fi
run "$ENV_PY" -m pip install "${PIP_Q[@]}" -c "$CONSTRAINT" -e "$REPO${EXTRAS:+[$EXTRAS]}"

ENV_BIN=${ENV_PY%/python}
if ((DESKTOP)); then
    info "Launcher"
    write_config() {
        mkdir -p "$CONFIG_DIR"
        {
            printf '# Written by install/install.sh; read by install/launch.sh and install/uninstall.sh.\n'
            printf 'TORTOISE_REPO=%q\n' "$REPO"
            printf 'TORTOISE_ENV_KIND=%q\n' "$ENV_KIND"
            printf 'TORTOISE_ENV_PREFIX=%q\n' "$ENV_PREFIX"
            printf 'TORTOISE_CONDA_EXE=%q\n' "$CONDA_EXE_FOUND"
            printf 'TORTOISE_CONDA_ENV=%q\n' "$([[ $ENV_KIND == conda ]] && printf '%s' "$CONDA_ENV")"
            printf 'TORTOISE_DEVICE=%q\n' "$DEVICE"
            printf 'TORTOISE_SETVARS=%q\n' "$SETVARS"
        } >"$CONFIG_DIR/install.env"
    }
    say "+ write $CONFIG_DIR/install.env"
    ((DRY_RUN)) || write_config
    DESKTOP_ARGS=(install)
    ((DRY_RUN)) && DESKTOP_ARGS+=(--dry-run)
    bash "$REPO/install/desktop.sh" "${DESKTOP_ARGS[@]}"
fi

if [[ -n $SETVARS ]] && ((!DRY_RUN)); then
    # shellcheck disable=SC1090
    set +u && . "$SETVARS" >/dev/null && set -u
fi
DOCTOR_RC=0
MODELS_RC=0
if ((DOCTOR)); then
    info "Self-check (tortoise-tts doctor)"
    run "$ENV_BIN/tortoise-tts" doctor || DOCTOR_RC=$?
    ((DOCTOR_RC == 0)) || warn "'tortoise-tts doctor' exited with $DOCTOR_RC: read its messages above; install/INSTALL.md has a troubleshooting section."
fi
if ((MODELS)); then
    info "Model weights"
    run "$ENV_BIN/tortoise-tts" models download || MODELS_RC=$?
fi

if ((DRY_RUN)); then
    say ""
    say "Dry run finished; nothing was changed."
    exit 0
fi
say ""
say "Done. $ENV_DESC is ready."
if [[ $ENV_KIND == conda ]]; then
    say "  Use it in a shell:  $CONDA_TOOL activate $CONDA_ENV"
else
    say "  Use it in a shell:  source $(quote "$VENV_DIR/bin/activate")"
fi
LAUNCH_HINT="bash $(quote "$REPO/install/launch.sh")"
if ((!DESKTOP)) && [[ $ENV_PREFIX != "$REPO/.venv" ]]; then
    LAUNCH_HINT="TORTOISE_ENV_KIND=$ENV_KIND TORTOISE_ENV_PREFIX=$(quote "$ENV_PREFIX") $LAUNCH_HINT"
fi
say "  Start the app:      $LAUNCH_HINT$( ((DESKTOP)) && printf '   (or the "TorToiSe TTS" menu entry)')"
say "  Command line:       tortoise-tts --help"
for n in ${NOTES[@]+"${NOTES[@]}"}; do say "  note: $n"; done
if ((MODELS_RC)); then
    warn "the model download failed (exit $MODELS_RC). The install itself is fine; run later: tortoise-tts models download"
    exit 1
fi
if ((LAUNCH)); then
    # Hand the environment to the launcher directly (the config file is not written with --no-desktop).
    export TORTOISE_REPO=$REPO TORTOISE_ENV_KIND=$ENV_KIND TORTOISE_ENV_PREFIX=$ENV_PREFIX \
        TORTOISE_CONDA_EXE=$CONDA_EXE_FOUND TORTOISE_SETVARS=$SETVARS
    exec bash "$REPO/install/launch.sh"
fi
