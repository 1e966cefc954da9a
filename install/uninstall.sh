#!/usr/bin/env bash
# Remove what install.sh installed: the launcher entries, the environment and the settings file.
# Your voices and generated audio are never touched; model weights only with --purge-models.
set -euo pipefail

SELF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_ID=tortoise-tts-oneapi
CONFIG_DIR=${XDG_CONFIG_HOME:-$HOME/.config}/$APP_ID
STATE_DIR=${XDG_STATE_HOME:-$HOME/.local/state}/$APP_ID
MODELS_DIR=${TORTOISE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tortoise/models}

usage() {
    cat <<EOF
Usage: bash install/uninstall.sh [--dry-run] [--yes] [--keep-env] [--purge-models]

Removes the TorToiSe TTS menu/desktop entries (and the WSL2 Windows shortcut), the environment that
install.sh made (the venv, or the conda environment), its settings and logs.
  --dry-run       show what would be removed, remove nothing
  --yes           do not ask for confirmation (needed when there is no terminal)
  --keep-env      keep the Python environment
  --purge-models  also delete the downloaded model weights in $MODELS_DIR
Voices and generated audio are not removed. The program folder itself is left for you to delete.
EOF
}

DRY_RUN=0
YES=0
KEEP_ENV=0
PURGE_MODELS=0
for a in "$@"; do
    case $a in
    --dry-run | -n) DRY_RUN=1 ;;
    --yes | -y) YES=1 ;;
    --keep-env) KEEP_ENV=1 ;;
    --purge-models) PURGE_MODELS=1 ;;
    -h | --help) usage; exit 0 ;;
    *)
        echo "ERROR: unknown option '$a' (see --help)" >&2
        exit 2
        ;;
    esac
done

TORTOISE_REPO=$SELF_REPO
TORTOISE_ENV_KIND=venv
TORTOISE_ENV_PREFIX=""
TORTOISE_CONDA_EXE=""
if [[ -f $CONFIG_DIR/install.env ]]; then
    # shellcheck disable=SC1091
    . "$CONFIG_DIR/install.env"
fi
PREFIX=${TORTOISE_ENV_PREFIX:-$TORTOISE_REPO/.venv}

PLAN=()
[[ -e $CONFIG_DIR ]] && PLAN+=("settings: $CONFIG_DIR")
[[ -e $STATE_DIR ]] && PLAN+=("logs: $STATE_DIR")
ENV_ACTION=""
if ((!KEEP_ENV)); then
    if [[ $TORTOISE_ENV_KIND == conda ]]; then
        if [[ -n $TORTOISE_CONDA_EXE && -x $TORTOISE_CONDA_EXE && -d $PREFIX ]]; then
            ENV_ACTION=conda
            PLAN+=("conda environment: $PREFIX")
        elif [[ -d $PREFIX ]]; then
            echo "note: cannot find the conda tool ($TORTOISE_CONDA_EXE); remove the environment $PREFIX yourself." >&2
        fi
    elif [[ -d $PREFIX ]]; then
        # Only delete what is recognisably a virtual environment.
        if [[ -f $PREFIX/pyvenv.cfg ]]; then
            ENV_ACTION=venv
            PLAN+=("virtual environment: $PREFIX")
        else
            echo "note: $PREFIX does not look like a virtual environment (no pyvenv.cfg); leaving it alone." >&2
        fi
    fi
fi
((PURGE_MODELS)) && [[ -d $MODELS_DIR ]] && PLAN+=("model weights: $MODELS_DIR")

echo "This removes the TorToiSe TTS launcher entries and:"
for p in ${PLAN[@]+"${PLAN[@]}"}; do echo "  - $p"; done
echo "Voices and generated audio are kept."
if ((DRY_RUN)); then
    bash "$SELF_REPO/install/desktop.sh" remove --dry-run
    echo "Dry run: nothing was removed."
    exit 0
fi
if ((!YES)); then
    if [[ -t 0 ]]; then
        read -r -p "Continue? [y/N] " answer
        [[ $answer == [yY]* ]] || {
            echo "Nothing removed."
            exit 1
        }
    else
        echo "ERROR: no terminal to ask for confirmation; re-run with --yes." >&2
        exit 2
    fi
fi

bash "$SELF_REPO/install/desktop.sh" remove
case $ENV_ACTION in
conda)
    echo "+ $TORTOISE_CONDA_EXE env remove -y -p $PREFIX"
    "$TORTOISE_CONDA_EXE" env remove -y -p "$PREFIX"
    ;;
venv)
    echo "+ rm -rf $PREFIX"
    rm -rf "$PREFIX"
    ;;
esac
if ((PURGE_MODELS)) && [[ -d $MODELS_DIR ]]; then
    echo "+ rm -rf $MODELS_DIR"
    rm -rf "$MODELS_DIR"
fi
rm -rf "$CONFIG_DIR" "$STATE_DIR"
echo "TorToiSe TTS was uninstalled. Delete the folder $TORTOISE_REPO yourself if you no longer need it."
