"""Qt runs off-screen; every test must leave no thread (Python or QThread) running behind it.

shared_dir, starter_model and the isolated user folders come from tests/conftest.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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
        t.name for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    qt_threads = [t.objectName() or "QThread" for t in started if t.isRunning()]
    return python_threads + qt_threads


@pytest.fixture
def settings(tmp_path):
    """A QSettings in tmp_path, so tests never read or write the user's settings."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "birdcam.ini"), QSettings.Format.IniFormat)
