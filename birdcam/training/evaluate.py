"""`birdcam evaluate`: scores any TFLite classifier on a folder of class folders with the app's engine.

No TensorFlow: the engine (LiteRT) runs the model, so the figures are the ones the app would get.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from birdcam.errors import DatasetError, SourceError
from birdcam.models.species import name_key
from birdcam.training import report
from birdcam.training.dataset import class_folders, scientific_names_for
from birdcam.util.fileio import check_output_folder
from birdcam.util.progress import Progress


def match_classes(class_names: Sequence[str], scientific_names: Sequence[str], labels) -> dict[str, int]:
    """{folder class: model output} by exact label, common name, then scientific name (compared as species lists
    compare names)."""

    by_text = {label.text: i for i, label in enumerate(labels)}
    by_common = {name_key(label.common_name): i for i, label in enumerate(labels) if label.common_name}
    by_scientific = {name_key(label.scientific_name): i for i, label in enumerate(labels) if label.scientific_name}
    matches = {}
    for name, scientific in zip(class_names, scientific_names):
        index = by_text.get(name, by_common.get(name_key(name)))
        if index is None and scientific:
            index = by_scientific.get(name_key(scientific))
        if index is not None:
            matches[name] = index
    return matches


def evaluate_folder(model_path: Path, data: Path, out: Path, *, resize: str = "stretch", num_threads: int = 2) -> dict:
    """Classifies every image of the matched classes, writes report.json / report.md / confusion.png to `out`."""
    from birdcam.models.classifier import Classifier
    from birdcam.models.image import read_image

    data = Path(data).expanduser()
    if data.exists() and not data.is_dir():
        raise DatasetError(f"--data {data} is a file; give a folder with one folder per class (e.g. DATA/test).")
    if not data.is_dir():
        raise DatasetError(f"evaluation folder not found: {data}. Pass --data DIR with one folder per class.")
    check_output_folder(out, "--out")
    per_class = class_folders(data)
    if not per_class:
        raise DatasetError(
            f"{data} holds no class folders. Point --data at a folder of class folders (e.g. DATA/test)."
        )
    classes = sorted(per_class)
    with Classifier.from_path(model_path, resize=resize, num_threads=num_threads, top_k=1) as classifier:
        outputs = [label.text for label in classifier.labels]
        matches = match_classes(classes, scientific_names_for(data, classes), classifier.labels)
        if not matches:
            raise DatasetError(
                f"none of the {len(classes)} class folders in {data} matches a label of {Path(model_path).name}; "
                "name the folders like the model's labels (common or scientific names)."
            )
        probabilities, targets, files, skipped = [], [], [], []
        images = [(path, matches[name]) for name in classes if name in matches for path in per_class[name]]
        with Progress(len(images), "evaluate", "images") as progress:
            for path, target in progress.track(images):
                try:
                    image = read_image(path)
                except SourceError as error:
                    skipped.append(str(error))
                    continue
                probabilities.append(classifier.classify(image).probabilities)
                targets.append(target)
                files.append(path)
    if not targets:
        raise DatasetError(f"no readable images in the matched class folders of {data}.")
    probabilities = np.stack(probabilities)
    test = report.score(probabilities, targets, outputs, files)
    unmatched = [name for name in classes if name not in matches]
    summary = {
        "model": str(model_path),
        "data": str(data),
        "classes_matched": len(matches),
        "classes_unmatched": len(unmatched),
        "images_skipped": len(skipped),
    }
    result = {"test": test, "summary": summary, "unmatched_classes": unmatched, "skipped": skipped}
    report.write_report(out, result, f"birdcam evaluate {Path(model_path).name} on {data.name}")
    report.plot_confusion(out / "confusion.png", probabilities, targets, outputs)
    return result
