#!/usr/bin/env bash
# Start the TorToiSe TTS app: activate the environment made by install.sh, start the server, open the browser.
# Used by the menu/desktop entry; from a shell: bash install/launch.sh [--no-browser] [app options...]
# Every failure ends with a message that says what is missing and how to fix it.
set -uo pipefail

APP_ID=tortoise-tts-oneapi
SELF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}/$APP_ID/install.env
STATE_DIR=${XDG_STATE_HOME:-$HOME/.local/state}/$APP_ID
LOG=$STATE_DIR/app.log
TIMEOUT=${TORTOISE_LAUNCH_TIMEOUT:-900}
OSRELEASE_FILE=${TORTOISE_INSTALL_OSRELEASE:-/proc/sys/kernel/osrelease}

BROWSER_OPEN=1
[[ ${TORTOISE_NO_BROWSER:-0} == 1 ]] && BROWSER_OPEN=0
APP_ARGS=()
for a in "$@"; do
    case $a in
    --no-browser) BROWSER_OPEN=0 ;;
    -h | --help)
        echo "usage: bash install/launch.sh [--no-browser] [options for tortoise-app]"
        echo "Starts the app in the environment made by install/install.sh and opens it in the browser."
        exit 0
        ;;
    *) APP_ARGS+=("$a") ;;
    esac
done

have() { command -v "$1" >/dev/null 2>&1; }

# Show an error where the user will see it (terminal, and a dialog or notification when there is a desktop).
fail() {
    local msg=$1
    printf '\nTorToiSe TTS could not start.\n%s\n' "$msg" >&2
    if [[ -n ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]]; then
        if have zenity; then
            zenity --error --title="TorToiSe TTS" --no-markup --text="$msg" 2>/dev/null &
        elif have kdialog; then
            kdialog --title "TorToiSe TTS" --error "$msg" 2>/dev/null &
        elif have notify-send; then
            notify-send "TorToiSe TTS could not start" "$msg" 2>/dev/null || true
        fi
    fi
    # Keep a terminal opened by the menu entry visible until the message was read.
    if [[ -t 0 && -t 1 ]]; then read -r -p "Press Enter to close. " _ || true; fi
    exit 1
}

# Settings: environment variables win over the file install.sh wrote, which wins over the defaults.
declare -A OVERRIDE=()
for k in TORTOISE_REPO TORTOISE_ENV_KIND TORTOISE_ENV_PREFIX TORTOISE_CONDA_EXE TORTOISE_SETVARS; do
    [[ -n ${!k:-} ]] && OVERRIDE[$k]=${!k}
done
if [[ -f $CONFIG ]]; then
    # shellcheck disable=SC1090
    . "$CONFIG" || fail "The settings file $CONFIG is damaged. Re-run the installer: bash $SELF_REPO/install/install.sh"
fi
for k in "${!OVERRIDE[@]}"; do printf -v "$k" '%s' "${OVERRIDE[$k]}"; done
REPO=${TORTOISE_REPO:-$SELF_REPO}
ENV_KIND=${TORTOISE_ENV_KIND:-venv}
PREFIX=${TORTOISE_ENV_PREFIX:-$REPO/.venv}
CONDA_EXE_PATH=${TORTOISE_CONDA_EXE:-}
SETVARS=${TORTOISE_SETVARS:-}
INSTALL_CMD="bash $REPO/install/install.sh"

[[ -d $REPO ]] || fail "The program folder $REPO is gone (moved or deleted).
Fix: run the installer from where the program is now: bash <folder>/install/install.sh"
[[ -d $PREFIX ]] || fail "TorToiSe TTS is not installed yet: there is no environment at $PREFIX.
Fix: run the installer:  $INSTALL_CMD"

# Activate the environment.
if [[ $ENV_KIND == conda ]]; then
    activated=0
    if [[ -n $CONDA_EXE_PATH && -x $CONDA_EXE_PATH ]]; then
        case ${CONDA_EXE_PATH##*/} in
        micromamba) hook=$("$CONDA_EXE_PATH" shell hook -s bash 2>/dev/null) && eval "$hook" &&
            micromamba activate "$PREFIX" 2>/dev/null && activated=1 ;;
        *) hook=$("$CONDA_EXE_PATH" shell.bash hook 2>/dev/null) && eval "$hook" &&
            conda activate "$PREFIX" 2>/dev/null && activated=1 ;;
        esac
    fi
    if ((!activated)); then
        # Minimal activation: what the app needs is the env's bin/ on PATH and its activation scripts.
        export CONDA_PREFIX=$PREFIX PATH=$PREFIX/bin:$PATH
        for f in "$PREFIX"/etc/conda/activate.d/*.sh; do
            # shellcheck disable=SC1090
            [[ -f $f ]] && { . "$f" || true; }
        done
    fi
else
    [[ -f $PREFIX/bin/activate ]] || fail "$PREFIX is not a working Python environment (bin/activate is missing).
Fix: repair it with:  $INSTALL_CMD"
    set +u
    # shellcheck disable=SC1091
    . "$PREFIX/bin/activate"
    set -u
fi
if [[ -n $SETVARS ]]; then
    if [[ -f $SETVARS ]]; then
        set +u
        # shellcheck disable=SC1090
        . "$SETVARS" >/dev/null 2>&1 || echo "warning: $SETVARS reported errors" >&2
        set -u
    else
        echo "warning: the oneAPI environment $SETVARS is gone; continuing without it." >&2
    fi
fi

APP=$PREFIX/bin/tortoise-app
[[ -x $APP ]] || fail "The app is not installed in $PREFIX (the 'app' extra is missing).
Fix: $INSTALL_CMD --extras app"

open_url() {
    local url=$1
    if grep -qiE 'microsoft|wsl' "$OSRELEASE_FILE" 2>/dev/null || [[ ${TORTOISE_INSTALL_WSL:-} == 1 ]]; then
        if have wslview; then wslview "$url" && return 0; fi
        if have explorer.exe; then explorer.exe "$url" >/dev/null 2>&1 || true; return 0; fi
        if have cmd.exe; then cmd.exe /c start "" "$url" >/dev/null 2>&1 && return 0; fi
    fi
    for opener in xdg-open gio sensible-browser; do
        if have "$opener"; then
            if [[ $opener == gio ]]; then gio open "$url" >/dev/null 2>&1 && return 0; else "$opener" "$url" >/dev/null 2>&1 && return 0; fi
        fi
    done
    python -c 'import sys, webbrowser; sys.exit(0 if webbrowser.open(sys.argv[1]) else 1)' "$url" >/dev/null 2>&1
}

mkdir -p "$STATE_DIR" || fail "Cannot create $STATE_DIR for the log file."
: >"$LOG"
echo "Starting TorToiSe TTS (environment: $PREFIX). The first start loads the models and can take a few minutes."
echo "Log: $LOG   Stop: close this window or press Ctrl+C."
export TORTOISE_LAUNCHER=1
# The launcher opens the browser itself (on WSL2: the Windows one), so the app must not.
"$APP" --no-browser ${APP_ARGS[@]+"${APP_ARGS[@]}"} >>"$LOG" 2>&1 &
APP_PID=$!
trap 'kill "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; exit 130' INT TERM HUP
tail -n +1 -f --pid="$APP_PID" "$LOG" &
TAIL_PID=$!

# The address the server prints (gradio: "Running on local URL:  http://127.0.0.1:7860").
find_url() {
    local u
    u=$(grep -iE 'running on|local url|listening on|serving at' "$LOG" 2>/dev/null | grep -oE 'https?://[^ "]+' | head -n1 || true)
    [[ -n $u ]] || u=$(grep -oE 'https?://(127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]):[0-9]+/?' "$LOG" 2>/dev/null | head -n1 || true)
    printf '%s' "$u"
}
url=""
waited=0
while [[ -z $url ]]; do
    url=$(find_url)
    [[ -n $url ]] && break
    if ! kill -0 "$APP_PID" 2>/dev/null; then
        wait "$APP_PID"
        rc=$?
        sleep 0.2
        kill "$TAIL_PID" 2>/dev/null
        # It printed its address and ended normally between two looks: nothing to report.
        [[ $rc == 0 && -n $(find_url) ]] && exit 0
        fail "The app stopped with exit code $rc before it was ready. Last lines of $LOG:
$(tail -n 15 "$LOG")

Check the set-up with:  $PREFIX/bin/tortoise-tts doctor
Repair the install with:  $INSTALL_CMD"
    fi
    if ((waited >= TIMEOUT * 5)); then
        kill "$APP_PID" 2>/dev/null
        kill "$TAIL_PID" 2>/dev/null
        fail "The app did not report its address within $TIMEOUT seconds; see $LOG."
    fi
    sleep 0.2
    waited=$((waited + 1))
done
url=${url/0.0.0.0/127.0.0.1}
echo "TorToiSe TTS is ready at $url"
if ((BROWSER_OPEN)); then
    open_url "$url" || echo "No web browser could be opened from here: open $url in your browser."
fi
wait "$APP_PID"
rc=$?
sleep 0.2
kill "$TAIL_PID" 2>/dev/null
exit "$rc"
