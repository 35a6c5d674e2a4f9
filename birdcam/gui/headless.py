"""`birdcam live --headless`: the window's pipeline under a QCoreApplication, logging every displayed frame as JSON."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdcam.errors import BirdcamError, ModelError, SourceError
from birdcam.gui.worker import ClassifierFactory, load_classifier

_DRAIN_S = 0.5  # after a finite source ends, how long the last frame's result may take to arrive


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
    """Stop after this many displayed frames; None: when the source ends (or Ctrl+C)."""
    realtime: bool = True
    """Pace videos and folders to their frame rate; False: as fast as they decode."""
    loop: bool = False
    """Start a video or folder again at its end."""
    threshold: float | None = None
    """No-bird threshold; None: the model's own."""
    smoothing: bool = True
    """Smooth the label over time (as the window does by default)."""


def frame_record(display) -> dict:
    """The JSON line of one displayed frame."""
    shown, result = display.shown, display.result
    label = shown.label if shown is not None and shown.is_bird else None  # None: "no bird" (or no result yet)
    return {
        "frame": display.frame.index,
        "t_capture": round(display.frame.t_capture, 6),
        "t_shown": round(display.t_shown, 6),
        "result_frame": result.frame_index if result is not None else None,
        "label": label.text if label is not None else None,
        "common_name": label.display_name if label is not None else None,
        "scientific_name": (label.scientific_name or None) if label is not None else None,
        "score": round(float(shown.score), 4) if shown is not None else None,
        "is_bird": label is not None,
        "t_result_capture": round(result.t_capture, 6) if result is not None else None,
    }


def summarize(records: list[dict], *, frames_captured: int, result_latencies_ms: list[float], duration_s: float,
              source: str, model: str) -> dict:
    """Counts, rates, staleness (how many frames / ms the shown result lags the shown frame, per shown frame)
    and result latency (capture of a classified frame to its result reaching the display thread)."""
    with_result = [r for r in records if r["result_frame"] is not None]
    lag_frames = np.array([r["frame"] - r["result_frame"] for r in with_result], dtype=np.float64)
    lag_ms = np.array([(r["t_capture"] - r["t_result_capture"]) * 1e3 for r in with_result], dtype=np.float64)
    frames_classified = len(result_latencies_ms)

    def percentiles(values: np.ndarray, digits: int) -> dict:
        if values.size == 0:
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {"p50": round(float(p50), digits), "p95": round(float(p95), digits),
                "p99": round(float(p99), digits), "max": round(float(values.max()), digits)}

    per_second = (lambda count: round(count / duration_s, 2)) if duration_s > 0 else (lambda count: None)
    return {
        "summary": True,
        "source": source,
        "model": model,
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


def run_headless(options: HeadlessOptions, *, factory: ClassifierFactory = load_classifier) -> dict:
    """Runs until the source ends, max_frames are shown or Ctrl+C; writes the log; returns the summary.

    `factory` opens the model (benchmarks wrap the engine in it). Raises ModelError / SourceError
    (one-line messages) when the model or the source fails.
    """
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from birdcam.gui.pipeline import Pipeline
    from birdcam.smoothing import SmoothingOptions

    app = QCoreApplication.instance() or QCoreApplication(["birdcam"])  # noqa: F841 (must outlive the loop)
    options.log_path.parent.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(smoothing=SmoothingOptions(enabled=options.smoothing), threshold=options.threshold,
                        factory=factory)
    loop = QEventLoop()
    records: list[dict] = []
    latencies_ms: list[float] = []
    failure: list[BirdcamError] = []
    started: list[float] = []

    def fail(error: BirdcamError) -> None:
        failure.append(error)
        loop.quit()

    def on_model_ready(path: str, requested: str) -> None:
        if not started:
            started.append(time.monotonic())
            pipeline.start_source(options.source, realtime=options.realtime, loop=options.loop)

    def on_status(kind: str, message: str) -> None:
        if kind == "error":
            fail(SourceError(message))
        elif kind == "ended":
            loop.quit()  # TEMP

    def on_frame(display) -> None:
        records.append(frame_record(display))
        log.write(json.dumps(records[-1]) + "\n")
        if options.max_frames is not None and len(records) >= options.max_frames:
            pipeline.stop_source()
            loop.quit()

    drain = QTimer(singleShot=True)
    drain.timeout.connect(loop.quit)
    pipeline.model_ready.connect(on_model_ready)
    pipeline.model_failed.connect(lambda message: fail(ModelError(message)))
    pipeline.source_status.connect(on_status)
    pipeline.frame_shown.connect(on_frame)
    pipeline.result_ready.connect(lambda result, shown: latencies_ms.append((time.monotonic() - result.t_capture) * 1e3))
    keep_python_awake = QTimer()  # lets Python run its SIGINT handler while Qt waits
    keep_python_awake.start(200)
    previous_handler = signal.signal(signal.SIGINT, lambda *_: loop.quit())
    try:
        with options.log_path.open("w", encoding="utf-8") as log:
            pipeline.load_model(options.model)
            loop.exec()
            duration = time.monotonic() - started[0] if started else 0.0
            captured = pipeline.frames_captured
            pipeline.stop_source()
            summary = summarize(records, frames_captured=captured, result_latencies_ms=latencies_ms,
                                duration_s=duration, source=options.source,
                                model=str(pipeline.model_path) if pipeline.model_path else "")
            log.write(json.dumps(summary) + "\n")
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        keep_python_awake.stop()
        pipeline.close()
    if failure:
        raise failure[0]
    return summary
