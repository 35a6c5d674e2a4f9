"""The installed PySide6 survives a long session: 6.12.0 freed None/True on CPython 3.11 (pyproject excludes it)."""

from __future__ import annotations

import os
import subprocess
import sys

LONG_SESSION = """
import birdcam.gui
from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QFont

app = QCoreApplication([])

class Source(QObject):
    happened = Signal(object)

source, font, received = Source(), QFont(), []
source.happened.connect(received.append)
for index in range(300_000):  # about an hour of frames' worth of void calls and emits
    font.setBold(index % 2 == 0)
    source.happened.emit(index)
print("survived", len(received))
"""


def test_a_long_session_of_qt_calls_and_emits_survives():
    result = subprocess.run(
        [sys.executable, "-c", LONG_SESSION],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("survived 300000")
