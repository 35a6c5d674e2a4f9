"""The inference worker: newest frame only, results tagged with their frame, errors do not end it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from birdcam.capture import LatestFrame
from birdcam.errors import ModelError
from birdcam.gui.worker import InferenceWorker, ModelLoader, ModelRequest
from birdcam.labels import Label
from birdcam.sources import Frame

LABELS = (Label("Aix galericulata (Mandarin Duck)", "Mandarin Duck", "Aix galericulata"), Label("background", "", ""))


@dataclass
class FakeTimings:
    total_ms: float


@dataclass
class FakeCategory:
    index: int
    label: str
    common_name: str
    scientific_name: str
    score: float


@dataclass
class FakeResult:
    categories: tuple
    is_bird: bool
    probabilities: np.ndarray
    timings: FakeTimings


class SlowFakeClassifier:
    """Takes `seconds` per frame; says "duck" with a score that encodes the frame's pixel value."""

    labels = LABELS
    background_index = 1
    model_path = Path("slow-fake.tflite")

    def __init__(self, seconds: float, fail_on: set[int] = frozenset()):
        self.seconds = seconds
        self.fail_on = fail_on
        self.seen: list[int] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()
        self._buffer = np.zeros(2, np.float32)

    def classify(self, image: np.ndarray) -> FakeResult:
        value = int(image[0, 0, 0])
        self.seen.append(value)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        if value in self.fail_on:
            raise ModelError(f"fake failure on frame {value}")
        self._buffer[:] = (0.9, 0.1)  # the same buffer every time, like an interpreter's output
        category = FakeCategory(0, LABELS[0].text, "Mandarin Duck", "Aix galericulata", 0.9)
        return FakeResult((category,), True, self._buffer, FakeTimings(self.seconds * 1e3))

    def close(self) -> None:
        self.closed.set()


def frame(index: int) -> Frame:
    return Frame(index, np.full((8, 8, 3), index % 256, np.uint8), time.monotonic())


@pytest.fixture
def running_worker(qtbot):
    from PySide6.QtCore import QThread

    frames = LatestFrame()
    thread = QThread()
    started: list[InferenceWorker] = []

    def start(classifier):
        worker = InferenceWorker(frames, classifier)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.start()
        started.append(worker)
        return worker

    yield frames, start
    for worker in started:
        worker.stop()
    frames.close()
    thread.quit()
    assert thread.wait(2000)


def test_slow_model_drops_frames_and_ends_on_the_newest(qtbot, running_worker):
    frames, start = running_worker
    classifier = SlowFakeClassifier(seconds=0.02)
    worker = start(classifier)
    results = []
    worker.result_ready.connect(results.append)
    for index in range(100):
        frames.put(frame(index))
        time.sleep(0.002)
    qtbot.waitUntil(lambda: results and results[-1].frame_index == 99, timeout=3000)

    indices = [result.frame_index for result in results]
    assert 3 <= len(indices) < 60, "a model 10x slower than the frames must skip most of them"
    assert indices == sorted(set(indices)), "each result comes from a newer frame than the one before"
    assert classifier.seen == indices
    assert frames.dropped > 40
    assert classifier.threads and threading.current_thread().name not in classifier.threads
    # results own their data: later frames must not change an earlier result's probabilities
    assert all(result.probabilities is not results[-1].probabilities for result in results[:-1])
    assert results[0].probabilities.tolist() == pytest.approx([0.9, 0.1])
    assert results[-1].top[0].common_name == "Mandarin Duck"
    assert results[-1].t_done >= results[-1].t_capture


def test_failing_frame_reports_error_and_worker_carries_on(qtbot, running_worker):
    frames, start = running_worker
    worker = start(SlowFakeClassifier(seconds=0.0, fail_on={1}))
    results, errors = [], []
    worker.result_ready.connect(results.append)
    worker.error.connect(errors.append)
    for index in range(3):
        frames.put(frame(index))
        qtbot.waitUntil(lambda: len(results) + len(errors) == index + 1, timeout=2000)

    assert [r.frame_index for r in results] == [0, 2]
    assert len(errors) == 1 and "frame 1" in errors[0] and "fake failure" in errors[0]


def test_switching_model_closes_the_old_one_on_the_worker_thread(qtbot, running_worker):
    frames, start = running_worker
    old, new = SlowFakeClassifier(0.0), SlowFakeClassifier(0.0)
    worker = start(old)
    results = []
    worker.result_ready.connect(results.append)
    frames.put(frame(0))
    qtbot.waitUntil(lambda: len(results) == 1, timeout=2000)
    worker.set_classifier(new)
    frames.put(frame(1))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=2000)

    assert old.seen == [0] and new.seen == [1]
    assert old.closed.is_set() and not new.closed.is_set()


def test_loader_reports_a_bad_model_in_one_line(qtbot, tmp_path):
    from birdcam.gui.worker import start_in_thread

    not_a_model = tmp_path / "notes.tflite"
    not_a_model.write_text("this is not a flatbuffer\n")
    loader = ModelLoader()
    thread = start_in_thread(loader, "loader")
    try:
        with qtbot.waitSignal(loader.failed, timeout=5000) as failed:
            loader.requested.emit(ModelRequest(str(not_a_model)))
    finally:
        thread.quit()
        thread.wait(2000)
    request, message = failed.args
    assert request.model == str(not_a_model)
    assert "notes.tflite" in message and "\n" not in message


def test_loader_downloads_the_default_model_with_progress(qtbot, starter_model, tmp_path, monkeypatch):
    """First run: no model anywhere, the starter comes from a mirror on 127.0.0.1 and the loader says how far it is."""
    import functools
    import http.server
    import shutil
    import threading

    from birdcam.model_store import AIY_BIRDS_V1

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(starter_model, mirror / AIY_BIRDS_V1.model.filename)
    shutil.copy(starter_model.parent / "labels.txt", mirror / "labels.txt")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, name="mirror")
    serving.start()
    monkeypatch.delenv("BIRDCAM_OFFLINE")
    monkeypatch.setenv("BIRDCAM_STARTER_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    loader, progress, loaded = ModelLoader(), [], []
    loader.progress.connect(progress.append)
    loader.loaded.connect(lambda request, classifier: loaded.append(classifier))
    try:
        loader.load(ModelRequest(None))
    finally:
        server.shutdown()
        server.server_close()
        serving.join(2)
    assert len(loaded) == 1 and loaded[0].model_path == AIY_BIRDS_V1.path()
    assert loaded[0].labels[166].common_name == "Mandarin Duck"
    assert progress[0].startswith("Downloading the starter model: ") and progress[-1].endswith(": 100%")
    assert len(progress) == len(set(progress)) > 2  # each percent once
    loaded[0].close()
