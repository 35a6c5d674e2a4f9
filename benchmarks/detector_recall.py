"""Detector speed and recall: one 416 pass on 1280x720 frames, and how many pasted birds it finds by height.

    .venv/bin/python benchmarks/detector_recall.py [--threads 2] [--calls 100] [--skip-recall]

Speed: Detector.detect() on the real scenes at 1280x720 against the bare LiteRT invoke of the same
model, interleaved call by call so a busy moment hurts both alike; the ratio is the detector's own
cost (letterbox, decode, NMS). Recall: each of the 125 birds525-sample photos is pasted onto a real
scene at 1280x720, at each height, as a feathered ellipse (as the scene benchmark cuts them) and as
the whole square photo; it counts as found when a bird box overlaps the pasted square with IoU >= 0.3.
Three views of the same frame: the whole frame (the bird at 0.325x in the 416 input), a 640x640
region holding the bird (0.65x) and a 416x416 one (1:1). A stray box is a bird box that overlaps
the pasted square by IoU < 0.1. Bird-free: every scene and not-bird photo, whole and in tiles.
The figures the scene pass's tiling is designed from (issue 9, "Small birds").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
YOLOX = SHARED / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
FRAME = (1280, 720)
HEIGHTS = (80, 120, 160, 200, 300)
VIEWS = {"whole": None, "roi640": 640, "roi416": 416}
THRESHOLDS = (0.2, 0.25, 0.3, 0.4)


def scenes() -> list[np.ndarray]:
    return [
        cv2.resize(cv2.imread(str(p)), FRAME, interpolation=cv2.INTER_AREA)
        for p in sorted((SHARED / "images" / "scenes").glob("*.jpg"))
    ]


def speed(threads: int, calls: int) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from birdcam.models.detector import Detector

    frames = scenes()
    detector = Detector.from_path(YOLOX, num_threads=threads)
    bare = Interpreter(model_path=str(YOLOX), num_threads=threads)
    bare.allocate_tensors()
    index, blank = bare.get_input_details()[0]["index"], np.zeros((1, 3, 416, 416), np.float32)
    for frame in frames:
        detector.detect(frame)
    detect_ms, bare_ms, stages = [], [], []
    for i in range(calls):
        start = time.perf_counter()
        result = detector.detect(frames[i % len(frames)])
        detect_ms.append((time.perf_counter() - start) * 1e3)
        stages.append((result.timings.preprocess_ms, result.timings.invoke_ms, result.timings.postprocess_ms))
        start = time.perf_counter()
        bare.set_tensor(index, blank)
        bare.invoke()
        bare_ms.append((time.perf_counter() - start) * 1e3)
    pre, invoke, post = (statistics.median(s) for s in zip(*stages))
    return {
        "detect_ms_median": statistics.median(detect_ms),
        "detect_ms_p95": float(np.percentile(detect_ms, 95)),
        "preprocess_ms": pre,
        "invoke_ms": invoke,
        "postprocess_ms": post,
        "bare_invoke_ms_median": statistics.median(bare_ms),
        "detect_over_bare": statistics.median(detect_ms) / statistics.median(bare_ms),
    }


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return overlap / (aw * ah + bw * bh - overlap)


def _paste(scene: np.ndarray, bird: np.ndarray, x: int, y: int, side: int, feathered: bool) -> np.ndarray:
    frame = scene.copy()
    patch = cv2.resize(bird, (side, side), interpolation=cv2.INTER_AREA)
    if not feathered:
        frame[y : y + side, x : x + side] = patch
        return frame
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (side // 2, side // 2), (int(side * 0.47), int(side * 0.47)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), side * 0.04)[..., np.newaxis]
    frame[y : y + side, x : x + side] = (patch * mask + frame[y : y + side, x : x + side] * (1 - mask)).astype(np.uint8)
    return frame


def _region_around(rng, x: int, y: int, side: int, region: int) -> tuple[int, int, int, int]:
    """A region x region square that holds the whole bird, at a random place around it."""
    rx = int(np.clip(rng.integers(x + side - region, x + 1), 0, FRAME[0] - region))
    ry = int(np.clip(rng.integers(y + side - region, y + 1), 0, FRAME[1] - region))
    return rx, ry, region, region


def recall(threads: int) -> None:
    from birdcam.models.detector import Detector

    birds = [cv2.imread(str(p)) for p in sorted((SHARED / "birds525-sample" / "valid").glob("*/*.jpg"))]
    backgrounds = scenes()
    detector = Detector.from_path(YOLOX, num_threads=threads, score_threshold=min(THRESHOLDS))
    for feathered in (True, False):
        rng = np.random.default_rng(7)
        found = {(h, v): [] for h in HEIGHTS for v in VIEWS}
        stray = {v: [] for v in VIEWS}
        for height in HEIGHTS:
            for k, bird in enumerate(birds):
                x, y = int(rng.integers(0, FRAME[0] - height)), int(rng.integers(0, FRAME[1] - height))
                frame = _paste(backgrounds[k % len(backgrounds)], bird, x, y, height, feathered)
                pasted = (x, y, height, height)
                for view, region in VIEWS.items():
                    roi = None if region is None else _region_around(rng, x, y, height, region)
                    boxes = detector.detect(frame, roi=roi).birds
                    found[height, view].append(max([b.score for b in boxes if _iou(b.box, pasted) >= 0.3], default=0.0))
                    stray[view].append(max([b.score for b in boxes if _iou(b.box, pasted) < 0.1], default=0.0))
        print(
            f"\n{'feathered ellipse' if feathered else 'square photo'}: share of {len(birds)} birds found, "
            f"by height in {FRAME[0]}x{FRAME[1]} ({' / '.join(VIEWS)})"
        )
        for threshold in THRESHOLDS:
            cells = "  ".join(
                f"{h}px " + " / ".join(f"{np.mean(np.array(found[h, v]) >= threshold):.2f}" for v in VIEWS)
                for h in HEIGHTS
            )
            strays = " / ".join(f"{np.mean(np.array(stray[v]) >= threshold):.3f}" for v in VIEWS)
            print(f"  score >= {threshold:.2f}: {cells}   stray boxes per frame {strays}")
    bird_free = [
        cv2.imread(str(p))
        for folder in ("scenes", "not-birds")
        for p in sorted((SHARED / "images" / folder).glob("*.jpg"))
    ]
    best = []
    for image in bird_free:
        for frame in (image, cv2.resize(image, FRAME)):
            height, width = frame.shape[:2]
            for region in VIEWS.values():
                if region is None:
                    rois = [None]
                else:
                    xs = sorted({0, max(0, (width - region) // 2), max(0, width - region)})
                    ys = sorted({0, max(0, (height - region) // 2), max(0, height - region)})
                    rois = [(x, y, region, region) for x in xs for y in ys]
                for roi in rois:
                    best.append(max([b.score for b in detector.detect(frame, roi=roi).birds], default=0.0))
    best = np.array(best)
    print(f"\nbird-free: {len(best)} passes, {np.sum(best >= min(THRESHOLDS))} with a bird box >= {min(THRESHOLDS)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--skip-recall", action="store_true", help="speed only (the recall part takes a few minutes)")
    args = parser.parse_args()
    print(
        f"machine                  {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_version()}, {args.threads} threads"
    )
    for key, value in speed(args.threads, args.calls).items():
        print(f"{key:24} {value:.3f}")
    if not args.skip_recall:
        recall(args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
