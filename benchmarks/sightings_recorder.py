"""The sightings recorder's cost on the caller's thread, against the scene pass it rides on, and its close time.

    .venv/bin/python benchmarks/sightings_recorder.py [--frames 3000] [--rounds 5]

Per 1280x720 frame with 1-3 birds (three species coming and going, so visits qualify, grow, merge
and end, and snapshots are drawn), rounds interleaved:
- `SightingsRecorder.update()` on the caller's thread, free database and database locked by another
  process (BEGIN EXCLUSIVE): both divided by the starter classifier's `classify()` on the same frames
  (the work of the scene pass the recorder rides on). Target: update() a small fraction of it, and
  the same with the lock held (the first release blocked the GUI thread for SQLite's 5 s timeout).
- `close()` with visits open (their final rows and snapshots to write), free and locked (bounded:
  what the lock keeps goes to the pending file). Target: <= 1.5 s either way.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
STARTER = SHARED / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"


def frames_and_birds(count: int):
    """1280x720 frames (the shared scenes) and, per frame, 1-3 birds of three species that come and go."""
    from birdcam.models.labels import read_labels
    from birdcam.scene.scene_pass import Bird

    labels = {label.common_name: label for label in read_labels(STARTER.parent / "labels.txt")}
    species = [labels["Mandarin Duck"], labels["Cedar Waxwing"], labels["Belted Kingfisher"]]
    scenes = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sorted((SHARED / "images" / "scenes").iterdir())]
    rng = np.random.default_rng(0)
    plan = []
    for n in range(count):
        birds = []
        for k, label in enumerate(species):
            present = (n // (45 * (k + 1))) % 3 != 2  # each species in its own rhythm: visits start, merge, end
            for extra in range(1 + (k == 0 and n % 300 < 100)):  # now and then two ducks at once
                if present:
                    x, y = 100 + 350 * k + 150 * extra, 200 + int(rng.integers(-5, 6))
                    birds.append(Bird(10 * k + extra, (x, y, 180, 200), label, 0, float(rng.uniform(0.5, 0.95)), ()))
        plan.append((scenes[(n // 200) % len(scenes)].copy(), tuple(birds)))
    return plan


def time_updates(recorder, plan, t0: float) -> float:
    """Milliseconds per update() call on this thread."""
    start = time.perf_counter()
    for n, (frame, birds) in enumerate(plan):
        recorder.update(birds, t0 + n / 30, frame)
    return (time.perf_counter() - start) * 1e3 / len(plan)


def time_classify(classifier, plan) -> float:
    start = time.perf_counter()
    for frame, _ in plan:
        classifier.classify(frame)
    return (time.perf_counter() - start) * 1e3 / len(plan)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from sightings_material import LockHolder

    from birdcam.models.classifier import Classifier
    from birdcam.sightings import SightingsDB, SightingsRecorder

    plan = frames_and_birds(args.frames)
    classify_ms, free_ms, locked_ms, close_free, close_locked = [], [], [], [], []
    with Classifier.from_path(STARTER, num_threads=2) as classifier, tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            classify_ms.append(time_classify(classifier, plan))
            for locked in (False, True):
                path = Path(folder) / f"r{round_}-{locked}.sqlite3"
                SightingsDB.open(path).close()
                holder = LockHolder(path) if locked else None
                recorder = SightingsRecorder(path, snapshot_dir=Path(folder) / f"snapshots-{round_}-{locked}")
                (locked_ms if locked else free_ms).append(time_updates(recorder, plan, 1.8e9 + round_ * 1e5))
                if not locked:
                    recorder.flush(30)  # a free database keeps up; close then writes the open visits only
                start = time.perf_counter()
                recorder.close()
                (close_locked if locked else close_free).append(time.perf_counter() - start)
                if holder is not None:
                    holder.__exit__(None, None, None)
    classify, free, locked = (statistics.median(v) for v in (classify_ms, free_ms, locked_ms))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.frames} frames x {args.rounds} rounds"
    )
    print("| measure | figure | target |")
    print("|---|---:|---:|")
    print(f"| classify(), starter model, 1280x720 (baseline) | {classify:.2f} ms / frame | |")
    print(f"| recorder update(), database free | {free * 1e3:.0f} \u00b5s / frame | |")
    print(f"| update() \u00f7 classify() | **{free / classify:.3f}** | small |")
    print(
        f"| update() while another process holds BEGIN EXCLUSIVE | {locked * 1e3:.0f} \u00b5s / frame "
        f"(\u00d7{locked / free:.2f} free) | no blocking |"
    )
    print(
        f"| close() with visits open, database free (median, max) | {statistics.median(close_free):.3f} s, "
        f"{max(close_free):.3f} s | \u2264 1.5 s |"
    )
    print(
        f"| close() with visits open, database locked (median, max) | {statistics.median(close_locked):.3f} s, "
        f"{max(close_locked):.3f} s | \u2264 1.5 s |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
