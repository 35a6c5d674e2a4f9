"""`birdcam live --headless`: the window's pipeline without a window (and without Qt), one JSON line per displayed
frame.

The main thread plays the display: it takes the newest frame as the window would and logs it with
the newest result. Visits are recorded exactly as the window records them (same rules, database and
snapshots): the unattended feeder logger. SIGINT and SIGTERM end the run cleanly: every visit is
written and the summary line too.

With `every_frame`, a recording is processed fully instead: every frame of the file goes through
the scene pass in order, as fast as the machine allows, and visits are timed by the video's own
clock (trail-camera and feeder recordings).

Faults that end nothing are said as they happen (`warn`) and listed in the summary's "problems": a
log that can no longer be written (the run goes on recording visits), a file that ends before its
last frame, images of a folder that cannot be read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import SourceError
from birdcam.live.inference import InferenceOptions, InferenceProcess, LiveSettings, SceneFactory, build_scene_pass
from birdcam.live.pipeline import LivePipeline, LiveResult
from birdcam.live.records import bird_record, in_file_pixels
from birdcam.live.sources import open_source
from birdcam.util.fileio import check_output_file, write_error

_POLL_S = 0.05
_DRAIN_S = 3.0  # after a finite source ends, how long the last frame's result may take to arrive
_SCALES_KEPT = 600  # frames whose scale is kept: a result is never older than that


@dataclass(frozen=True)
class HeadlessOptions:
    """What `birdcam live --headless` runs."""

    source: str
    """Source spec: camera:N, a video, an image folder, a URL, screen[:X,Y,W,H]."""
    log_path: Path
    """Where the JSON lines go (one per displayed frame, then the summary)."""
    model: str | None = None
    """Model file; None: the default model."""
    max_frames: int | None = None
    """Stop after this many displayed frames; None: when the source ends (or Ctrl+C / SIGTERM)."""
    realtime: bool = True
    """Pace videos and folders to their frame rate; False: as fast as they decode."""
    every_frame: bool = False
    """Every frame of a video file or image folder through the scene pass in order, as fast as the machine allows;
    visits timed by the video's own clock."""
    loop: bool = False
    """Start a video or folder again at its end."""
    threshold: float | None = None
    """No-bird threshold; None: the model's own."""
    smoothing: bool = True
    """Smooth labels over time (as the window does by default)."""
    still_camera: bool = False
    """The camera does not move (a feeder cam): also search where the picture moves (LiveSettings.still_camera)."""
    allow: tuple[str, ...] | None = None
    """Name only these species (an allow list's names); None: every species the model knows."""
    deny: tuple[str, ...] = ()
    """Never name these species."""
    record: bool = True
    """Record visits in the sightings database, as the window does."""
    sightings_db: Path | None = None
    """The sightings database; None: the one the window uses."""
    notify: bool = False
    """A desktop notice when a species is seen for the first time today or ever."""
    muted: tuple[str, ...] = ()
    """Species that never get a notice."""


def frame_record(
    index: int, t_capture: float, t_shown: float, result: LiveResult | None, scale: tuple[float, float] = (1.0, 1.0)
) -> dict:
    """The JSON line of one displayed frame; the top-level names describe the most confident bird. Boxes are in the
    pixels of the file the result's frame came from (`scale`: see Frame.scale)."""
    scene = in_file_pixels(result.scene, scale) if result is not None else None
    birds = [bird_record(bird) for bird in scene.birds] if scene is not None else []
    top = birds[0] if birds else None
    return {
        "frame": index,
        "t_capture": round(t_capture, 6),
        "t_shown": round(t_shown, 6),
        "result_frame": result.frame_index if result is not None else None,
        "label": top["label"] if top else None,
        "common_name": top["common_name"] if top else None,
        "scientific_name": top["scientific_name"] if top else None,
        "score": top["score"] if top else (round(float(result.scene.whole.score), 4) if result is not None else None),
        "is_bird": top is not None,
        "birds": birds,
        "t_result_capture": round(result.t_capture, 6) if result is not None else None,
    }


def summarize(
    records: list[dict],
    *,
    frames_captured: int,
    result_latencies_ms: list[float],
    duration_s: float,
    source: str,
    model: str,
    stopped_by: str,
) -> dict:
    """Counts, rates, staleness (how many frames / ms the shown result lags the shown frame, per shown frame)
    and result latency (capture of a classified frame to its result reaching the display)."""
    with_result = [r for r in records if r["result_frame"] is not None]
    lag_frames = np.array([r["frame"] - r["result_frame"] for r in with_result], dtype=np.float64)
    lag_ms = np.array([(r["t_capture"] - r["t_result_capture"]) * 1e3 for r in with_result], dtype=np.float64)
    frames_classified = len(result_latencies_ms)

    def percentiles(values: np.ndarray, digits: int) -> dict:
        if values.size == 0:
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {
            "p50": round(float(p50), digits),
            "p95": round(float(p95), digits),
            "p99": round(float(p99), digits),
            "max": round(float(values.max()), digits),
        }

    per_second = (lambda count: round(count / duration_s, 2)) if duration_s > 0 else (lambda count: None)
    return {
        "summary": True,
        "source": source,
        "model": model,
        "stopped_by": stopped_by,
        "duration_s": round(duration_s, 3),
        "frames_captured": frames_captured,
        "frames_shown": len(records),
        "frames_shown_with_result": len(with_result),
        "frames_classified": frames_classified,
        "shown_fraction": round(len(records) / frames_captured, 4) if frames_captured else None,
        "classified_fraction": round(frames_classified / frames_captured, 4) if frames_captured else None,
        "capture_fps": per_second(frames_captured),
        "shown_fps": per_second(len(records)),
        "classified_fps": per_second(frames_classified),
        "staleness_frames": percentiles(lag_frames, 2),
        "staleness_ms": percentiles(lag_ms, 1),
        "result_latency_ms": percentiles(np.array(result_latencies_ms, dtype=np.float64), 1),
    }


class _Events:
    """What the pipeline's threads tell the main thread: the newest result, and everything else in order."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.messages: queue.SimpleQueue = queue.SimpleQueue()
        self.latencies_ms: list[float] = []
        self.recorder = None
        self.problems: list[str] = []
        """What the source said that ended nothing: images it could not read."""
        self._warn = warn
        self._lock = threading.Lock()
        self._result: LiveResult | None = None

    def result(self, result: LiveResult) -> None:
        """Driver thread: keeps the newest result and feeds the visits (cheap: the recorder writes on its own
        thread)."""
        with self._lock:
            self._result = result
            self.latencies_ms.append((time.monotonic() - result.t_capture) * 1e3)
        if self.recorder is not None:
            self.recorder.update(result.scene.birds, time.time(), result.image)

    @property
    def newest(self) -> LiveResult | None:
        with self._lock:
            return self._result

    def handle(self, ended_at: float | None = None) -> float | None:
        """Main thread: the messages so far. A source error or a model failure ends the run with that error; a
        stream that cannot be reached is said at each retry; returns when the source ended ("ended")."""
        while True:
            try:
                kind, first, second = self.messages.get_nowait()
            except queue.Empty:
                return ended_at
            if kind == "failed":
                raise first
            if kind != "status":
                continue
            if first == "error":
                raise SourceError(second)
            if first == "ended" and ended_at is None:
                ended_at = time.monotonic()
            elif first in ("retrying", "recovered"):
                self._warn(second)
            elif first == "notice":
                self._warn(second)
                self.problems.append(second)

    def raise_failure(self) -> None:
        """Raises the first source error or model failure that came (and says what else came)."""
        self.handle()


def run_headless(
    options: HeadlessOptions,
    *,
    factory: SceneFactory = build_scene_pass,
    inference: InferenceOptions = InferenceOptions(),
    warn: Callable[[str], None] = lambda message: None,
) -> dict:
    """Runs until the source ends, max_frames are shown, or SIGINT / SIGTERM; writes the log; returns the summary.

    Raises ModelError / SourceError / SpeciesListError / SightingsError / OutputError (one-line messages) when
    the model, the source, the species lists, the sightings database or the log cannot be used, before the run
    starts where that can be known. `warn` gets one-line warnings as they happen (names the model does not
    know, the sightings database's state, a stream that cannot be reached, new species when notices are on);
    what went wrong without ending the run is also in the summary's "problems".
    """
    if options.every_frame:
        _check_every_frame_source(options.source)
    if options.record:
        from birdcam.sightings import check_recordable

        check_recordable(options.sightings_db)
    log = _LogFile(options.log_path, warn)
    recorder = _recorder(options, warn)
    stop = threading.Event()
    run = _every_frame if options.every_frame else _in_real_time
    try:
        with _stopped_by_signals(stop) as stopped_by, log:
            played = run(
                options, factory=factory, inference=inference, recorder=recorder, log=log, stop=stop, warn=warn
            )
            problems = [*played.problems]  # said as they happened
            cut = _cut_short(options.source, played.frames_read) if stopped_by() == "end" and not options.loop else None
            if cut is not None and (options.max_frames is None or played.frames_read < options.max_frames):
                warn(cut)
                problems.append(cut)
            summary = summarize(
                played.records,
                frames_captured=played.frames_read,
                result_latencies_ms=played.latencies_ms,
                duration_s=played.duration_s,
                source=options.source,
                model=played.model,
                stopped_by=stopped_by(),
            )
            summary["every_frame"] = options.every_frame
            log.write(summary)
            summary["problems"] = [*problems, *log.problems]
    finally:
        if recorder is not None:
            recorder.close()
    return summary


@dataclass
class _Played:
    """What a run did, for its summary."""

    records: list[dict] = dataclasses.field(default_factory=list)
    frames_read: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    duration_s: float = 0.0
    model: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)


def _in_real_time(
    options: HeadlessOptions,
    *,
    factory: SceneFactory,
    inference: InferenceOptions,
    recorder,
    log: _LogFile,
    stop: threading.Event,
    warn: Callable[[str], None],
) -> _Played:
    """The window's pipeline: the newest frame is shown and classified, as the window does."""
    events = _Events(warn)
    events.recorder = recorder
    post = events.messages.put
    pipeline = LivePipeline(
        on_result=events.result,
        on_status=lambda kind, message: post(("status", kind, message)),
        on_model_ready=lambda info, request: post(("ready", info, None)),
        on_model_failed=lambda error, request: post(("failed", error, None)),
        on_error=lambda message: post(("error", message, None)),
        settings=_settings(options),
        options=inference,
        factory=factory,
    )
    played = _Played()
    try:
        info = _wait_for_model(pipeline, options.model, inference.detector, events, stop)
        if info is not None:
            _check_model(info, options, warn)
            if recorder is not None:
                recorder.set_model(info.stem)
        started = time.monotonic()
        if info is not None and pipeline.start_source(options.source, realtime=options.realtime, loop=options.loop):
            _play(pipeline, options, events, stop, played.records, log)
        else:
            events.raise_failure()
        played.duration_s = time.monotonic() - started
        played.frames_read = pipeline.feed.frames_captured
        pipeline.stop_source()
        events.raise_failure()
        played.latencies_ms = events.latencies_ms
        played.model = pipeline.info.model_path if pipeline.info else ""
        played.problems = events.problems
    finally:
        pipeline.close()
    return played


def _every_frame(
    options: HeadlessOptions,
    *,
    factory: SceneFactory,
    inference: InferenceOptions,
    recorder,
    log: _LogFile,
    stop: threading.Event,
    warn: Callable[[str], None],
) -> _Played:
    """Every frame of the file through the scene pass in order, timed by the video's own clock."""
    played = _Played()
    source = open_source(options.source, realtime=False, loop=False, seconds_per_image=1e-9)

    def unreadable(message: str) -> None:
        warn(message)
        played.problems.append(message)

    source.on_notice = unreadable
    loading = dataclasses.replace(inference, model=options.model, settings=_settings(options))
    with InferenceProcess(loading, factory=factory) as process:
        info = process.wait_ready(cancelled=stop.is_set)
        _check_model(info, options, warn)
        played.model = info.model_path
        if recorder is not None:
            recorder.set_model(info.stem)
        started = time.monotonic()
        with source:
            fps = source.fps or 30.0
            clock_start = _recording_start(options.source, fps)
            while not stop.is_set():
                image = source.read()
                if image is None:
                    break
                index, t_video = played.frames_read, played.frames_read / fps
                played.frames_read += 1
                scene = process.process(image, t_video)
                result = LiveResult(index, t_video, t_video, scene, info, image)
                played.records.append(frame_record(index, t_video, t_video, result, source.scale))
                log.write(played.records[-1])
                played.latencies_ms.append(0.0)
                if recorder is not None:
                    recorder.update(scene.birds, clock_start + t_video, image)
                if options.max_frames is not None and played.frames_read >= options.max_frames:
                    break
        played.duration_s = time.monotonic() - started
    return played


def _settings(options: HeadlessOptions) -> LiveSettings:
    return LiveSettings(
        threshold=options.threshold,
        smoothing=options.smoothing,
        allow=options.allow,
        deny=options.deny,
        still_camera=options.still_camera,
    )


def _check_every_frame_source(spec: str) -> None:
    """--every-frame reads a file from its start to its end: a video file or an image folder."""
    source = open_source(spec, realtime=False, loop=False)
    if source.is_live:
        raise SourceError(
            f"--every-frame processes a recording (a video file or an image folder), not {source.description}; "
            "drop --every-frame to log a live source"
        )


def _recording_start(spec: str, fps: float) -> float:
    """Unix time of a recording's first frame: its file's modification time (when the camera finished writing it)
    minus its length; a folder's: its modification time."""
    path = Path(spec).expanduser()
    try:
        modified = path.stat().st_mtime
    except OSError:
        return time.time()
    return modified - _frame_count(path) / fps if path.is_file() else modified


def _frame_count(path: Path) -> int:
    """The frames a video file's header says it holds (0 when it does not say, or for anything else)."""
    if not path.is_file():
        return 0
    capture = cv2.VideoCapture(str(path))
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0
    finally:
        capture.release()
    return int(count) if count and count > 0 else 0


def _cut_short(spec: str, frames_read: int) -> str | None:
    """A video file that ended before the frames its header announces: cut short or damaged."""
    path = Path(spec).expanduser()
    expected = _frame_count(path)
    if expected and frames_read < expected:
        return (
            f"{path.name} ended after {frames_read} of its {expected} frames: the file is cut short or damaged; "
            "the log has the frames it had"
        )
    return None


class _LogFile:
    """The JSON-lines log, each line written whole. A write that fails (a full disk) is said once, a partly written
    line is taken back, and the run goes on without the log (visits are still recorded)."""

    def __init__(self, path: Path, warn: Callable[[str], None]):
        self.path = check_output_file(path, "--log", example="live.jsonl")
        self._warn = warn
        self.problems: list[str] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as error:
            raise write_error(error, "pick a writable place for --log", self.path) from None
        self._written = 0

    def write(self, record: dict) -> None:
        if self.problems:
            return
        data = memoryview((json.dumps(record) + "\n").encode("utf-8"))
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as error:
            self._failed(error)
            return
        self._written += done

    def _failed(self, error: OSError) -> None:
        problem = (
            f"cannot write the log {self.path}: {error.strerror or error}; it ends with the last frame written, "
            "visits are still recorded"
        )
        self.problems.append(problem)
        self._warn(problem)
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._written)  # no half line at its end

    def __enter__(self) -> _LogFile:
        return self

    def __exit__(self, *exc_info) -> None:
        os.close(self._fd)
        if self._written == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # no empty log left behind


def _recorder(options: HeadlessOptions, warn: Callable[[str], None]):
    """The sightings recorder of this run (None with --no-sightings); its troubles and notices become warnings."""
    if not options.record:
        return None
    from birdcam.sightings import SightingsRecorder
    from birdcam.util.notices import desktop_notice, new_species_text

    def status(state, message: str) -> None:
        if message and state.trouble:
            warn(f"sightings: {message}")

    def new_species(kind: str, visit) -> None:
        title, body = new_species_text(kind, visit.display_name)
        warn(f"{title.lower()}: {body}")
        desktop_notice(title, body)

    return SightingsRecorder(
        options.sightings_db,
        source=_source_name(options.source),
        muted=options.muted,
        on_status=status,
        on_notice=lambda message, error: warn(f"sightings: {message}"),
        on_new_species=new_species if options.notify else None,
    )


def _source_name(spec: str) -> str:
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _check_model(info, options: HeadlessOptions, warn: Callable[[str], None]) -> None:
    """The species lists against the loaded model (one warning for names it does not know), and the detector note."""
    if options.allow is not None or options.deny:
        from birdcam.models.species import species_mask

        _, report = species_mask(info.labels, info.background_index, options.allow, options.deny)
        if report.warning:
            warn(report.warning)
    if info.detector_note:
        warn(info.detector_note)


def _wait_for_model(
    pipeline: LivePipeline, model: str | None, detector: str | None, events: _Events, stop: threading.Event
):
    pipeline.load_model(model, detector)
    while not stop.is_set():
        try:
            kind, value, _ = events.messages.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        if kind == "ready":
            return value
        if kind == "failed":
            raise value
    return None


def _play(
    pipeline: LivePipeline,
    options: HeadlessOptions,
    events: _Events,
    stop: threading.Event,
    records: list[dict],
    log: _LogFile,
) -> None:
    """The display loop: each new frame is logged with the newest result until the run should end.

    A frame's line is written when the next frame is shown, so that when a finite source ends, the
    last frame's line carries the result that arrived for it meanwhile (as the window repaints it).
    """
    shown = None  # (index, t_capture, t_shown, the result shown with it) of the frame on display
    ended_at: float | None = None
    scales: dict[int, tuple[float, float]] = {}  # frame -> its Frame.scale, for the frames a result may come from

    def flush() -> None:
        if shown is None:
            return
        index, t_capture, t_shown, result = shown
        newest = events.newest  # a result for this very frame that came while it was on display repaints it
        if newest is not None and newest.frame_index == index:
            result = newest
        scale = scales.get(result.frame_index, (1.0, 1.0)) if result is not None else (1.0, 1.0)
        records.append(frame_record(index, t_capture, t_shown, result, scale))
        log.write(records[-1])

    try:
        while not stop.is_set():
            frame = pipeline.feed.frames.get(timeout=_POLL_S, newer_than=shown[0] if shown else -1)
            if frame is not None:
                flush()
                scales[frame.index] = frame.scale
                scales.pop(frame.index - _SCALES_KEPT, None)
                # A result of another shot is not drawn over this frame: nothing until the new shot's own arrives.
                shown = (
                    frame.index,
                    frame.t_capture,
                    time.monotonic(),
                    pipeline.feed.shown_with(frame.index, events.newest),
                )
                if options.max_frames is not None and len(records) + 1 >= options.max_frames:
                    return
            ended_at = events.handle(ended_at)
            if ended_at is not None and frame is None:
                newest = events.newest
                caught_up = shown is None or (newest is not None and newest.frame_index >= shown[0])
                if caught_up or time.monotonic() - ended_at > _DRAIN_S:
                    return
    finally:
        flush()


@contextmanager
def _stopped_by_signals(stop: threading.Event):
    """SIGINT and SIGTERM set `stop` (the run ends cleanly, summary included); yields what stopped it."""
    reason = ["end"]

    def handler(signum, _frame) -> None:
        reason[0] = signal.Signals(signum).name
        stop.set()

    handled = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum in handled}
    try:
        yield lambda: reason[0]
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
