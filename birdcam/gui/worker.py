"""The inference worker and the model loader: QObjects that each live on their own QThread.

The worker always classifies the newest frame of a `LatestFrame` and skips the rest, so lag never
grows. Results leave by signal as `FrameResult`s holding copies (never views of interpreter
buffers). A failing frame becomes an `error` signal and the loop carries on. The loader builds a
new classifier on its own thread and checks it runs before the worker switches to it, so the old
model keeps classifying until the new one is ready and stays when the new one is bad.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from birdcam.capture import LatestFrame
from birdcam.errors import BirdcamError, first_line

_POLL_S = 0.05  # how often a waiting worker looks at its stop flag
TOP_K = 5  # labels per result; the overlay shows as many of them as the user asks


@dataclass(frozen=True)
class CategoryScore:
    """One of the top-k labels of a result."""

    index: int
    """Output index in the model."""
    common_name: str
    """Common name (or the label text when the label has none)."""
    scientific_name: str
    """Scientific name; empty when the label has none."""
    score: float
    """Probability, 0-1."""


@dataclass(frozen=True)
class FrameResult:
    """What the model said about one frame, tagged with that frame's number and capture time."""

    frame_index: int
    """Index of the classified frame (`Frame.index`)."""
    t_capture: float
    """time.monotonic() when that frame was captured."""
    t_done: float
    """time.monotonic() when classification finished."""
    inference_ms: float
    """Preprocess + invoke + postprocess time of this frame."""
    probabilities: np.ndarray
    """float32 vector over all outputs (a copy owned by this result)."""
    top: tuple[CategoryScore, ...]
    """The classifier's top-k, best first."""
    is_bird: bool
    """The classifier's own verdict (threshold and background class)."""
    labels: tuple
    """The labels of the model that produced this result (one per output)."""
    background_index: int | None
    """The model's non-bird output, if it has one."""
    model_path: Path
    """The model file that produced this result."""


class Classifying(Protocol):
    """What the worker needs of a classifier: `birdcam.engine.Classifier` or a test double."""

    labels: tuple
    background_index: int | None
    model_path: Path

    def classify(self, frame_bgr: np.ndarray) -> Any: ...

    def close(self) -> None: ...


def to_frame_result(frame, result, classifier: Classifying, t_done: float) -> FrameResult:
    """Copies what the window needs out of an engine `Result`."""
    top = tuple(
        CategoryScore(c.index, c.common_name or c.label, c.scientific_name or "", float(c.score))
        for c in result.categories
    )
    return FrameResult(
        frame_index=frame.index,
        t_capture=frame.t_capture,
        t_done=t_done,
        inference_ms=float(result.timings.total_ms),
        probabilities=np.array(result.probabilities, dtype=np.float32, copy=True),
        top=top,
        is_bird=bool(result.is_bird),
        labels=tuple(classifier.labels),
        background_index=classifier.background_index,
        model_path=Path(classifier.model_path),
    )


class InferenceWorker(QObject):
    """Classifies the newest frame, over and over, on the QThread it is moved to."""

    result_ready = Signal(object)
    """A `FrameResult`."""
    error = Signal(str)
    """One line: a frame could not be classified (the worker carries on)."""

    def __init__(self, frames: LatestFrame, classifier: Classifying | None = None):
        super().__init__()
        self._frames = frames
        self._lock = threading.Lock()
        self._classifier = classifier
        self._pending: Classifying | None = None
        self._stop = threading.Event()
        self._paused = threading.Event()
        self.classified = 0
        """Frames classified so far (read from any thread; only the worker writes it)."""

    def set_classifier(self, classifier: Classifying) -> None:
        """Switches models after the current frame; the worker closes the old one on its own thread."""
        with self._lock:
            replaced, self._pending = self._pending, classifier
        if replaced is not None:
            replaced.close()

    def set_paused(self, paused: bool) -> None:
        """While paused, frames are left alone (the window shows a frozen frame)."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def stop(self) -> None:
        """Asks the loop to end after the current frame (any thread)."""
        self._stop.set()

    @Slot()
    def run(self) -> None:
        """The loop; connected to its thread's `started`. Returns when stopped or the frames are closed."""
        last_index = -1
        try:
            while not self._stop.is_set():
                if self._paused.is_set():
                    time.sleep(_POLL_S)
                    continue
                frame = self._frames.get(timeout=_POLL_S, newer_than=last_index)
                if frame is None:
                    continue
                last_index = frame.index
                classifier = self._take_classifier()  # after the wait: a switch applies to this frame
                if classifier is not None:
                    self._classify(classifier, frame)
        finally:
            self._close_classifiers()

    def _classify(self, classifier: Classifying, frame) -> None:
        try:
            result = classifier.classify(frame.image)
            payload = to_frame_result(frame, result, classifier, time.monotonic())
        except Exception as error:  # a model failing on one frame must not end the loop
            self.error.emit(f"could not classify frame {frame.index}: {first_line(error)}")
            return
        self.classified += 1
        self.result_ready.emit(payload)

    def _take_classifier(self) -> Classifying | None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            old, self._classifier = self._classifier, pending
            if old is not None:
                old.close()
        return self._classifier

    def _close_classifiers(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        for classifier in (self._classifier, pending):
            if classifier is not None:
                classifier.close()
        self._classifier = None


@dataclass(frozen=True)
class ModelRequest:
    """A model the user asked for."""

    model: str | None
    """Path given by the user; None: the default (`model_store.resolve_model`)."""


ClassifierFactory = Callable[[ModelRequest], Classifying]


def load_classifier(request: ModelRequest) -> Classifying:
    """Resolves and opens the requested model with LiteRT (the engine runs it once, so a broken model fails here)."""
    from birdcam.engine import Classifier
    from birdcam.model_store import resolve_model

    resolved = resolve_model(request.model)
    return Classifier.from_path(resolved.path, labels_path=resolved.labels_path, num_threads=2, top_k=TOP_K)


class ModelLoader(QObject):
    """Opens models on its own QThread so the window never waits for a load."""

    loaded = Signal(object, object)
    """(ModelRequest, classifier) — the classifier is ready to hand to the worker."""
    failed = Signal(object, str)
    """(ModelRequest, one-line message)."""
    requested = Signal(object)
    """Emit a ModelRequest (from any thread) to load it on the loader's thread."""
    progress = Signal(str)
    """One line about a first-run download of the starter model, e.g. "Downloading the starter model: 40%"."""

    def __init__(self, factory: ClassifierFactory = load_classifier):
        super().__init__()
        self._factory = factory
        self.requested.connect(self.load)

    @Slot(object)
    def load(self, request: ModelRequest) -> None:
        try:
            if request.model is None:
                self._fetch_default_model()
            classifier = self._factory(request)
        except BirdcamError as error:
            self.failed.emit(request, str(error))
            return
        except Exception as error:  # a user's file can break the loader in any way: report, never crash
            name = Path(request.model).name if request.model else "the model"
            self.failed.emit(request, f"cannot load {name} ({first_line(error)}); pick another model")
            return
        self.loaded.emit(request, classifier)

    def _fetch_default_model(self) -> None:
        """Resolves the default model here first, so a first-run download reports its progress."""
        from birdcam.model_store import resolve_model

        last_percent = -1

        def report(done: int, total: int | None) -> None:
            nonlocal last_percent
            percent = done * 100 // total if total else -1
            if percent != last_percent:
                last_percent = percent
                amount = f"{percent}%" if total else f"{done / 1e6:.1f} MB"
                self.progress.emit(f"Downloading the starter model: {amount}")

        resolve_model(None, progress=report)


def start_in_thread(obj: QObject, name: str, run: Callable[[], None] | None = None) -> QThread:
    """Moves `obj` to a new named QThread and starts it; `run` (a slot of obj) is called there first."""
    thread = QThread()
    thread.setObjectName(name)
    obj.moveToThread(thread)
    if run is not None:
        thread.started.connect(run)
    thread.start()
    return thread
