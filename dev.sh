#!/usr/bin/env sh
# birdcam in one command on a fresh machine.
#   ./dev.sh app [birdcam options]   set up .venv and open the window
#   ./dev.sh test [pytest options]   set up .venv with the trainer and test tools, run the whole suite
#   ./dev.sh check                   lint (ruff), formatting (ruff format) and types of the core (mypy): seconds
set -eu
cd "$(dirname "$0")"
mode="${1:-app}"
[ $# -gt 0 ] && shift

# vit-keras (the trainer) needs Python < 3.12; the app runs on 3.10 and 3.11.
pick_python() {
    for candidate in python3.11 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 12)))'; then
            echo "$candidate"
            return
        fi
    done
    echo "dev.sh: birdcam needs Python 3.10 or 3.11 (vit-keras does not support 3.12); install one and retry." >&2
    exit 2
}

# Debian/Ubuntu packages, installed only when missing: system_packages WHAT PACKAGE...
system_packages() {
    command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || return 0
    what="$1"
    shift
    missing=""
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
    done
    [ -z "$missing" ] && return 0
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev.sh: installing $what:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Qt's shared libraries (PySide6 wheels do not carry them).
QT_LIBRARIES="libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
libxcb-render-util0 libxcb-image0 libpulse0"
# The real-window tests (tests/gui/test_real_window.py): a private X display, a window manager, keys and
# mouse, screenshots, reading text in them, and a font to read.
REAL_WINDOW_TOOLS="xvfb openbox xdotool imagemagick tesseract-ocr fonts-dejavu-core procps"

venv() {
    [ -x .venv/bin/python ] || "$(pick_python)" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".$1"
}

case "$mode" in
    app)
        system_packages "Qt's system libraries" $QT_LIBRARIES
        venv ""
        exec .venv/bin/birdcam "$@"
        ;;
    test)
        system_packages "Qt's system libraries and the real-window test tools" $QT_LIBRARIES $REAL_WINDOW_TOOLS
        venv "[train,test]"
        QT_QPA_PLATFORM=offscreen exec .venv/bin/python -m pytest "$@"
        ;;
    check)
        venv "[test]"
        .venv/bin/ruff check .
        .venv/bin/ruff format --check .
        exec .venv/bin/mypy
        ;;
    *)
        echo "usage: ./dev.sh app [birdcam options] | ./dev.sh test [pytest options] | ./dev.sh check" >&2
        exit 2
        ;;
esac
