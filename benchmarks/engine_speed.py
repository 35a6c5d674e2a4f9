"""Engine speed: classify() against the bare crop+resize+invoke loop and MediaPipe, plus model load time.

    .venv/bin/python benchmarks/engine_speed.py [--threads 2] [--rounds 7]
        [--mediapipe-python .venv-bench/bin/python]

Targets (issue 2): classify() <= 1.15x the bare loop (plain cv2 INTER_AREA resize; a second baseline uses the
engine's own fitting, so its ratio is the pure overhead of the engine's bookkeeping) and <= 0.6x MediaPipe
ImageClassifier.classify on the same 1280x720 frames with the same thread count; starter model load < 0.3 s.
MediaPipe pulls in opencv-contrib, which clashes with the app's opencv-python-headless, so it runs from its
own venv (`python -m venv .venv-bench && .venv-bench/bin/pip install mediapipe`) in a child process of this
script, on frames this script writes, one round at a time between the script's own rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
STARTER = SHARED / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"

MEDIAPIPE_CHILD = r"""
import sys, time, json, numpy as np
import mediapipe as mp
from mediapipe.tasks import python as tasks
from mediapipe.tasks.python import vision
frames_rgb = np.load(sys.argv[2])
options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=sys.argv[1]), max_results=3)
classifier = vision.ImageClassifier.create_from_options(options)
images = [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(f)) for f in frames_rgb]
for image in images[:5]:
    classifier.classify(image)
print("ready", flush=True)
for _ in sys.stdin:  # one round per line, so the parent can interleave rounds with its own
    start = time.perf_counter()
    for image in images:
        classifier.classify(image)
    print((time.perf_counter() - start) * 1e3 / len(images), flush=True)
"""


class MediaPipeRounds:
    """MediaPipe in its own venv, running one round of the same frames whenever asked."""

    def __init__(self, python: Path, frames: list[np.ndarray], folder: Path):
        frames_file = folder / "frames.npy"
        np.save(frames_file, np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]))
        self._child = subprocess.Popen(
            [str(python), "-c", MEDIAPIPE_CHILD, str(STARTER), str(frames_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if self._child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"MediaPipe did not start under {python}")

    def round(self) -> float:
        self._child.stdin.write("round\n")
        self._child.stdin.flush()
        return float(self._child.stdout.readline())

    def close(self) -> None:
        self._child.stdin.close()
        self._child.wait(10)


def make_frames(count: int = 30) -> list[np.ndarray]:
    """1280x720 BGR frames: the shared bird photos, scaled and shifted, so no two are alike."""
    photos = sorted((SHARED / "birds525-sample" / "valid").rglob("*.jpg"))[:count]
    frames = []
    for i, photo in enumerate(photos):
        image = cv2.resize(cv2.imread(str(photo)), (1280, 1280))
        top = 100 + (i * 37) % 400
        frames.append(np.ascontiguousarray(image[top : top + 720]))
    return frames


def bare_loop(interpreter, frames: list[np.ndarray]) -> float:
    """The least work that gives a correct answer: center crop, area resize, BGR->RGB, invoke."""
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    start = time.perf_counter()
    for frame in frames:
        height, width = frame.shape[:2]
        side = min(height, width)
        x, y = (width - side) // 2, (height - side) // 2
        small = cv2.resize(frame[y : y + side, x : x + side], (224, 224), interpolation=cv2.INTER_AREA)
        interpreter.set_tensor(input_index, cv2.cvtColor(small, cv2.COLOR_BGR2RGB)[np.newaxis])
        interpreter.invoke()
        interpreter.get_tensor(output_index)
    return (time.perf_counter() - start) * 1e3 / len(frames)


def bare_loop_fast_resize(interpreter, frames: list[np.ndarray]) -> float:
    """The bare loop with the engine's own fitting: what is left is the engine's bookkeeping."""
    from birdcam.models.image import fit_to_size

    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    start = time.perf_counter()
    for frame in frames:
        small = fit_to_size(frame, (224, 224), "crop")
        interpreter.set_tensor(input_index, cv2.cvtColor(small, cv2.COLOR_BGR2RGB)[np.newaxis])
        interpreter.invoke()
        interpreter.get_tensor(output_index)
    return (time.perf_counter() - start) * 1e3 / len(frames)


def engine_loop(classifier, frames: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for frame in frames:
        classifier.classify(frame)
    return (time.perf_counter() - start) * 1e3 / len(frames)


def load_times(threads: int, repeats: int = 10) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from birdcam.models.classifier import Classifier

    engine, bare = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        Classifier.from_path(STARTER, num_threads=threads).close()
        engine.append(time.perf_counter() - start)
        start = time.perf_counter()
        Interpreter(model_path=str(STARTER), num_threads=threads).allocate_tensors()
        bare.append(time.perf_counter() - start)
    return {"engine_load_s_median": statistics.median(engine), "bare_load_s_median": statistics.median(bare)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mediapipe-python", type=Path, help="python of a venv with mediapipe installed")
    args = parser.parse_args()

    from ai_edge_litert.interpreter import Interpreter

    from birdcam.models.classifier import Classifier

    frames = make_frames()
    interpreter = Interpreter(model_path=str(STARTER), num_threads=args.threads)
    interpreter.allocate_tensors()
    classifier = Classifier.from_path(STARTER, num_threads=args.threads)
    bare_loop(interpreter, frames[:5])
    engine_loop(classifier, frames[:5])
    with tempfile.TemporaryDirectory() as folder:
        mediapipe = MediaPipeRounds(args.mediapipe_python, frames, Path(folder)) if args.mediapipe_python else None
        bare, bare_fast, engine, mediapipe_ms = [], [], [], []
        for _ in range(args.rounds):  # interleaved, so a busy moment hurts all alike
            bare.append(bare_loop(interpreter, frames))
            bare_fast.append(bare_loop_fast_resize(interpreter, frames))
            engine.append(engine_loop(classifier, frames))
            if mediapipe is not None:
                mediapipe_ms.append(mediapipe.round())
        if mediapipe is not None:
            mediapipe.close()
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "threads": args.threads,
        "frames": f"{len(frames)} x 1280x720, {args.rounds} rounds",
        "bare_ms_per_frame": statistics.median(bare),
        "engine_ms_per_frame": statistics.median(engine),
    }
    figures["engine_over_bare"] = figures["engine_ms_per_frame"] / figures["bare_ms_per_frame"]
    figures["bare_same_resize_ms"] = statistics.median(bare_fast)
    figures["engine_over_same_resize"] = figures["engine_ms_per_frame"] / figures["bare_same_resize_ms"]
    if mediapipe_ms:
        figures["mediapipe_ms_per_frame"] = statistics.median(mediapipe_ms)
        figures["engine_over_mediapipe"] = figures["engine_ms_per_frame"] / figures["mediapipe_ms_per_frame"]
    figures.update(load_times(args.threads))
    for key, value in figures.items():
        print(f"{key:24} {value:.3f}" if isinstance(value, float) else f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
