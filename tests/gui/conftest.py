"""Qt runs off-screen; every test must leave no thread (Python or QThread) running behind it.
The real-window tests run the app itself on a private X display (real_window.py).

shared_dir, starter_model and the isolated user folders come from tests/conftest.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def no_thread_left_running(monkeypatch):
    """Fails the test if it leaves a threading.Thread or a QThread it started running."""
    from PySide6.QtCore import QThread

    before = set(threading.enumerate())
    started: list[QThread] = []
    original_start = QThread.start

    def recording_start(self, *args):
        started.append(self)
        return original_start(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield
    deadline = time.monotonic() + 0.2  # a thread that was told to stop gets a moment to return
    while time.monotonic() < deadline:
        left = _running(before, started)
        if not left:
            break
        time.sleep(0.01)
    left = _running(before, started)
    if left:
        pytest.fail(f"test left threads running: {left}")


def _running(before, started) -> list[str]:
    python_threads = [
        t.name
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    qt_threads = [t.objectName() or "QThread" for t in started if t.isRunning()]
    return python_threads + qt_threads


@pytest.fixture
def settings(tmp_path):
    """A QSettings in tmp_path, so tests never read or write the user's settings."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "birdcam.ini"), QSettings.Format.IniFormat)


# -- the real window under Xvfb (tests/gui/real_window.py) ---------------------------------------------


@pytest.fixture
def x_display(tmp_path):
    """A private X display with a window manager. Tools missing: a failure under CI, a skip elsewhere."""
    from real_window import XDisplay, missing_tools

    if not sys.platform.startswith("linux"):
        pytest.skip("real-window tests drive an X11 window under Xvfb: Linux only")
    missing = missing_tools()
    if missing:
        message = f"real-window tests need {', '.join(missing)}; ./dev.sh test installs them on Debian/Ubuntu (apt-get)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    display = XDisplay(tmp_path)
    yield display
    display.close()


@pytest.fixture
def launch_window(x_display, isolated_user_dirs, tmp_path):
    """launch(*birdcam_args, cwd=tmp_path) -> RealWindow, shown; every app it started is killed at the end.

    The apps share the test's isolated folders and one QSettings folder (XDG_CONFIG_HOME), so a second
    launch starts where the first left off.
    """
    from real_window import RealWindow

    config, runtime = isolated_user_dirs / "config", tmp_path / "runtime"
    config.mkdir(exist_ok=True)
    runtime.mkdir(mode=0o700)
    env = {
        "XDG_CONFIG_HOME": str(config),
        "XDG_RUNTIME_DIR": str(runtime),
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")])),
    }
    windows: list[RealWindow] = []

    def launch(*args: str, cwd: Path | None = None) -> RealWindow:
        window = RealWindow(x_display, list(args), cwd=cwd or tmp_path, env=env, log_dir=tmp_path)
        windows.append(window)
        window.wait_until_shown()
        return window

    yield launch
    for window in windows:
        window.kill()


@pytest.fixture
def sweeping_duck_video(shared_dir, tmp_path) -> Path:
    """4 s at 15 fps of the shared Mandarin Duck photo with a red bar sweeping across: no two frames alike,
    so screenshots of a window that plays it always differ."""
    import cv2
    from media import read_image, write_video

    duck = cv2.resize(
        read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg"), (320, 240), interpolation=cv2.INTER_AREA
    )
    frames = []
    for index in range(60):
        frame = duck.copy()
        left = index * 320 // 60
        frame[:, left : left + 10] = (0, 0, 255)
        frames.append(frame)
    return write_video(tmp_path / "duck-sweep.avi", frames, fps=15)
