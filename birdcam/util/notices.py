"""Desktop notices without Qt (the headless logger's `--notify`): the platform's own notifier, else nothing.

The window uses its system-tray icon instead. Arguments go to the notifier as a list (never through a
shell), and text is escaped where the notifier parses it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

_TIMEOUT_S = 5.0


def new_species_text(kind: str, name: str) -> tuple[str, str]:
    """(title, body) of the notice for a species seen for the first time today or ("ever") at all."""
    title = "New species for birdcam" if kind == "ever" else "First visit today"
    body = f"{name}: the first visit ever." if kind == "ever" else f"{name}: the first visit today."
    return title, body


def desktop_notice(title: str, body: str) -> bool:
    """Shows a notice with the desktop's notifier (notify-send on Linux, Notification Center on macOS).

    Returns False when there is none or it fails; a notice is a courtesy, never an error.
    """
    if sys.platform == "darwin":
        script = f"display notification {_applescript(body)} with title {_applescript(title)}"
        command = ["osascript", "-e", script]
    elif shutil.which("notify-send"):
        command = ["notify-send", "--app-name=birdcam", title, body]
    else:
        return False
    try:
        return subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _applescript(text: str) -> str:
    """A quoted AppleScript string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
