"""Qt runs off-screen; every test must leave no thread (Python or QThread) running behind it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[2]
STARTER_MODEL = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"


def _shared_dir() -> Path:
    return Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared real data; fails on CI when it is missing, skips elsewhere."""
    path = _shared_dir()
    if not (path / STARTER_MODEL).is_file():
        message = f"shared data not found at {path} (set BIRDCAM_SHARED)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def starter_model(shared) -> Path:
    return shared / STARTER_MODEL


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """Keeps the sightings database, snapshots and model lookups of every test inside tmp_path."""
    monkeypatch.setenv("BIRDCAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIRDCAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BIRDCAM_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("BIRDCAM_MODEL", raising=False)


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


def write_video(path: Path, images: list[np.ndarray], *, fps: float = 30.0, size=(320, 240)) -> Path:
    """Writes the images (BGR) as an MJPG .avi at `size`, one frame each."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for image in images:
        writer.write(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image
