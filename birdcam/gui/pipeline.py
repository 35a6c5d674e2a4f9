"""The live pipeline shared by the window and headless mode: source -> capture -> worker -> smoothing -> display.

The capture thread puts every frame in one `LatestFrame`. The worker thread classifies the newest
one; the GUI thread shows the newest one with the newest smoothed result. At most one "a frame
arrived" notice is ever waiting in Qt's event queue, so nothing queues frames anywhere.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from birdcam.capture import CaptureThread, LatestFrame
from birdcam.errors import SourceError
from birdcam.gui.worker import (
    ClassifierFactory,
    FrameResult,
    InferenceWorker,
    ModelLoader,
    ModelRequest,
    load_classifier,
    start_in_thread,
)
from birdcam.gui.screen import QtScreenGrabber
from birdcam.smoothing import LabelSmoother, Shown, SmoothingOptions
from birdcam.sources import Frame, open_source

_RATE_WINDOW = 30  # results over which the inference rate is measured


@dataclass(frozen=True)
class PipelineStats:
    """Speed figures shown in the overlay's corner and the status bar."""

    capture_fps: float
    """Frames per second the source delivers."""
    inference_fps: float
    """Frames per second the model classifies."""
    latency_ms: float | None
    """Capture to result time of the newest result; None before the first."""

    def text(self) -> str:
        latency = f"{self.latency_ms:.0f} ms" if self.latency_ms is not None else "- ms"
        return f"capture {self.capture_fps:.1f} fps \u00b7 model {self.inference_fps:.1f} fps \u00b7 {latency}"


@dataclass(frozen=True)
class DisplayFrame:
    """A frame to show now, with the newest result and the label to show for it."""

    frame: Frame
    """The newest captured frame."""
    shown: Shown | None
    """The smoothed label; None until the current model has classified a frame."""
    result: FrameResult | None
    """The newest raw result (`result.frame_index` is the frame it came from)."""
    t_shown: float
    """time.monotonic() when the frame was handed to the display."""
    stats: PipelineStats
    """Speed figures at that moment."""


class Pipeline(QObject):
    """Owns the capture thread, the worker thread, the loader thread and the smoother. Lives on the GUI thread."""

    frame_shown = Signal(object)
    """A `DisplayFrame`, once per displayed frame (on the GUI thread)."""
    result_ready = Signal(object, object)
    """(FrameResult, Shown) for each classified frame, after smoothing."""
    model_ready = Signal(str, str)
    """(path of the model now running, the model the user asked for: "" for the default)."""
    model_failed = Signal(str)
    """One line: a model could not be loaded; the previous one keeps running."""
    model_progress = Signal(str)
    """One line while the starter model downloads on first run."""
    source_status = Signal(str, str)
    """(kind, message): started / retrying / recovered / ended / error."""
    worker_error = Signal(str)
    """One line: a frame could not be classified."""
    _frame_arrived = Signal()
    _capture_status = Signal(object, str, str)

    def __init__(self, *, smoothing: SmoothingOptions = SmoothingOptions(), threshold: float | None = None,
                 qt_screen: bool = False, factory: ClassifierFactory = load_classifier):
        """`qt_screen`: grab screen regions with Qt (needs a QGuiApplication); else sources' own fallback."""
        super().__init__()
        self._frames = LatestFrame()
        self._notice_lock = threading.Lock()
        self._notice_pending = False
        self._capture: CaptureThread | None = None
        self._screen_grabber = QtScreenGrabber() if qt_screen else None
        self._index_base = 0
        self._source_first_index = 0
        self._last_shown = -1
        self._paused = False
        self._smoothing = smoothing
        self._threshold = threshold
        self._smoother: LabelSmoother | None = None
        self._smoother_labels: tuple | None = None
        self._smoother_background: int | None = None
        self._model_threshold: float | None = None
        self._shown: Shown | None = None
        self._result: FrameResult | None = None
        self._result_times: deque[float] = deque(maxlen=_RATE_WINDOW)
        self.model_path: Path | None = None
        """The model now running (None before the first load)."""
        self.model_loading = False
        """A load is in progress (the old model, if any, still runs)."""
        self.frames_shown = 0
        """Frames handed to the display so far."""
        self.results = 0
        """Results received so far."""

        self._frame_arrived.connect(self._show_newest)
        self._capture_status.connect(self._on_capture_status)
        self._worker = InferenceWorker(self._frames)
        self._worker.result_ready.connect(self._on_result)
        self._worker.error.connect(self.worker_error)
        self._worker_thread = start_in_thread(self._worker, "birdcam inference", self._worker.run)
        self._loader = ModelLoader(factory)
        self._loader.loaded.connect(self._on_model_loaded)
        self._loader.failed.connect(self._on_model_failed)
        self._loader.progress.connect(self.model_progress)
        self._loader_thread = start_in_thread(self._loader, "birdcam model loader")

    # -- sources ---------------------------------------------------------------------------

    def start_source(self, spec: str, *, realtime: bool = True, loop: bool = True) -> bool:
        """Stops the current source and starts `spec`; False (and an "error" status) if it cannot be made."""
        self.stop_source()
        self._shown = self._result = None  # a new scene: nothing said about the old one carries over
        self._source_first_index = self._index_base
        if self._smoother is not None:
            self._smoother.reset()
        try:
            source = open_source(spec, realtime=realtime, loop=loop, screen_grabber=self._screen_grabber)
        except SourceError as error:
            self.source_status.emit("error", str(error))
            return False
        capture = CaptureThread(
            source,
            lambda frame: self._on_frame(capture, frame),
            lambda kind, message: self._capture_status.emit(capture, kind, message),
        )
        self._capture = capture
        capture.start()
        return True

    def stop_source(self, timeout: float = 0.5) -> None:
        """Stops and joins the capture thread; later frames get higher numbers than any shown so far."""
        if self._capture is None:
            return
        capture, self._capture = self._capture, None
        if self._screen_grabber is not None:
            self._screen_grabber.interrupt()  # it may be waiting for this thread
        capture.stop(timeout)
        if self._screen_grabber is not None:
            self._screen_grabber.resume()
        self._index_base += capture.frames

    @property
    def source_description(self) -> str:
        return self._capture.source.description if self._capture is not None else ""

    @property
    def frames_captured(self) -> int:
        """Frames captured from every source so far."""
        return self._index_base + (self._capture.frames if self._capture is not None else 0)

    @property
    def capture_running(self) -> bool:
        return self._capture is not None and self._capture.is_alive()

    @Slot(object, str, str)
    def _on_capture_status(self, capture: CaptureThread, kind: str, message: str) -> None:
        if capture is self._capture:  # a source that was replaced has nothing more to say
            self.source_status.emit(kind, message)

    def _on_frame(self, capture: CaptureThread, frame: Frame) -> None:
        """Capture thread: publish the frame and, unless one is already waiting, post one notice."""
        if capture is not self._capture:
            return
        if self._index_base:
            frame = dataclasses.replace(frame, index=self._index_base + frame.index)
        self._frames.put(frame)
        with self._notice_lock:
            if self._notice_pending:
                return
            self._notice_pending = True
        self._frame_arrived.emit()

    @Slot()
    def _show_newest(self) -> None:
        with self._notice_lock:
            self._notice_pending = False
        if self._paused:
            return
        frame = self._frames.get(timeout=0, newer_than=self._last_shown)
        if frame is None:
            return
        self._last_shown = frame.index
        self.frames_shown += 1
        self.frame_shown.emit(DisplayFrame(frame, self._shown, self._result, time.monotonic(), self.stats()))

    # -- models ----------------------------------------------------------------------------

    def load_model(self, model: str | None) -> None:
        """Loads a model on the loader thread; the running one goes on until it is ready."""
        self.model_loading = True
        self._loader.requested.emit(ModelRequest(model))

    @Slot(object, object)
    def _on_model_loaded(self, request: ModelRequest, classifier) -> None:
        self.model_loading = False
        self._model_threshold = float(classifier.threshold)
        self.model_path = Path(classifier.model_path)
        self._worker.set_classifier(classifier)
        self.model_ready.emit(str(self.model_path), request.model or "")

    @Slot(object, str)
    def _on_model_failed(self, request: ModelRequest, message: str) -> None:
        self.model_loading = False
        self.model_failed.emit(message)

    # -- results ---------------------------------------------------------------------------

    @Slot(object)
    def _on_result(self, result: FrameResult) -> None:
        if self._paused or result.frame_index < self._source_first_index:  # late news of a replaced source
            return
        if result.labels is not self._smoother_labels:
            self._smoother_labels, self._smoother_background = result.labels, result.background_index
            self._smoother = self._new_smoother()
        self._shown = self._smoother.update(result.probabilities, result.t_capture)
        self._result = result
        self.results += 1
        self._result_times.append(result.t_done)
        self.result_ready.emit(result, self._shown)

    def _new_smoother(self) -> LabelSmoother | None:
        if self._smoother_labels is None:
            return None
        options = dataclasses.replace(self._smoothing, threshold=self.threshold)
        return LabelSmoother(self._smoother_labels, self._smoother_background, options)

    @property
    def threshold(self) -> float:
        """The no-bird threshold in use: the user's, else the model's (its card's), else the smoothing default."""
        if self._threshold is not None:
            return self._threshold
        if self._model_threshold is not None:
            return self._model_threshold
        return SmoothingOptions().threshold

    def set_threshold(self, threshold: float | None) -> None:
        """None: the model's own threshold."""
        self._threshold = threshold
        self._reset_smoother()

    @property
    def smoothing(self) -> SmoothingOptions:
        return self._smoothing

    def set_smoothing(self, options: SmoothingOptions) -> None:
        self._smoothing = options
        self._reset_smoother()

    def _reset_smoother(self) -> None:
        self._smoother = self._new_smoother()
        if self._smoother is not None and self._result is not None:
            self._shown = self._smoother.update(self._result.probabilities, self._result.t_capture)

    # -- state -----------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Freezes the display on the current frame and stops classifying."""
        self._paused = paused
        self._worker.set_paused(paused)

    @property
    def classified(self) -> int:
        return self._worker.classified

    def stats(self) -> PipelineStats:
        times = tuple(self._result_times)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        latency = (self._result.t_done - self._result.t_capture) * 1e3 if self._result is not None else None
        capture_fps = self._capture.capture_fps if self._capture is not None else 0.0
        return PipelineStats(capture_fps, rate, latency)

    def close(self, timeout: float = 1.0) -> None:
        """Stops and joins every thread, within `timeout` seconds when the model is not mid-load."""
        deadline = time.monotonic() + timeout
        self.stop_source(timeout * 0.5)
        self._worker.stop()
        self._frames.close()
        self._worker_thread.quit()
        self._loader_thread.quit()
        for thread in (self._worker_thread, self._loader_thread):
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            if not thread.wait(remaining_ms):
                thread.wait()  # a load cannot be interrupted; never destroy a running QThread
