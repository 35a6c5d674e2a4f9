"""Species lists on the Kaggle sample: the starter model unmasked vs masked to the sample's species.

The allow list is the sample's birds.csv scientific names, one a line, read like `--allow FILE`.
Each photo's truth is the classes its own scientific name matches (as the list matcher does: a genus
such as "GEOCOCCYX" stands for its species). For the species the model knows, the species only its
genus matches, and the ones it does not know: top-1 accuracy, the share named right and passing the
threshold, the share named as a wrong bird, and "no bird". Three ways: unmasked, masked as the engine
does it (not renormalized) and masked then renormalized (what the engine chose not to do). Last, the
cost of the mask: classify() time masked / unmasked, rounds interleaved.

    .venv/bin/python benchmarks/species_list.py [--shared ../shared] [--rounds 5]

Calibration (issue 8): masking the starter model to the 525 Kaggle species lifted top-1 from 0.85
to 0.91 on photos not in the repo; the sample's list has only 25 species, so it masks much more.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"

from birdcam.models.classifier import Classifier  # noqa: E402
from birdcam.models.species import read_species_lists, species_mask  # noqa: E402


def sample_rows(sample: Path) -> list[dict]:
    with open(sample / "birds.csv", newline="", encoding="utf-8") as table:
        return sorted(csv.DictReader(table), key=lambda row: row["filepaths"])


def truth_classes(classifier: Classifier, scientific: str) -> np.ndarray:
    """Indices of the classes a photo's scientific name matches (empty: a species the model does not know)."""
    keep, report = species_mask(classifier.labels, classifier.background_index, None, [scientific])
    if report.unknown or keep is None:
        return np.array([], int)
    return np.flatnonzero(~keep)  # the deny list of that one name masks exactly its classes


def outcome(top: int, score: float, truth: np.ndarray, classifier: Classifier) -> tuple[bool, bool, bool]:
    """(top-1 right, named right and passing the threshold, named as a wrong bird) for one photo."""
    right = top in truth
    bird = top != classifier.background_index and score >= classifier.threshold
    return right, right and bird, bird and not right


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared"))
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds, masked and unmasked interleaved")
    args = parser.parse_args(argv)
    sample = args.shared / "birds525-sample"
    rows = sample_rows(sample)
    photos = [cv2.imread(str(sample / row["filepaths"])) for row in rows]
    scientific_names = list(dict.fromkeys(row["scientific name"] for row in rows))

    with tempfile.TemporaryDirectory() as scratch:
        list_file = Path(scratch) / "sample-species.txt"
        list_file.write_text(
            "# the sample's species, from its birds.csv\n" + "\n".join(scientific_names) + "\n", encoding="utf-8"
        )
        lists = read_species_lists(allow=list_file)

    model = args.shared / STARTER
    with (
        Classifier.from_path(model, num_threads=2) as unmasked,
        Classifier.from_path(model, num_threads=2, allow=lists.allow) as masked,
    ):
        report = masked.species_filter
        groups: dict[str, list] = {"known species": [], "known by genus only": [], "unknown species": []}
        for row, photo in zip(rows, photos):
            truth = truth_classes(unmasked, row["scientific name"])
            plain, filtered = unmasked.classify(photo), masked.classify(photo)
            total = float(filtered.probabilities.sum())  # what the mask leaves; renormalizing divides by it
            if truth.size == 0:
                group = "unknown species"
            elif " " not in row["scientific name"].strip():
                group = "known by genus only"
            else:
                group = "known species"
            groups[group].append(
                (
                    outcome(plain.top.index, plain.top.score, truth, unmasked),
                    outcome(filtered.top.index, filtered.top.score, truth, masked),
                    outcome(filtered.top.index, filtered.top.score / total if total > 0 else 0.0, truth, masked),
                    total,
                )
            )

        total_ms = {"unmasked": [], "masked": []}
        postprocess_ms = {"unmasked": [], "masked": []}
        for _ in range(args.rounds):
            for photo in photos:  # each photo through both, one after the other: both see the same load
                for name, classifier in (("unmasked", unmasked), ("masked", masked)):
                    start = time.perf_counter()
                    result = classifier.classify(photo)
                    total_ms[name].append((time.perf_counter() - start) * 1e3)
                    postprocess_ms[name].append(result.timings.postprocess_ms)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"model {model.name}, threshold {unmasked.threshold:g}"
    )
    print(f"allow list: {report.listed} names from birds.csv; {report.masked} of {unmasked.num_classes} classes masked")
    print(f"warning: {report.warning}")
    print()
    print(f"{'photos':30}{'mode':24}{'top-1':>7}{'right & bird':>14}{'wrong bird':>12}{'no bird':>9}")
    modes = ("unmasked", "masked (engine)", "masked, renormalized")
    for group, results in (*groups.items(), ("all", [r for rs in groups.values() for r in rs])):
        if not results:
            continue
        for m, mode in enumerate(modes):
            outcomes = np.array([r[m] for r in results], float)
            no_bird = 1.0 - outcomes[:, 1].mean() - outcomes[:, 2].mean()
            label = f"{group} ({len(results)})" if m == 0 else ""
            print(
                f"{label:30}{mode:24}{outcomes[:, 0].mean():7.3f}{outcomes[:, 1].mean():14.3f}"
                f"{outcomes[:, 2].mean():12.3f}{no_bird:9.3f}"
            )
        kept_mass = np.median([r[3] for r in results])
        print(f"{'':30}{'median probability left by the mask':38} {kept_mass:.3f}")
    print()
    for what, figures in (("classify()", total_ms), ("its postprocessing (mask, top-k)", postprocess_ms)):
        plain_ms, masked_ms = np.median(figures["unmasked"]), np.median(figures["masked"])
        print(
            f"{what}: unmasked {plain_ms:.3f} ms, masked {masked_ms:.3f} ms per photo (median over "
            f"{args.rounds} rounds of {len(photos)}); masked / unmasked = {masked_ms / plain_ms:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
