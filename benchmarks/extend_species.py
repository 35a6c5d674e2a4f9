"""`birdcam train --extend` on the 525 Kaggle species: accuracy against the starter alone and naive imprinting,
non-birds, close-ups, time and size.

    .venv/bin/python benchmarks/extend_species.py [--shared ../shared] [--shots 100]

Photo 1 of each species of shared/birds525-refs teaches and photo 2 tests, then the other way round; the
starter alone and naive imprinting (new rows = normalised feature x 0.55 of the mean row length, no bias)
are measured on the same photos, through the TFLite models the app runs; a photo is named right when the
top label names its species by scientific or common name (the two sets spell some species differently).
Also the four species of tests/training taught alone (nothing dilutes their probability on a non-bird).
Targets (one photo a species): species the starter did not know >= 0.60, species it knew >= 0.85, all
>= 0.70; the shared non-bird photos and bird-free scene crops: no more named birds than the starter
alone; label_quality's close-ups within 1 point (also on the close-up photos the extension was not taught
with). Timing: `birdcam train --extend` of the starter with all 1,050 photos, run as a user runs it, from
a fresh feature cache and then a warm one.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"
THRESHOLD = 0.3
FEW_SPECIES = ("AMETHYST WOODSTAR", "ASIAN DOLLARD BIRD", "CAPE GLOSSY STARLING", "WATTLED CURASSOW")
"""Four species the starter does not know, taught alone: nothing dilutes their probability on a non-bird."""


def teaching_folder(refs: Path, root: Path, photos: tuple[str, ...], species_names=None) -> Path:
    """A Kaggle-layout folder of links to the chosen photos of each species (all, or `species_names`), with its
    birds.csv."""
    (root / "valid").mkdir(parents=True)
    (root / "birds.csv").write_bytes((refs / "birds.csv").read_bytes())
    every = sorted(p.name for p in (refs / "valid").iterdir() if p.is_dir())
    for species in species_names or every:
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


def test_photos(refs: Path, photo: str) -> list[tuple[Path, tuple[str, str]]]:
    """(photo, (scientific name, common name)) of every species."""
    with (refs / "birds.csv").open(newline="") as handle:
        scientific = {row["labels"]: row["scientific name"] for row in csv.DictReader(handle)}
    return [
        (refs / "valid" / species / photo, (scientific[species], species))
        for species in sorted(p.name for p in (refs / "valid").iterdir() if p.is_dir())
    ]


def held_out_photos(sample: Path) -> list[tuple[Path, tuple[str, str]]]:
    """Photos 3-5 of each species of shared/birds525-sample: its photos 1 and 2 are the reference photos, so these
    75 photos (25 species, 20 the starter knew) were never taught."""
    with (sample / "birds.csv").open(newline="") as handle:
        scientific = {row["labels"]: row["scientific name"] for row in csv.DictReader(handle)}
    return [
        (path, (scientific[path.parent.name], path.parent.name))
        for path in sorted((sample / "valid").glob("*/*.jpg"))
        if path.name not in ("1.jpg", "2.jpg")
    ]


def label_keys(label) -> set[str]:
    """The names a label gives, compared as `--extend` and the species lists compare names."""
    from birdcam.models.species import name_key

    return {name_key(name) for name in (label.scientific_name, label.common_name) if name}


def names_species(label, names: tuple[str, str]) -> bool:
    """A label names the species when its scientific or its common name is one of the species' names: the Kaggle
    set and the starter spell some species differently (Anas/Mareca americana, Grus/Antigone canadensis)."""
    from birdcam.models.species import name_key

    return bool(label_keys(label) & {name_key(name) for name in names if name})


def accuracy(model: Path, photos, starter_labels, labels_path: Path | None = None) -> tuple[float, float, float]:
    """Top-1 on the species the starter knew (it has a label naming them), the ones it did not, and all."""
    from birdcam.models.classifier import Classifier
    from birdcam.models.image import read_image
    from birdcam.models.species import name_key

    starter_names = set().union(*(label_keys(label) for label in starter_labels if not label.is_background))
    right: dict[bool, list[bool]] = {True: [], False: []}
    with Classifier.from_path(model, labels_path=labels_path, top_k=1) as classifier:
        for path, names in photos:
            knew = bool(starter_names & {name_key(name) for name in names if name})
            top = classifier.labels[classifier.classify(read_image(path)).top.index]
            right[knew].append(names_species(top, names))
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


def close_ups(model: Path, shared: Path, shots: int, labels_path: Path, skip=frozenset()) -> tuple[float, float]:
    """label_quality's footage (the starter's species), smoothed, every frame classified: (bird accuracy, non-bird
    frames shown as a bird). `skip`: bird photos left out."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import label_quality

    from birdcam.models.labels import read_labels
    from birdcam.scene.smoothing import SmoothingOptions

    names = {label.scientific_name.lower() for label in read_labels(labels_path)}
    footage, probabilities, labels, background, threshold = label_quality.classify_footage(
        model, label_quality.build_footage(shared, names, shots, 3, skip=skip)
    )
    shown = label_quality.shown_on_screen(probabilities, labels, background, SmoothingOptions(threshold=threshold), 1)
    quality = label_quality.measure(shown, footage, labels)
    return quality.bird_accuracy, quality.non_bird_as_bird


def timed_cli(model: Path, data: Path, out: Path, cache: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `birdcam train --extend MODEL --data DIR --no-install` as a user runs it (a
    fresh interpreter), on the feature cache under `cache` ($BIRDCAM_CACHE_DIR). On a shared machine the CPU time
    says what the run costs; the wall time how long it took there."""
    command = [sys.executable, "-m", "birdcam", "train", "--extend", str(model), "--data", str(data)]
    command += ["--out", str(out), "--no-install"]
    environment = {**os.environ, "BIRDCAM_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
        features = cache / "features"
        # The labels.txt beside the starter gives the common names, as in the app's cache.
        model = scratch / "starter" / starter.name
        model.parent.mkdir()
        os.symlink(starter, model)
        os.symlink(labels_path, model.parent / "labels.txt")
        both = teaching_folder(refs, scratch / "both", ("1.jpg", "2.jpg"))
        for run in ("cold" if args.cache is None else "given", "warm"):
            wall, cpu = timed_cli(model, both, scratch / f"all-{run}", cache)
            print(f"birdcam train --extend the starter, all 1,050 photos, {run} cache: {wall:.1f} s ({cpu:.1f} s CPU)")
        print(f"load average {os.getloadavg()[0]:.1f} after the timings")
        everything = scratch / "all-warm" / "model.tflite"
        crops = non_bird_crops(args.shared)
        print(f"\n{'':44}{'knew':>8}{'did not':>9}{'all':>8}{'non-birds named':>17}")
        for teach, test in (("1.jpg", "2.jpg"), ("2.jpg", "1.jpg")):
            folder = teaching_folder(refs, scratch / f"teach-{teach}", (teach,))
            photos = test_photos(refs, test)
            options = ExtendOptions(model, folder, scratch / f"run-{teach}", install=False, cache=features)
            extended = extend(options).model
            naive = naive_model(model, labels_path, folder, features, scratch / f"naive-{teach}.tflite")
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
        few = teaching_folder(refs, scratch / "few", ("1.jpg", "2.jpg"), FEW_SPECIES)
        taught = extend(ExtendOptions(model, few, scratch / "run-few", install=False, cache=features)).model
        print(f"{'4 species taught alone (both photos)':44}{'':25}{named_birds(taught, crops):>10} of {len(crops)}")
        print(
            f"{'starter + all 525 species (both photos)':44}{'':25}{named_birds(everything, crops):>10} of {len(crops)}"
        )
        sample = args.shared / "birds525-sample"
        held_out = held_out_photos(sample)
        print(f"\nheld out: photos 3-5 of birds525-sample ({len(held_out)} photos never taught), top-1")
        for name, path, labels in (
            ("starter alone", starter, labels_path),
            ("starter + all 525 species (both photos)", everything, None),
        ):
            knew, new, every = accuracy(path, held_out, starter_labels, labels)
            print(f"{name:44}{knew:8.3f}{new:9.3f}{every:8.3f}")
        if args.shots:
            taught_photos = frozenset(
                sample / "valid" / species / photo
                for species in os.listdir(refs / "valid")
                for photo in ("1.jpg", "2.jpg")
            )  # the sample's photos 1 and 2 are the reference photos the extension was taught with
            print(f"\nclose-ups (label_quality, up to {args.shots} shots, smoothed): bird accuracy, non-birds shown")
            for footage, skip in (("all photos", frozenset()), ("photos 3-5 only (not taught)", taught_photos)):
                for name, path in (("starter alone", starter), ("starter + all 525 species", everything)):
                    bird, non_bird = close_ups(path, args.shared, args.shots, labels_path, skip)
                    print(f"  {footage:30} {name:28} {bird:.1%}  {non_bird:.2%}")
    shipped = sorted((REPO / "birdcam" / "models" / "extensions").glob("*"))
    if shipped:
        print(f"\nshipped extension: {', '.join(f'{p.name} {p.stat().st_size:,} bytes' for p in shipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
