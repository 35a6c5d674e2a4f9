"""The live pipeline, Qt-free: source -> capture -> inference process -> results, shared by the window and headless
mode.

Threads: the capture thread puts every frame into a one-slot `LatestFrame`; the inference driver
thread sends the newest one to the inference process and waits (GIL released) for its answer; the
loader thread starts a new inference process for a model switch while the old one keeps serving.
Every outcome leaves through a callback, called on the thread where it happened; the window's
adapter (birdcam/gui/pipeline.py) turns them into Qt signals, headless mode handles them directly.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from birdcam.errors import BirdcamError, ModelError, SourceError
from birdcam.live.capture import CaptureThread, LatestFrame
from birdcam.live.inference import (
    InferenceOptions,
    InferenceProcess,
    LiveSettings,
    LoadCancelled,
    ModelCrashed,
    ModelHung,
    ModelInfo,
    SceneFactory,
    build_scene_pass,
)
from birdcam.live.sources import Frame, ScreenGrabber, open_source
from birdcam.scene.cuts import CutDetector
from birdcam.scene.scene_pass import SceneResult

_POLL_S = 0.05  # how often a waiting thread looks at its stop flag
_RATE_WINDOW = 30  # results over which the inference rate is measured
_SHOT_STARTS_KEPT = 256  # cuts remembered: far more than a result can lag behind its frame
RESTARTS_ALLOWED = 3
"""A crashed or hung inference process is restarted this often per RESTART_WINDOW_S before the model is given up."""
RESTART_WINDOW_S = 60.0


@dataclass(frozen=True)
class LiveResult:
    """The scene pass's answer for one frame, tagged with that frame."""

    frame_index: int
    """Index of the frame it describes (`Frame.index`)."""
    t_capture: float
    """time.monotonic() when that frame was captured."""
    t_done: float
    """time.monotonic() when the answer arrived from the inference process."""
    scene: SceneResult
    """The birds, the whole-frame label and the timings."""
    info: ModelInfo
    """The models that produced it (labels for the runners-up)."""
    image: np.ndarray
    """The frame it describes (the captured array itself, not a copy: read it, never change it)."""


@dataclass(frozen=True)
class ModelRequest:
    """A model the user asked for; newer requests win."""

    model: str | None
    """A .tflite path; None: the default model."""
    detector: str | None
    """A detector .tflite; "none": whole-frame mode; None: the default detector."""
    generation: int
    """Counts requests: a load whose generation is no longer the newest is abandoned."""


class Shots:
    """Where the source's shots begin, told on the capture thread from every frame (a cut: most of a thumbnail
    changed at once), so that a result is drawn only over frames of the shot it describes. Results come a few
    frames late: after a cut, the old birds' boxes must not stay on the new picture."""

    def __init__(self) -> None:
        self._cuts = CutDetector()
        self._lock = threading.Lock()
        self._starts: deque[int] = deque(maxlen=_SHOT_STARTS_KEPT)

    def reset(self) -> None:
        """A new source: its first frame starts a shot."""
        with self._lock:
            self._cuts.reset()

    def note(self, frame: Frame) -> None:
        """Capture thread: takes each frame in order."""
        if self._cuts.changed(frame.image, frame.t_capture):
            with self._lock:
                self._starts.append(frame.index)

    def same_shot(self, first: int, second: int) -> bool:
        """No cut came between these two frames (by index)."""
        low, high = min(first, second), max(first, second)
        with self._lock:
            return not any(low < start <= high for start in self._starts)


class SourceFeed:
    """The current source's capture thread and the newest frame; frame numbers keep rising across sources.

    `on_status(kind, message)` (started / retrying / recovered / ended / error) and `on_frame(frame)` are
    called on the capture thread, and only for the current source: a replaced one has nothing more to say.
    """

    def __init__(
        self,
        *,
        on_status: Callable[[str, str], None],
        on_frame: Callable[[Frame], None] | None = None,
        screen_grabber: ScreenGrabber | None = None,
    ):
        self.frames = LatestFrame()
        self._on_status = on_status
        self._on_frame = on_frame
        self._screen_grabber = screen_grabber
        self._capture: CaptureThread | None = None
        self._index_base = 0
        self.first_index = 0
        """Index of the current source's first frame: results of older frames belong to a replaced source."""
        self.shots = Shots()
        """Where the shots of the source begin."""

    def start(self, spec: str, *, realtime: bool = True, loop: bool = True) -> bool:
        """Stops the current source and starts `spec`; False (and an "error" status) if it cannot be made."""
        self.stop()
        self.first_index = self._index_base
        self.shots.reset()
        try:
            source = open_source(spec, realtime=realtime, loop=loop, screen_grabber=self._screen_grabber)
        except SourceError as error:
            self._on_status("error", str(error))
            return False
        capture = CaptureThread(
            source,
            lambda frame: self._publish(capture, frame),
            lambda kind, message: self._status(capture, kind, message),
        )
        self._capture = capture
        capture.start()
        return True

    def stop(self, timeout: float = 0.5) -> None:
        """Stops and joins the capture thread."""
        if self._capture is None:
            return
        capture, self._capture = self._capture, None
        interrupt = getattr(self._screen_grabber, "interrupt", None)
        if interrupt is not None:
            interrupt()  # it may be waiting for the GUI thread, which may be the one waiting here
        capture.stop(timeout)
        resume = getattr(self._screen_grabber, "resume", None)
        if resume is not None:
            resume()
        self._index_base += capture.frames

    def close(self) -> None:
        self.stop()
        self.frames.close()

    @property
    def frames_captured(self) -> int:
        """Frames captured from every source so far."""
        return self._index_base + (self._capture.frames if self._capture is not None else 0)

    @property
    def capture_fps(self) -> float:
        return self._capture.capture_fps if self._capture is not None else 0.0

    @property
    def running(self) -> bool:
        return self._capture is not None and self._capture.is_alive()

    @property
    def description(self) -> str:
        return self._capture.source.description if self._capture is not None else ""

    def _publish(self, capture: CaptureThread, frame: Frame) -> None:
        if capture is not self._capture:
            return
        if self._index_base:
            frame = dataclasses.replace(frame, index=self._index_base + frame.index)
        self.shots.note(frame)
        self.frames.put(frame)
        if self._on_frame is not None:
            self._on_frame(frame)

    def _status(self, capture: CaptureThread, kind: str, message: str) -> None:
        if capture is self._capture:
            self._on_status(kind, message)

    def shown_with(self, frame_index: int, result: LiveResult | None) -> LiveResult | None:
        """The result to draw over this frame: None when it describes a frame of another shot or source (show
        nothing until a result of the new shot arrives)."""
        if result is None or result.frame_index < self.first_index:
            return None
        return result if self.shots.same_shot(frame_index, result.frame_index) else None


class InferenceDriver:
    """Sends the newest frame to the inference process, over and over, on the thread that calls run().

    A model switch (`set_process`) applies from the next frame; the old process is closed on the
    driver's thread. A process that crashes or hangs is restarted with the same model
    (RESTARTS_ALLOWED times per RESTART_WINDOW_S), after which the model is given up with `on_failed`.
    """

    def __init__(
        self,
        frames: LatestFrame,
        *,
        on_result: Callable[[LiveResult], None],
        on_error: Callable[[str], None],
        on_failed: Callable[[str], None],
        first_index: Callable[[], int] = lambda: 0,
    ):
        self._frames = frames
        self._on_result = on_result
        self._on_error = on_error
        self._on_failed = on_failed
        self._first_index = first_index
        self._lock = threading.Lock()
        self._process: InferenceProcess | None = None
        self._pending: InferenceProcess | None = None
        self._settings: LiveSettings | None = None
        self._settings_changed = False
        self._reset = False
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._crashes: deque[float] = deque()
        self.classified = 0
        """Frames the scene pass finished (read from any thread; only the driver writes it)."""

    def set_process(self, process: InferenceProcess) -> None:
        """Switches to a loaded process from the next frame (any thread)."""
        with self._lock:
            replaced, self._pending = self._pending, process
        if replaced is not None:
            replaced.close()

    def configure(self, settings: LiveSettings) -> None:
        """New settings for the running process and any restart of it (any thread)."""
        with self._lock:
            self._settings, self._settings_changed = settings, True

    def reset_scene(self) -> None:
        """The next frame starts a new scene (a new source): tracks and smoothing start over."""
        self._reset = True

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The loop. Returns when stopped or the frames are closed; closes every process it holds."""
        last_index = -1
        try:
            while not self._stop.is_set():
                if self._paused.is_set():
                    self._stop.wait(_POLL_S)
                    continue
                frame = self._frames.get(timeout=_POLL_S, newer_than=last_index)
                if frame is None:
                    if self._frames.closed:
                        return
                    continue
                last_index = frame.index
                process = self._current_process()  # after the wait: a switch applies to this frame
                if process is not None and frame.index >= self._first_index():
                    self._infer(process, frame)
        finally:
            with self._lock:
                processes, self._process, self._pending = (self._process, self._pending), None, None
            for process in processes:
                if process is not None:
                    process.close(timeout=0.3)

    def _current_process(self) -> InferenceProcess | None:
        with self._lock:
            pending, self._pending = self._pending, None
            settings, changed = self._settings, self._settings_changed
            self._settings_changed = False
        if pending is not None:
            old, self._process = self._process, pending
            if old is not None:
                old.close()
            self._crashes.clear()
            changed = settings is not None
            self._reset = True
        process = self._process
        if process is not None and changed and settings is not None:
            try:
                process.configure(settings)
            except ModelError:
                pass  # a dead process shows up, and is restarted, on the next frame
        return process

    def _infer(self, process: InferenceProcess, frame: Frame) -> None:
        if self._reset:
            self._reset = False
            process.reset()
        try:
            scene = process.process(frame.image, frame.t_capture)
        except (ModelCrashed, ModelHung) as error:
            self._restart(process, str(error))
            return
        except BirdcamError as error:  # one frame failed; the process carries on
            self._on_error(str(error))
            return
        self.classified += 1
        assert process.info is not None  # process() answers only once the models are loaded
        self._on_result(LiveResult(frame.index, frame.t_capture, time.monotonic(), scene, process.info, frame.image))

    def _restart(self, crashed: InferenceProcess, reason: str) -> None:
        """Starts the same model again in a new process, unless it keeps failing or a switch came meanwhile."""
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > RESTART_WINDOW_S:
            self._crashes.popleft()
        with self._lock:
            if self._process is crashed:
                self._process = None
            settings = self._settings
        if len(self._crashes) > RESTARTS_ALLOWED:
            self._on_failed(
                f"{reason} {len(self._crashes)} times within {RESTART_WINDOW_S:g} s; "
                "it was stopped: choose another model"
            )
            return
        self._on_error(f"{reason}; restarting it")
        options = dataclasses.replace(crashed.options, settings=settings)
        process = InferenceProcess(options, factory=crashed.factory)
        try:
            process.wait_ready(cancelled=lambda: self._stop.is_set() or self._pending is not None)
        except LoadCancelled:
            return
        except ModelError as error:
            self._on_failed(f"{reason}, and it could not be started again: {error}")
            return
        with self._lock:
            adopted = self._process is None and self._pending is None
            if adopted:
                self._process = process
                self._reset = True
        if not adopted:
            process.close()


class ModelLoader:
    """Starts a new inference process for each request on its own thread; only the newest request is loaded.

    While a load runs the old process keeps serving. A newer request or close() abandons the load:
    its process is killed at once, nothing waits for it.
    """

    def __init__(
        self,
        options: InferenceOptions,
        *,
        on_loaded: Callable[[ModelRequest, InferenceProcess], None],
        on_failed: Callable[[ModelRequest, ModelError], None],
        on_progress: Callable[[str], None],
        factory: SceneFactory = build_scene_pass,
    ):
        self.options = options
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._on_progress = on_progress
        self._factory = factory
        self._condition = threading.Condition()
        self._request: ModelRequest | None = None
        self._settings: LiveSettings | None = None
        self._generation = 0
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="birdcam model loader", daemon=True)
        self._thread.start()

    def request(
        self, model: str | None, settings: LiveSettings | None = None, *, detector: str | None = None
    ) -> ModelRequest:
        """Asks for a model (None: the default) and detector; returns the request, which a newer one supersedes."""
        with self._condition:
            self._generation += 1
            self._request = ModelRequest(model, detector, self._generation)
            self._settings = settings
            self._condition.notify_all()
            return self._request

    @property
    def loading(self) -> bool:
        """A request is waiting or loading."""
        return self._busy or self._request is not None

    def close(self, timeout: float = 0.5) -> None:
        """Abandons any load (its process is killed) and joins the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout)

    def _superseded(self, request: ModelRequest) -> bool:
        return self._closed or self._generation != request.generation

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._closed or self._request is not None)
                if self._closed:
                    return
                request, self._request = self._request, None
                assert request is not None  # wait_for: a request, or closed
                settings = self._settings
                self._busy = True
            try:
                self._load(request, settings)
            finally:
                self._busy = False

    def _load(self, request: ModelRequest, settings: LiveSettings | None) -> None:
        options = dataclasses.replace(self.options, model=request.model, detector=request.detector, settings=settings)
        try:
            process = InferenceProcess(options, factory=self._factory)
        except OSError as error:
            self._on_failed(
                request, ModelError(f"cannot start the inference process ({error}); close other programs and retry")
            )
            return
        try:
            process.wait_ready(cancelled=lambda: self._superseded(request), progress=self._on_progress)
        except LoadCancelled:
            return
        except ModelError as error:
            if not self._superseded(request):
                self._on_failed(request, error)
            return
        if self._superseded(request):
            process.close()
            return
        self._on_loaded(request, process)


@dataclass(frozen=True)
class LiveStats:
    """Speed figures for the overlay's corner and the status bar."""

    capture_fps: float
    """Frames per second the source delivers."""
    inference_fps: float
    """Frames per second the scene pass finishes."""
    latency_ms: float | None
    """Capture to result time of the newest result; None before the first."""

    def text(self) -> str:
        latency = f"{self.latency_ms:.0f} ms" if self.latency_ms is not None else "- ms"
        return f"capture {self.capture_fps:.1f} fps \u00b7 model {self.inference_fps:.1f} fps \u00b7 {latency}"


class RateMeter:
    """Results per second over the last few results, and the newest one's latency."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=_RATE_WINDOW)
        self.latency_ms: float | None = None

    def add(self, result: LiveResult) -> None:
        self._times.append(result.t_done)
        self.latency_ms = (result.t_done - result.t_capture) * 1e3

    def clear(self) -> None:
        self._times.clear()
        self.latency_ms = None

    @property
    def rate(self) -> float:
        times = tuple(self._times)
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


class LivePipeline:
    """Source, inference driver and model loader together, with callbacks (headless mode; the window's adapter).

    Callbacks run on the thread where things happen: `on_result(LiveResult)` on the driver thread,
    `on_status(kind, message)` and `on_frame(Frame)` on the capture thread, `on_model_ready(info, request)`,
    `on_model_failed(error, request)` (a DetectorError when the detector failed; request None when the running
    models were given up), `on_model_progress(text)` on the loader thread, `on_error(message)` on the driver
    thread. Nothing here touches Qt.
    """

    def __init__(
        self,
        *,
        on_result: Callable[[LiveResult], None],
        on_status: Callable[[str, str], None],
        on_model_ready: Callable[[ModelInfo, ModelRequest], None],
        on_model_failed: Callable[[ModelError, ModelRequest | None], None],
        on_model_progress: Callable[[str], None] = lambda text: None,
        on_error: Callable[[str], None] = lambda message: None,
        on_frame: Callable[[Frame], None] | None = None,
        settings: LiveSettings = LiveSettings(),
        options: InferenceOptions = InferenceOptions(),
        screen_grabber: ScreenGrabber | None = None,
        factory: SceneFactory = build_scene_pass,
    ):
        self._on_result = on_result
        self._on_model_ready = on_model_ready
        self._on_model_failed = on_model_failed
        self._settings = settings
        self.feed = SourceFeed(on_status=on_status, on_frame=on_frame, screen_grabber=screen_grabber)
        self.rate = RateMeter()
        self.info: ModelInfo | None = None
        """The models running now (None before the first load)."""
        self.driver = InferenceDriver(
            self.feed.frames,
            on_result=self._result,
            on_error=on_error,
            on_failed=self._failed,
            first_index=lambda: self.feed.first_index,
        )
        self.driver.configure(settings)
        self._driver_thread = threading.Thread(target=self.driver.run, name="birdcam inference driver", daemon=True)
        self._driver_thread.start()
        self.loader = ModelLoader(
            options,
            on_loaded=self._loaded,
            on_failed=lambda request, error: on_model_failed(error, request),
            on_progress=on_model_progress,
            factory=factory,
        )

    # -- sources ----------------------------------------------------------------------------

    def start_source(self, spec: str, *, realtime: bool = True, loop: bool = True) -> bool:
        """Switches to another source; the scene starts over."""
        self.driver.reset_scene()
        self.rate.clear()
        return self.feed.start(spec, realtime=realtime, loop=loop)

    def stop_source(self) -> None:
        self.feed.stop()

    # -- models -----------------------------------------------------------------------------

    def load_model(self, model: str | None, detector: str | None = None) -> ModelRequest:
        """Loads a model (and detector: a path, "none", None for the default) in a new process; the running one
        goes on until it is ready. Newest request wins."""
        return self.loader.request(model, self._settings, detector=detector)

    @property
    def settings(self) -> LiveSettings:
        return self._settings

    def configure(self, settings: LiveSettings) -> None:
        """New threshold / smoothing / species lists, from the next frame on."""
        self._settings = settings
        self.driver.configure(settings)

    def set_paused(self, paused: bool) -> None:
        self.driver.set_paused(paused)

    def stats(self) -> LiveStats:
        return LiveStats(self.feed.capture_fps, self.rate.rate, self.rate.latency_ms)

    def close(self, timeout: float = 1.0) -> None:
        """Stops the source, abandons a load, stops the driver (closing its process) and joins every thread."""
        deadline = time.monotonic() + timeout
        self.loader.close(timeout * 0.3)
        self.feed.stop(timeout * 0.3)
        self.driver.stop()
        self.feed.frames.close()
        self._driver_thread.join(max(0.05, deadline - time.monotonic()))

    # -- callbacks ----------------------------------------------------------------------------

    def _result(self, result: LiveResult) -> None:
        if result.frame_index < self.feed.first_index:  # late news of a replaced source
            return
        self.rate.add(result)
        self._on_result(result)

    def _loaded(self, request: ModelRequest, process: InferenceProcess) -> None:
        assert process.info is not None  # the loader hands over loaded processes only
        self.info = process.info
        self.driver.set_process(process)
        self._on_model_ready(process.info, request)

    def _failed(self, message: str) -> None:
        self.info = None
        self._on_model_failed(ModelCrashed(message), None)
