"""`birdcam bench`: how fast the classifier, the detector and the whole scene pass run on this machine."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from birdcam.cli.options import (
    add_detector_option,
    add_model_options,
    add_species_list_options,
    open_scene,
    positive_int,
)
from birdcam.errors import SourceError
from birdcam.models.image import IMAGE_SUFFIXES, read_image


def register(commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure inference speed",
        description="Times the classifier (invoke only and frame in -> Result), the detector and the whole scene pass.",
    )
    add_model_options(bench)
    add_species_list_options(bench)
    add_detector_option(bench)
    bench.add_argument(
        "--source", type=Path, metavar="IMAGE_OR_VIDEO", help="frames to use (default: a synthetic 1280x720 frame)"
    )
    bench.add_argument("--frames", type=positive_int, default=200, metavar="N", help="timed frames (200)")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.set_defaults(handler=run_bench)


def bench_frames(source: Path | None, count: int) -> list[np.ndarray]:
    """Up to `count` distinct frames from an image or video, or one synthetic 1280x720 frame."""
    import cv2

    if source is None:
        rng = np.random.default_rng(0)
        gradient = np.linspace(0, 255, 1280, dtype=np.float32)[np.newaxis, :, np.newaxis]
        frame = (gradient + rng.normal(0, 20, (720, 1280, 3))).clip(0, 255).astype(np.uint8)
        return [frame]
    if source.is_dir():
        raise SourceError(f"bench source {source} is a folder; give an image or video file.")
    if not source.is_file():
        raise SourceError(f"bench source not found: {source}. Give an image or video file.")
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return [read_image(source)]
    capture = cv2.VideoCapture(str(source))
    frames = []
    while len(frames) < min(count, 300):
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SourceError(f"{source} is neither an image nor a video OpenCV can read.")
    return frames


def run_bench(args: argparse.Namespace) -> int:
    frames = bench_frames(args.source, args.frames)
    with open_scene(args) as scene:
        classifier = scene.classifier
        for frame in frames[:5]:
            classifier.classify(frame)
        invoke_ms, end_to_end_ms = [], []
        for i in range(args.frames):
            frame = frames[i % len(frames)]
            start = time.perf_counter()
            result = classifier.classify(frame)
            end_to_end_ms.append((time.perf_counter() - start) * 1e3)
            invoke_ms.append(result.timings.invoke_ms)
        # The scene pass as live: the frames in turn at 30 frames/s of capture time (a still: the same frame).
        for i in range(5):
            scene.process(frames[i % len(frames)], i / 30)
        scene.reset()
        timings = [scene.process(frames[i % len(frames)], i / 30).timings for i in range(args.frames)]
        scene_ms = [t.total_ms for t in timings]
        figures = {
            "model": str(classifier.model_path),
            "detector": None if scene.detector is None else str(scene.detector.model_path),
            "threads": classifier.options.num_threads,
            "frames": args.frames,
            "invoke_ms_median": _median(invoke_ms),
            "invoke_ms_p95": _p95(invoke_ms),
            "end_to_end_ms_median": _median(end_to_end_ms),
            "end_to_end_ms_p95": _p95(end_to_end_ms),
            "fps": round(1000.0 / float(np.mean(end_to_end_ms)), 1),
            "detector_ms_mean": _mean([t.detector_ms for t in timings]),
            "classifier_ms_mean": _mean([t.classifier_ms for t in timings]),
            "scene_ms_mean": _mean(scene_ms),
            "scene_ms_median": _median(scene_ms),
            "scene_ms_p95": _p95(scene_ms),
            "scene_fps": round(1000.0 / float(np.mean(scene_ms)), 1),
        }
    if args.json:
        print(json.dumps(figures))
    else:
        shape = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        print(f"model      {figures['model']} ({figures['threads']} threads, {figures['frames']} frames of {shape})")
        print(f"invoke     median {figures['invoke_ms_median']:.2f} ms   p95 {figures['invoke_ms_p95']:.2f} ms")
        print(f"end to end median {figures['end_to_end_ms_median']:.2f} ms   p95 {figures['end_to_end_ms_p95']:.2f} ms")
        print(f"throughput {figures['fps']:.1f} frames/s")
        print(f"detector   {figures['detector'] or 'none (whole-frame mode)'}")
        print(
            f"scene pass median {figures['scene_ms_median']:.2f} ms   p95 {figures['scene_ms_p95']:.2f} ms a frame "
            f"(a frame on average: detector {figures['detector_ms_mean']:.2f} ms, classifier "
            f"{figures['classifier_ms_mean']:.2f} ms, in all {figures['scene_ms_mean']:.2f} ms)"
        )
        print(f"           {figures['scene_fps']:.1f} frames/s")
    return 0


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 3)


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 3)


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 3)
