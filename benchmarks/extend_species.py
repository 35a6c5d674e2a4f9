"""`birdcam train --extend` on the 525 Kaggle species: accuracy against the starter alone and naive imprinting,
non-birds, close-ups, time and size.

    .venv/bin/python benchmarks/extend_species.py [--shared ../shared] [--shots 100]

Photo 1 of each species of shared/birds525-refs teaches and photo 2 tests, then the other way round; the
starter alone and naive imprinting (new rows = normalised feature x 0.55 of the mean row length, no bias)
are measured on the same photos, through the TFLite models the app runs. Targets (one photo a species):
species the starter did not know >= 0.60, species it knew >= 0.85, all >= 0.70; the shared non-bird photos
and bird-free scene crops: no more named birds than the starter alone; label_quality's close-ups within
1 point. Timing: the starter extended with all 1,050 photos from a cold feature cache and a warm one.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"
THRESHOLD = 0.3


def teaching_folder(refs: Path, root: Path, photos: tuple[str, ...]) -> Path:
    """A Kaggle-layout folder of links to the chosen photos of each species, with its birds.csv."""
    (root / "valid").mkdir(parents=True)
    (root / "birds.csv").write_bytes((refs / "birds.csv").read_bytes())
    for species in sorted(p.name for p in (refs / "valid").iterdir() if p.is_dir()):
        (root / "valid" / species).mkdir()
        for photo in photos:
            os.symlink(refs / "valid" / species / photo, root / "valid" / species / photo)
    return root


def naive_model(starter: Path, labels_path: Path, refs_folder: Path, cache: Path, out: Path) -> Path:
    """The issue's naive imprinting: each new species' row = its photo's feature, normalised, x 0.55 of the mean
    row length; no bias; the known species' rows untouched."""
    from birdcam.models.extension import LayerChange, extended_model
    from birdcam.models.features import FeatureReader
    from birdcam.models.labels import read_labels
    from birdcam.training.extend import match_known
    from birdcam.training.teaching import TeachingSet

    teaching = TeachingSet.from_path(refs_folder)
    labels = read_labels(labels_path)
    known = match_known(teaching.classes, labels)
    with FeatureReader(starter, cache=cache, labels_path=labels_path) as reader:
        weights, _ = reader.model.layer_arrays(reader.layer)
        rows, names = [], []
        for taught, index in zip(teaching.classes, known):
            if index < 0:
                feature = np.mean([reader.photo(path).features[0] for path in taught.files], axis=0)
                rows.append(feature / np.linalg.norm(feature) * 0.55 * np.linalg.norm(weights, axis=1).mean())
                names.append(taught.label)
    change = LayerChange(
        tuple(names), np.array(rows, np.float32), np.zeros(len(rows), np.float32), logit_range=(-10, 20)
    )
    out.write_bytes(extended_model(starter, [label.text for label in labels], change))
    return out


def test_photos(refs: Path, photo: str) -> list[tuple[Path, str]]:
    """(photo, scientific name) of every species."""
    with (refs / "birds.csv").open(newline="") as handle:
        scientific = {row["labels"]: row["scientific name"] for row in csv.DictReader(handle)}
    return [
        (refs / "valid" / species / photo, scientific[species])
        for species in sorted(p.name for p in (refs / "valid").iterdir() if p.is_dir())
    ]


def accuracy(model: Path, photos, starter_labels, labels_path: Path | None = None) -> tuple[float, float, float]:
    """Top-1 on the species the starter knew, the ones it did not, and all (by scientific name)."""
    from birdcam.models.classifier import Classifier
    from birdcam.models.image import read_image

    known_names = {label.scientific_name.lower() for label in starter_labels if label.scientific_name}
    right = {True: [], False: []}
    with Classifier.from_path(model, labels_path=labels_path, top_k=1) as classifier:
        for path, scientific in photos:
            top = classifier.classify(read_image(path)).top
            right[scientific.lower() in known_names].append(top.scientific_name.lower() == scientific.lower())
    every = right[True] + right[False]
    return float(np.mean(right[True])), float(np.mean(right[False]) if right[False] else 0.0), float(np.mean(every))


def non_bird_crops(shared: Path) -> list[np.ndarray]:
    """Each shared non-bird and scene photo whole, its four quarters and its centre: 54 bird-free views."""
    from birdcam.models.image import read_image

    crops = []
    for path in sorted((shared / "images" / "not-birds").glob("*.jpg")) + sorted(
        (shared / "images" / "scenes").glob("*.jpg")
    ):
        image = read_image(path)
        height, width = image.shape[:2]
        side = min(height, width) // 2
        crops.append(image)
        crops += [image[y : y + height // 2, x : x + width // 2] for y in (0, height // 2) for x in (0, width // 2)]
        crops.append(image[(height - side) // 2 : (height + side) // 2, (width - side) // 2 : (width + side) // 2])
    return crops


def named_birds(model: Path, crops, labels_path: Path | None = None) -> int:
    from birdcam.models.classifier import Classifier

    with Classifier.from_path(model, labels_path=labels_path, threshold=THRESHOLD) as classifier:
        return sum(classifier.classify(crop).is_bird for crop in crops)


def close_ups(model: Path, shared: Path, shots: int, labels_path: Path) -> tuple[float, float]:
    """label_quality's footage, smoothed, every frame classified: (bird accuracy, non-bird frames shown as a bird)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import label_quality

    from birdcam.models.labels import read_labels
    from birdcam.scene.smoothing import SmoothingOptions

    names = {label.scientific_name.lower() for label in read_labels(labels_path)}
    footage, probabilities, labels, background, threshold = label_quality.classify_footage(
        model, label_quality.build_footage(shared, names, shots, 3)
    )
    shown = label_quality.shown_on_screen(probabilities, labels, background, SmoothingOptions(threshold=threshold), 1)
    quality = label_quality.measure(shown, footage, labels)
    return quality.bird_accuracy, quality.non_bird_as_bird


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--shots", type=int, default=100, help="label_quality shots for the close-ups (0: skip)")
    parser.add_argument(
        "--cache", type=Path, help="feature cache to use (default: a new one, so the first extension is cold)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from birdcam.models.labels import read_labels
    from birdcam.training.extend import ExtendOptions, extend

    starter = args.shared / STARTER
    labels_path = starter.parent / "labels.txt"
    starter_labels = read_labels(labels_path)
    refs = args.shared / "birds525-refs"
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start (shared machine)")
    with tempfile.TemporaryDirectory(prefix="extend-bench-") as scratch:
        scratch = Path(scratch)
        cache = args.cache or scratch / "cache"
        # The labels.txt beside the starter gives the common names, as in the app's cache.
        model = scratch / "starter" / starter.name
        model.parent.mkdir()
        os.symlink(starter, model)
        os.symlink(labels_path, model.parent / "labels.txt")
        both = teaching_folder(refs, scratch / "both", ("1.jpg", "2.jpg"))
        timings = []
        for run in ("cold" if args.cache is None else "given", "warm"):
            started = time.perf_counter()
            result = extend(ExtendOptions(model, both, scratch / f"all-{run}", install=False, cache=cache))
            timings.append((run, time.perf_counter() - started, result))
        for run, seconds, result in timings:
            print(
                f"extend the starter with all {result.photos} photos, {run} cache: {seconds:.1f} s "
                f"({len(result.added)} species added, {len(result.refined)} refined)"
            )
        crops = non_bird_crops(args.shared)
        print(f"\n{'':44}{'knew':>8}{'did not':>9}{'all':>8}{'non-birds named':>17}")
        for teach, test in (("1.jpg", "2.jpg"), ("2.jpg", "1.jpg")):
            folder = teaching_folder(refs, scratch / f"teach-{teach}", (teach,))
            photos = test_photos(refs, test)
            extended = extend(ExtendOptions(model, folder, scratch / f"run-{teach}", install=False, cache=cache)).model
            naive = naive_model(model, labels_path, folder, cache, scratch / f"naive-{teach}.tflite")
            for name, path, labels in (
                ("starter alone", starter, labels_path),
                ("naive imprinting", naive, None),
                ("birdcam train --extend", extended, None),
            ):
                knew, new, every = accuracy(path, photos, starter_labels, labels)
                print(
                    f"{f'{name} (teach {teach}, test {test})':44}{knew:8.3f}{new:9.3f}{every:8.3f}"
                    f"{named_birds(path, crops, labels):>10} of {len(crops)}"
                )
        if args.shots:
            print(f"\nclose-ups (label_quality, {args.shots} shots, smoothed): bird accuracy, non-bird frames as bird")
            for name, path, labels in (
                ("starter alone", starter, labels_path),
                ("starter + all 525 species", timings[0][2].model, None),
            ):
                bird, non_bird = close_ups(path, args.shared, args.shots, labels or labels_path)
                print(f"  {name:28} {bird:.1%}  {non_bird:.2%}")
    shipped = sorted((REPO / "birdcam" / "models" / "extensions").glob("*"))
    if shipped:
        print(f"\nshipped extension: {', '.join(f'{p.name} {p.stat().st_size:,} bytes' for p in shipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
