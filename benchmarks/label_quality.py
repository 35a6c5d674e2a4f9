"""Label quality on bird footage: the starter model frame by frame vs through LabelSmoother.

Footage is built from shared/ photos: each bird photo becomes a 2-s shot (60 frames at 30 fps) with a
slow hand-held drift, zoom and sensor noise, so no two frames are equal; non-bird scenes (shared
not-bird photos, blank walls, sky, foliage-like textures) of the same length sit between the shots.
Measured for both: label changes within a shot, % of non-bird frames shown as a bird, bird accuracy
(shown species == the photo's species, by scientific name, for the 20 species the model knows).

    .venv/bin/python benchmarks/label_quality.py [--shared ../shared] [--shots 100] [--seed 3] [--detector PATH]

Targets (issue 3): changes within a shot drop by more than half, < 1% of non-bird frames shown as a
bird, bird accuracy costs at most a few points. With --detector (a path, or "starter" for shared's
YOLOX-nano), the same footage also goes through the scene pass with and without the detector
(issue 9: close-ups keep their figures with the detector on); there a bird of unknown species counts
as a bird shown, never as the right one.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"
STARTER_DETECTOR = "models/yolox_nano/yolox_nano_float16_quantize.tflite"
FPS = 30.0
SHOT_FRAMES = 60
FRAME_SIZE = 320


@dataclass(frozen=True)
class Scene:
    """One stretch of footage: a bird photo (scientific name known to the model) or a non-bird scene."""

    name: str
    """Photo path or scene kind, for reports."""
    scientific_name: str | None
    """The bird's species in lower case; None for a non-bird scene."""
    length: int
    """Frames in the scene."""


def known_bird_photos(shared: Path, model_scientific_names: set[str]) -> list[tuple[Path, str]]:
    """The birds525 sample photos whose species the model knows, with their scientific names (lower case)."""
    photos = []
    with open(shared / "birds525-sample" / "birds.csv", newline="", encoding="utf-8") as table:
        for row in csv.DictReader(table):
            scientific = row["scientific name"].strip().lower()
            if scientific in model_scientific_names:
                photos.append((shared / "birds525-sample" / row["filepaths"], scientific))
    return sorted(photos)


def shot(picture: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """SHOT_FRAMES frames of a picture seen by a hand-held camera: slow drift, zoom, a little rotation, noise."""
    height, width = picture.shape[:2]
    scale0 = FRAME_SIZE / min(height, width)
    drift = rng.uniform(-0.05, 0.05, size=2) * FRAME_SIZE  # over the whole shot
    zoom = rng.uniform(1.0, 1.15, size=2)  # start and end zoom
    angle = rng.uniform(-3, 3, size=2)
    frames = []
    for i in range(SHOT_FRAMES):
        f = i / (SHOT_FRAMES - 1)
        jitter = rng.normal(0, 1.5, size=2)  # hand shake, pixels
        matrix = cv2.getRotationMatrix2D(
            (width / 2, height / 2), angle[0] + f * (angle[1] - angle[0]), scale0 * (zoom[0] + f * (zoom[1] - zoom[0]))
        )
        matrix[:, 2] += (FRAME_SIZE - width) / 2 + f * drift + jitter
        frame = cv2.warpAffine(
            picture, matrix, (FRAME_SIZE, FRAME_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        noise = rng.standard_normal(frame.shape, dtype=np.float32) * 6
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return tuple(frames)


def non_bird_photo(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square part (a third to all of the short side) of a not-bird photo."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.33, 1.0))
    y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    return photo[y : y + side, x : x + side]


def synthetic_scenes(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Blank walls, sky, dark, foliage-like texture, wood-like stripes, a gradient."""
    pictures = []
    size = (FRAME_SIZE, FRAME_SIZE)
    for name, bgr in (
        ("grey wall", (128, 128, 128)),
        ("white wall", (235, 235, 230)),
        ("sky", (235, 190, 140)),
        ("dark", (20, 20, 20)),
    ):
        pictures.append((name, np.full((*size, 3), bgr, np.uint8)))
    leaves = cv2.GaussianBlur(rng.uniform(0, 1, (*size, 3)).astype(np.float32), (0, 0), 6)
    leaves = (leaves - leaves.min()) / (np.ptp(leaves) + 1e-6)
    pictures.append(("foliage", (leaves * np.array([60, 160, 70]) + np.array([10, 40, 10])).astype(np.uint8)))
    stripes = (np.sin(np.arange(FRAME_SIZE) / 4.0 + rng.uniform(0, 3, (FRAME_SIZE, 1))) + 1) / 2
    pictures.append(("wood", (stripes[..., None] * np.array([40, 70, 110]) + np.array([30, 60, 100])).astype(np.uint8)))
    ramp = np.linspace(0, 1, FRAME_SIZE)[None, :, None] * np.ones((FRAME_SIZE, 1, 1))
    pictures.append(("gradient", (ramp * np.array([200, 120, 40]) + 30).astype(np.uint8)))
    return pictures


def build_footage(shared: Path, model_scientific_names: set[str], shots: int, seed: int = 3, skip=frozenset()):
    """Yields (Scene, its frames), made one scene at a time to keep memory small: bird shots (up to `shots`,
    shuffled) each followed by a non-bird scene: every other one a part of a shared not-bird photo (cat, hot dog,
    face), the others synthetic. `skip`: bird photos (paths) left out, e.g. the ones a model was taught with."""
    rng = np.random.default_rng(seed)
    birds = [(path, name) for path, name in known_bird_photos(shared, model_scientific_names) if path not in skip]
    order = rng.permutation(len(birds))[:shots]
    photos = [(path.stem, cv2.imread(str(path))) for path in sorted((shared / "images" / "not-birds").glob("*.jpg"))]
    synthetic = synthetic_scenes(rng)
    for n, i in enumerate(order):
        path, scientific = birds[i]
        yield Scene(str(path.relative_to(shared)), scientific, SHOT_FRAMES), shot(cv2.imread(str(path)), rng)
        if n % 2 == 0:
            name, photo = photos[(n // 2) % len(photos)]
            yield Scene(name, None, SHOT_FRAMES), shot(non_bird_photo(photo, rng), rng)
        else:
            name, picture = synthetic[(n // 2) % len(synthetic)]
            yield Scene(name, None, SHOT_FRAMES), shot(picture, rng)


def classify_footage(model: Path, footage):
    """The scenes, raw probabilities per frame (frames x classes), and the classifier's labels, background and
    threshold."""
    from birdcam.models.classifier import Classifier

    scenes, probabilities = [], []
    with Classifier.from_path(model, num_threads=2) as classifier:
        for scene, frames in footage:
            scenes.append(scene)
            probabilities.extend(classifier.classify(frame).probabilities for frame in frames)
        return scenes, np.stack(probabilities), classifier.labels, classifier.background_index, classifier.threshold


def shown_on_screen(
    probabilities: np.ndarray, labels, background_index: int | None, options, every: int = 1
) -> list[int | None]:
    """The label on screen for each frame when every `every`-th frame is classified (the display keeps the newest
    result)."""
    from birdcam.scene.smoothing import LabelSmoother

    smoother = LabelSmoother(labels, background_index, options)
    shown = []
    for n in range(len(probabilities)):
        if n % every == 0:
            index = smoother.update(probabilities[n], n / FPS).index
        shown.append(index)
    return shown


@dataclass(frozen=True)
class Quality:
    """Label quality of one way of showing labels."""

    changes_per_shot: float
    """Mean number of times the shown label changes between consecutive frames of one bird shot."""
    non_bird_as_bird: float
    """Fraction of non-bird frames on which a bird is shown."""
    bird_accuracy: float
    """Fraction of bird frames on which the right species is shown."""


UNKNOWN_BIRD = -1
"""A shown bird of a species the model does not know (the scene pass's Bird with no label)."""


def scene_pass_shown(model: Path, detector_path: Path | None, footage, every: int = 1) -> list[int | None]:
    """The top bird's class index per frame through ScenePass (UNKNOWN_BIRD for an unknown species, None for
    no bird), with the detector or whole-frame only, classifying every `every`-th frame."""
    from birdcam.models.classifier import Classifier
    from birdcam.scene.factory import open_detector
    from birdcam.scene.scene_pass import ScenePass

    classifier = Classifier.from_path(model, num_threads=2)
    detector = open_detector(detector_path, num_threads=2) if detector_path is not None else None
    shown: list[int | None] = []
    with ScenePass(classifier, detector) as scene:
        n = 0
        for _, frames in footage:
            for frame in frames:
                if n % every == 0:
                    top = scene.process(frame, n / FPS).top
                    index = None if top is None else UNKNOWN_BIRD if top.index is None else top.index
                shown.append(index)
                n += 1
    return shown


def measure(shown: list[int | None], footage: list[Scene], labels) -> Quality:
    changes, shots, non_bird, non_bird_as_bird, bird, right = 0, 0, 0, 0, 0, 0
    start = 0
    for scene in footage:
        window = shown[start : start + scene.length]
        start += scene.length
        if scene.scientific_name is None:
            non_bird += len(window)
            non_bird_as_bird += sum(index is not None for index in window)
            continue
        shots += 1
        changes += sum(a != b for a, b in zip(window, window[1:]))
        bird += len(window)
        right += sum(
            index is not None
            and index != UNKNOWN_BIRD
            and labels[index].scientific_name.lower() == scene.scientific_name
            for index in window
        )
    return Quality(changes / shots, non_bird_as_bird / non_bird, right / bird)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--shots", type=int, default=100, help="bird shots (each followed by a non-bird scene)")
    parser.add_argument("--seed", type=int, default=3, help="random seed of the footage (motion, noise, order)")
    parser.add_argument(
        "--detector", help='also run the scene pass with this detector ("starter": shared\'s YOLOX-nano)'
    )
    parser.add_argument(
        "--model", type=Path, help="classify the same footage (the starter's species) with this model instead"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from birdcam.models.labels import read_labels
    from birdcam.scene.smoothing import SmoothingOptions

    starter = args.shared / STARTER
    names = {label.scientific_name.lower() for label in read_labels(starter.parent / "labels.txt")}
    model = args.model or starter
    started = time.perf_counter()
    footage, probabilities, labels, background, threshold = classify_footage(
        model, build_footage(args.shared, names, args.shots, args.seed)
    )
    frames = len(probabilities)
    print(
        f"footage: {sum(s.scientific_name is not None for s in footage)} bird shots + "
        f"{sum(s.scientific_name is None for s in footage)} non-bird scenes, {frames} frames at {FPS:g} fps "
        f"({time.perf_counter() - started:.0f} s to build and classify)"
    )
    smoothing = SmoothingOptions(threshold=threshold)
    print(f"model threshold {threshold:g}; {smoothing}")
    ways = (
        ("frame by frame", SmoothingOptions(enabled=False, threshold=threshold, background_limit=1.0)),
        ("  + background limit", SmoothingOptions(enabled=False, threshold=threshold)),
        ("smoothed", smoothing),
    )
    print(f"{'':38}{'changes/shot':>14}{'non-bird as bird':>18}{'bird accuracy':>15}")
    for every in (1, 3):
        qualities = [
            measure(shown_on_screen(probabilities, labels, background, options, every), footage, labels)
            for _, options in ways
        ]
        for (name, _), quality in zip(ways, qualities):
            print(
                f"{name + f', {FPS / every:g} fps classified':38}{quality.changes_per_shot:14.2f}"
                f"{quality.non_bird_as_bird:17.2%}{quality.bird_accuracy:15.1%}"
            )
        baseline, smoothed = qualities[0], qualities[-1]
        print(
            f"  smoothed vs frame by frame: changes "
            f"x{smoothed.changes_per_shot / max(baseline.changes_per_shot, 1e-9):.2f} "
            f"(target < 0.5), non-bird as bird {smoothed.non_bird_as_bird:.2%} (target < 1%), "
            f"accuracy cost {100 * (baseline.bird_accuracy - smoothed.bird_accuracy):.1f} points (target <= a few)"
        )
    if args.detector:
        detector = args.shared / STARTER_DETECTOR if args.detector == "starter" else Path(args.detector)
        for every in (1, 2):
            for name, path in (("scene pass, whole frame only", None), ("scene pass with the detector", detector)):
                shown = scene_pass_shown(model, path, build_footage(args.shared, names, args.shots, args.seed), every)
                quality = measure(shown, footage, labels)
                print(
                    f"{name + f', {FPS / every:g} fps':38}{quality.changes_per_shot:14.2f}"
                    f"{quality.non_bird_as_bird:17.2%}{quality.bird_accuracy:15.1%}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
