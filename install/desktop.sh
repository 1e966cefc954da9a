#!/usr/bin/env bash
# Add or remove the "TorToiSe TTS" launcher: an applications-menu entry, a copy on the desktop and, on WSL2,
# a shortcut on the Windows desktop. Called by install.sh and uninstall.sh; usable alone:
#   bash install/desktop.sh install|remove [--dry-run]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_ID=tortoise-tts-oneapi
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
MENU_FILE=$DATA_HOME/applications/$APP_ID.desktop
ICON_FILE=$DATA_HOME/icons/hicolor/scalable/apps/$APP_ID.svg
WIN_SHORTCUT_NAME="TorToiSe TTS.bat"
OSRELEASE_FILE=${TORTOISE_INSTALL_OSRELEASE:-/proc/sys/kernel/osrelease}

ACTION=${1:-}
DRY_RUN=0
[[ ${2:-} == --dry-run ]] && DRY_RUN=1
case $ACTION in install | remove) ;; *)
    echo "usage: bash install/desktop.sh install|remove [--dry-run]" >&2
    exit 2
    ;;
esac

have() { command -v "$1" >/dev/null 2>&1; }
step() {
    printf '+ %s\n' "$*"
    ((!DRY_RUN))
}

is_wsl() {
    if [[ -n ${TORTOISE_INSTALL_WSL:-} ]]; then [[ $TORTOISE_INSTALL_WSL == 1 ]]; else grep -qiE 'microsoft|wsl' "$OSRELEASE_FILE" 2>/dev/null; fi
}

# The user's desktop folder, only if it exists (we never create one).
desktop_dir() {
    local d=""
    if have xdg-user-dir; then d=$(xdg-user-dir DESKTOP 2>/dev/null || true); fi
    [[ -n $d && $d != "$HOME" && -d $d ]] || d=$HOME/Desktop
    [[ -d $d ]] && printf '%s' "$d"
    return 0
}

# The Windows desktop folder as a Linux path (WSL2 only), or nothing.
windows_desktop() {
    local w
    have powershell.exe && have wslpath || return 0
    w=$(powershell.exe -NoProfile -NonInteractive -Command "[Environment]::GetFolderPath('Desktop')" 2>/dev/null | tr -d '\r') || return 0
    [[ -n $w ]] || return 0
    w=$(wslpath -u "$w" 2>/dev/null) || return 0
    [[ -d $w ]] && printf '%s' "$w"
    return 0
}

# One argument of a desktop-entry Exec key: quoted per the Desktop Entry Specification.
exec_arg() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//\`/\\\`}
    s=${s//\$/\\\$}
    s=${s//\\/\\\\}
    printf '"%s"' "$s"
}

desktop_entry() {
    cat <<EOF
[Desktop Entry]
Type=Application
Version=1.0
Name=TorToiSe TTS
GenericName=Text to Speech
Comment=Clone a voice and turn text into natural speech (tortoise-tts-oneapi)
Exec=/bin/bash $(exec_arg "$REPO/install/launch.sh")
Icon=$APP_ID
Terminal=true
Categories=AudioVideo;Audio;
Keywords=speech;tts;voice;clone;tortoise;
StartupNotify=false
EOF
}

if [[ $ACTION == install ]]; then
    if step "write $MENU_FILE"; then
        mkdir -p "${MENU_FILE%/*}" "${ICON_FILE%/*}"
        desktop_entry >"$MENU_FILE"
        chmod 755 "$MENU_FILE"
    fi
    if step "copy icon to $ICON_FILE"; then cp "$REPO/install/tortoise-tts.svg" "$ICON_FILE"; fi
    ddir=$(desktop_dir)
    if [[ -n $ddir ]]; then
        if step "copy the launcher to $ddir/$APP_ID.desktop"; then
            cp "$MENU_FILE" "$ddir/$APP_ID.desktop"
            chmod 755 "$ddir/$APP_ID.desktop"
            # GNOME only starts desktop files marked trusted.
            if have gio; then gio set "$ddir/$APP_ID.desktop" metadata::trusted true 2>/dev/null || true; fi
        fi
    else
        echo "(no desktop folder found; the launcher is in the applications menu)"
    fi
    if have update-desktop-database && step "update-desktop-database ${MENU_FILE%/*}"; then
        update-desktop-database "${MENU_FILE%/*}" 2>/dev/null || true
    fi
    if is_wsl; then
        distro=${WSL_DISTRO_NAME:-}
        wdir=$(windows_desktop)
        cmdline="wsl.exe${distro:+ -d \"$distro\"} -- bash \"$REPO/install/launch.sh\""
        if [[ -n $wdir ]]; then
            if step "write the Windows shortcut $wdir/$WIN_SHORTCUT_NAME"; then
                printf '@echo off\r\nrem Starts TorToiSe TTS inside WSL2 (written by tortoise-tts-oneapi install.sh)\r\n%s\r\n' \
                    "$cmdline" >"$wdir/$WIN_SHORTCUT_NAME"
            fi
        else
            echo "note: could not find the Windows desktop. To start the app from Windows, run in PowerShell or a shortcut:"
            echo "      $cmdline"
        fi
        echo "note: on WSL2 with WSLg, 'TorToiSe TTS' also appears in the Windows Start menu under your Linux distribution."
    fi
else
    for f in "$MENU_FILE" "$ICON_FILE"; do
        if [[ -e $f ]] && step "remove $f"; then rm -f "$f"; fi
    done
    ddir=$(desktop_dir)
    if [[ -n $ddir && -e $ddir/$APP_ID.desktop ]] && step "remove $ddir/$APP_ID.desktop"; then
        rm -f "$ddir/$APP_ID.desktop"
    fi
    if is_wsl; then
        wdir=$(windows_desktop)
        if [[ -n $wdir && -e $wdir/$WIN_SHORTCUT_NAME ]] && step "remove $wdir/$WIN_SHORTCUT_NAME"; then
            rm -f "$wdir/$WIN_SHORTCUT_NAME"
        fi
    fi
fi
