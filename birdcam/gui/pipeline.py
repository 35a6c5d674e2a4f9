"""The window's adapter over the Qt-free live pipeline (birdcam/live.py): callbacks become Qt signals.

The capture thread puts every frame in one `LatestFrame`; the GUI thread shows the newest one with
the newest result. At most one "a frame arrived" notice is ever waiting in Qt's event queue, so
nothing queues frames anywhere. Models load and run in the inference process: the GUI thread
never calls into LiteRT and never waits for a model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from birdcam.errors import ModelError
from birdcam.gui.screen import QtScreenGrabber
from birdcam.live.inference import InferenceOptions, LiveSettings, ModelInfo, SceneFactory, build_scene_pass
from birdcam.live.pipeline import LivePipeline, LiveResult, LiveStats, ModelRequest
from birdcam.live.sources import Frame
from birdcam.scene.smoothing import SmoothingOptions


@dataclass(frozen=True)
class DisplayFrame:
    """A frame to show now, with the newest result."""

    frame: Frame
    """The newest captured frame."""
    result: LiveResult | None
    """The newest result of the current source and model, if it is of this frame's shot; else None."""
    t_shown: float
    """time.monotonic() when the frame was handed to the display."""
    stats: LiveStats
    """Speed figures at that moment."""


class Pipeline(QObject):
    """Owns the live pipeline; lives on the GUI thread and emits everything there."""

    frame_shown = Signal(object)
    """A `DisplayFrame`, once per displayed frame."""
    result_ready = Signal(object)
    """A `LiveResult` of the current source and model."""
    model_ready = Signal(object, object)
    """(ModelInfo of the models now running, the ModelRequest that loaded them)."""
    model_failed = Signal(object, object)
    """(ModelError, ModelRequest): a request could not be loaded (the previous models keep running; a DetectorError
    when the detector failed), or (ModelError, None): the running models were given up."""
    model_progress = Signal(str)
    """One line while the starter model downloads on first run."""
    source_status = Signal(str, str)
    """(kind, message): started / retrying / recovered / ended / error."""
    inference_error = Signal(str)
    """One line: a frame could not be classified, or the inference process was restarted."""
    _frame_arrived = Signal()
    _result_arrived = Signal(object)
    _model_loaded = Signal(object, object)
    _model_failed = Signal(object, object)

    def __init__(
        self,
        *,
        settings: LiveSettings = LiveSettings(),
        qt_screen: bool = False,
        options: InferenceOptions = InferenceOptions(),
        factory: SceneFactory = build_scene_pass,
    ):
        """`qt_screen`: grab screen regions with Qt (needs a QGuiApplication); else sources' own fallback."""
        super().__init__()
        self._notice_lock = threading.Lock()
        self._notice_pending = False
        self._last_shown = -1
        self._paused = False
        self._result: LiveResult | None = None
        self.info: ModelInfo | None = None
        """The models running now (None before the first load)."""
        self.frames_shown = 0
        """Frames handed to the display so far."""
        self.results = 0
        """Results received so far."""
        self._frame_arrived.connect(self._show_newest)
        self._result_arrived.connect(self._on_result)
        self._model_loaded.connect(self._on_model_loaded)
        self._model_failed.connect(self._on_model_failed)
        self._live = LivePipeline(
            on_result=self._result_arrived.emit,
            on_status=self.source_status.emit,
            on_model_ready=self._model_loaded.emit,
            on_model_failed=self._model_failed.emit,
            on_model_progress=self.model_progress.emit,
            on_error=self.inference_error.emit,
            on_frame=self._on_frame,
            settings=settings,
            options=options,
            screen_grabber=QtScreenGrabber() if qt_screen else None,
            factory=factory,
        )

    # -- sources ---------------------------------------------------------------------------

    def start_source(self, spec: str, *, realtime: bool = True, loop: bool = True) -> bool:
        """Stops the current source and starts `spec`; False (and an "error" status) if it cannot be made."""
        self._result = None  # a new scene: nothing said about the old one carries over
        return self._live.start_source(spec, realtime=realtime, loop=loop)

    def stop_source(self) -> None:
        self._live.stop_source()

    @property
    def frames_captured(self) -> int:
        """Frames captured from every source so far."""
        return self._live.feed.frames_captured

    @property
    def capture_running(self) -> bool:
        return self._live.feed.running

    def _on_frame(self, frame: Frame) -> None:
        """Capture thread: unless a notice is already waiting, post one."""
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
        frame = self._live.feed.frames.get(timeout=0, newer_than=self._last_shown)
        if frame is None:
            return
        self._last_shown = frame.index
        self.frames_shown += 1
        self.frame_shown.emit(
            DisplayFrame(frame, self.shown_with(frame.index, self._result), time.monotonic(), self.stats())
        )

    # -- models ----------------------------------------------------------------------------

    def load_model(self, model: str | None, detector: str | None = None) -> ModelRequest:
        """Loads a model and detector ("none": whole-frame mode; None: the default detector) in a new inference
        process; the running one goes on until it is ready. Returns the request (a newer one supersedes it)."""
        return self._live.load_model(model, detector)

    @property
    def model_loading(self) -> bool:
        """A load is in progress (the old model, if any, still runs)."""
        return self._live.loader.loading

    @property
    def model_path(self) -> Path | None:
        return Path(self.info.model_path) if self.info is not None else None

    @Slot(object, object)
    def _on_model_loaded(self, info: ModelInfo, request: ModelRequest) -> None:
        self.info = info
        self.model_ready.emit(info, request)

    @Slot(object, object)
    def _on_model_failed(self, error: ModelError, request: ModelRequest | None) -> None:
        if request is None:
            self.info = None  # given up: nothing runs
        self.model_failed.emit(error, request)

    # -- results ---------------------------------------------------------------------------

    @Slot(object)
    def _on_result(self, result: LiveResult) -> None:
        if self._paused or result.frame_index < self._live.feed.first_index:  # late news of a replaced source
            return
        self._result = result
        self.results += 1
        self.result_ready.emit(result)

    @property
    def result(self) -> LiveResult | None:
        """The newest result of the current source."""
        return self._result

    def shown_with(self, frame_index: int, result: LiveResult | None) -> LiveResult | None:
        """The result to draw over this frame: None when it is of another shot (a cut came between them)."""
        return self._live.feed.shown_with(frame_index, result)

    # -- settings --------------------------------------------------------------------------

    @property
    def settings(self) -> LiveSettings:
        return self._live.settings

    def configure(self, settings: LiveSettings) -> None:
        """New threshold / smoothing, applied from the next frame the model sees."""
        self._live.configure(settings)

    @property
    def threshold(self) -> float:
        """The threshold in use: the user's, else the running model's, else the default."""
        if self.settings.threshold is not None:
            return self.settings.threshold
        if self.info is not None:
            return self.info.threshold
        return SmoothingOptions().threshold

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Freezes the display on the current frame and stops classifying."""
        self._paused = paused
        self._live.set_paused(paused)

    @property
    def classified(self) -> int:
        return self._live.driver.classified

    def stats(self) -> LiveStats:
        return self._live.stats()

    def close(self, timeout: float = 1.0) -> None:
        """Stops and joins every thread and ends the inference process within `timeout` seconds."""
        self._live.close(timeout)
