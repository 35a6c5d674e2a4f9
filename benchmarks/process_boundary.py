"""What the inference process costs per frame: the scene pass in this process vs. behind the process boundary.

    .venv/bin/python benchmarks/process_boundary.py [--frames 300] [--rounds 7] [--detector PATH]

Same 1280x720 frames (shared photos), same scene pass (the starter model; whole-frame unless
`--detector`), rounds interleaved so both see the same machine. Two figures for the boundary's cost
(target: <= 1 ms): the median time per frame through `InferenceProcess.process()` minus the median
of `ScenePass.process()` called directly, and, frame by frame, the time through the process minus
the child's own time for the scene pass (its `timings.total_ms`), which leaves out the scene pass's
own jitter. A copy of the frame into shared memory, a pipe round trip and the result's encoding
make up the difference. The boundary does not depend on what runs in the child; with the detector
(30 ms a pass here) the first figure drowns in the scene pass's own spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
STARTER = SHARED / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"
SIZE = (1280, 720)
PHOTOS = (
    "images/birds/mandarin_duck.jpg",
    "images/not-birds/cat.jpg",
    "birds525-sample/valid/CEDAR WAXWING/3.jpg",
    "images/not-birds/hot_dog.jpg",
    "images/birds/scarlet_macaw.jpg",
)


def frames() -> list[np.ndarray]:
    """Distinct 720p frames: each photo with a little shift, so no two frames are the same."""
    out = []
    for photo in PHOTOS:
        image = cv2.resize(cv2.imread(str(SHARED / photo)), (SIZE[0] + 40, SIZE[1] + 40))
        for shift in range(0, 40, 4):
            out.append(np.ascontiguousarray(image[shift : shift + SIZE[1], shift : shift + SIZE[0]]))
    return out


def timed(process, images: list[np.ndarray], count: int, t0: float, own: list[float] | None = None) -> list[float]:
    """Milliseconds per call; `own` gets each result's own scene-pass time."""
    times = []
    for index in range(count):
        start = time.perf_counter()
        result = process(images[index % len(images)], t0 + index / 30)
        times.append((time.perf_counter() - start) * 1e3)
        if own is not None:
            own.append(result.timings.total_ms)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per round and side (300)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (7)")
    parser.add_argument("--detector", default="none", help="a detector .tflite (default: none, the whole-frame pass)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from birdcam.live.inference import InferenceOptions, InferenceProcess, build_scene_pass

    options = InferenceOptions(model=str(STARTER), detector=args.detector)
    images = frames()
    local, _ = build_scene_pass(options, lambda text: None)
    remote = InferenceProcess(options)
    remote.wait_ready()
    try:
        timed(local.process, images, 30, 0.0)  # warm-up both
        timed(remote.process, images, 30, 0.0)
        inside, across, child = [], [], []
        for round_index in range(args.rounds):
            t0 = 1000.0 * (round_index + 1)
            local.reset()
            remote.reset()
            inside += timed(local.process, images, args.frames, t0)
            across += timed(remote.process, images, args.frames, t0, child)
    finally:
        remote.close()
        local.close()
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "frames": f"{args.rounds} x {args.frames} frames of {SIZE[0]}x{SIZE[1]} per side",
        "in_process_ms_median": round(float(np.median(inside)), 3),
        "inference_process_ms_median": round(float(np.median(across)), 3),
        "boundary_ms_median": round(float(np.median(across) - np.median(inside)), 3),
        "boundary_ms_paired_median": round(float(np.median(np.subtract(across, child))), 3),
        "boundary_ms_paired_p95": round(float(np.percentile(np.subtract(across, child), 95)), 3),
        "in_process_ms_p95": round(float(np.percentile(inside, 95)), 3),
        "inference_process_ms_p95": round(float(np.percentile(across, 95)), 3),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
