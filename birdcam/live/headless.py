"""`birdcam live --headless`: the window's pipeline without a window (and without Qt), one JSON line per displayed
frame.

The main thread plays the display: it takes the newest frame as the window would and logs it with
the newest result. Visits are recorded exactly as the window records them (same rules, database and
snapshots): the unattended feeder logger. SIGINT and SIGTERM end the run cleanly: every visit is
written and the summary line too.
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdcam.errors import SourceError
from birdcam.live.inference import InferenceOptions, LiveSettings, SceneFactory, build_scene_pass
from birdcam.live.pipeline import LivePipeline, LiveResult
from birdcam.live.records import bird_record
from birdcam.util.fileio import check_output_file, write_error

_POLL_S = 0.05
_DRAIN_S = 3.0  # after a finite source ends, how long the last frame's result may take to arrive


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
    loop: bool = False
    """Start a video or folder again at its end."""
    threshold: float | None = None
    """No-bird threshold; None: the model's own."""
    smoothing: bool = True
    """Smooth labels over time (as the window does by default)."""
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


def frame_record(index: int, t_capture: float, t_shown: float, result: LiveResult | None) -> dict:
    """The JSON line of one displayed frame; the top-level names describe the most confident bird."""
    birds = [bird_record(bird) for bird in result.scene.birds] if result is not None else []
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

    def __init__(self) -> None:
        self.messages: queue.SimpleQueue = queue.SimpleQueue()
        self.latencies_ms: list[float] = []
        self.recorder = None
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


def run_headless(
    options: HeadlessOptions,
    *,
    factory: SceneFactory = build_scene_pass,
    inference: InferenceOptions = InferenceOptions(),
    warn: Callable[[str], None] = lambda message: None,
) -> dict:
    """Runs until the source ends, max_frames are shown, or SIGINT / SIGTERM; writes the log; returns the summary.

    Raises ModelError / SourceError / SpeciesListError (one-line messages) when the model, the source or
    the species lists fail; `warn` gets one-line warnings (names the model does not know, the sightings
    database's state, new species when notices are on).
    """
    log = _open_log(options.log_path)
    events = _Events()
    post = events.messages.put
    recorder = _recorder(options, warn)
    if recorder is not None:
        events.recorder = recorder
    pipeline = LivePipeline(
        on_result=events.result,
        on_status=lambda kind, message: post(("status", kind, message)),
        on_model_ready=lambda info, request: post(("ready", info, None)),
        on_model_failed=lambda error, request: post(("failed", error, None)),
        on_error=lambda message: post(("error", message, None)),
        settings=LiveSettings(
            threshold=options.threshold, smoothing=options.smoothing, allow=options.allow, deny=options.deny
        ),
        options=inference,
        factory=factory,
    )
    stop = threading.Event()
    records: list[dict] = []
    try:
        with _stopped_by_signals(stop) as stopped_by, log:
            info = _wait_for_model(pipeline, options.model, inference.detector, events, stop)
            if info is not None:
                _check_model(info, options, warn)
                if recorder is not None:
                    recorder.set_model(info.stem)
            started = time.monotonic()
            if info is not None and pipeline.start_source(options.source, realtime=options.realtime, loop=options.loop):
                _play(pipeline, options, events, stop, records, log)
            else:
                _raise_first_failure(events)
            duration = time.monotonic() - started
            captured = pipeline.feed.frames_captured
            pipeline.stop_source()
            _raise_first_failure(events)
            summary = summarize(
                records,
                frames_captured=captured,
                result_latencies_ms=events.latencies_ms,
                duration_s=duration,
                source=options.source,
                model=pipeline.info.model_path if pipeline.info else "",
                stopped_by=stopped_by(),
            )
            log.write(json.dumps(summary) + "\n")
    finally:
        pipeline.close()
        if recorder is not None:
            recorder.close()
    return summary


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


def _open_log(path: Path):
    """The log file, opened before anything starts; a path that cannot be written is one line."""
    path = check_output_file(path, "--log", example="live.jsonl")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as error:
        raise write_error(error, "pick a writable place for --log", path) from None


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
    pipeline: LivePipeline, options: HeadlessOptions, events: _Events, stop: threading.Event, records: list[dict], log
) -> None:
    """The display loop: each new frame is logged with the newest result until the run should end.

    A frame's line is written when the next frame is shown, so that when a finite source ends, the
    last frame's line carries the result that arrived for it meanwhile (as the window repaints it).
    """
    shown = None  # (index, t_capture, t_shown, the result shown with it) of the frame on display
    ended_at: float | None = None

    def flush() -> None:
        if shown is None:
            return
        index, t_capture, t_shown, result = shown
        newest = events.newest  # a result for this very frame that came while it was on display repaints it
        if newest is not None and newest.frame_index == index:
            result = newest
        records.append(frame_record(index, t_capture, t_shown, result))
        log.write(json.dumps(records[-1]) + "\n")

    try:
        while not stop.is_set():
            frame = pipeline.feed.frames.get(timeout=_POLL_S, newer_than=shown[0] if shown else -1)
            if frame is not None:
                flush()
                shown = (frame.index, frame.t_capture, time.monotonic(), events.newest)
                if options.max_frames is not None and len(records) + 1 >= options.max_frames:
                    return
            ended_at = _handle_messages(events, ended_at)
            if ended_at is not None and frame is None:
                newest = events.newest
                caught_up = shown is None or (newest is not None and newest.frame_index >= shown[0])
                if caught_up or time.monotonic() - ended_at > _DRAIN_S:
                    return
    finally:
        flush()


def _handle_messages(events: _Events, ended_at: float | None) -> float | None:
    """Source errors end the run with that error; "ended" starts the drain; returns when the source ended."""
    while True:
        try:
            kind, first, second = events.messages.get_nowait()
        except queue.Empty:
            return ended_at
        if kind == "status" and first == "error":
            raise SourceError(second)
        if kind == "status" and first == "ended" and ended_at is None:
            ended_at = time.monotonic()
        if kind == "failed":
            raise first


def _raise_first_failure(events: _Events) -> None:
    while True:
        try:
            kind, first, second = events.messages.get_nowait()
        except queue.Empty:
            return
        if kind == "status" and first == "error":
            raise SourceError(second)
        if kind == "failed":
            raise first


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
