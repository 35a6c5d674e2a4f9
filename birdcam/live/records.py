"""Birds and classes as JSON, one form for every output (`birdcam predict --json`, `live --headless` lines).

A name the model does not give is null, never another name in its place: a label with only a scientific name
has `"common_name": null`. A bird of a species the model does not know has label "bird" and null names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from birdcam.models.classifier import Category
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird, SceneResult

UNKNOWN_SPECIES_LABEL = "bird"
"""The label of a bird whose species the model does not know."""


def names_record(label: Label | None) -> dict:
    """label, common_name, scientific_name of a label (None: a bird of a species the model does not know)."""
    if label is None:
        return {"label": UNKNOWN_SPECIES_LABEL, "common_name": None, "scientific_name": None}
    return {
        "label": label.text,
        "common_name": label.common_name or None,
        "scientific_name": label.scientific_name or None,
    }


def bird_record(bird: Bird) -> dict:
    """One bird: its track, its box in frame pixels, its names, its score, and whether it is the whole-frame pass's
    (its box is the view the classifier saw, not a box around the bird)."""
    return {
        "track": bird.track,
        "box": [int(v) for v in bird.box],
        **names_record(bird.label),
        "score": round(float(bird.score), 4),
        "whole_frame": bird.whole_frame,
    }


def in_file_pixels(result: SceneResult, scale: tuple[float, float]) -> SceneResult:
    """The result with its birds' boxes in the pixels of the photo the frame was decoded from: `scale` is the (x, y)
    factor from frame pixels to the file's (read_image_scaled), (1, 1) for a frame at full size."""
    if scale == (1.0, 1.0):
        return result
    sx, sy = scale
    birds = tuple(
        dataclasses.replace(bird, box=(round(x * sx), round(y * sy), round(w * sx), round(h * sy)))
        for bird in result.birds
        for x, y, w, h in (bird.box,)
    )
    return dataclasses.replace(result, birds=birds)


def scored(ranked: Sequence[Category]) -> list[Category]:
    """The classes of a ranking worth listing: a class at 0 (masked by a species list, or below the model's smallest
    step) is ranked only by its index and says nothing."""
    return [category for category in ranked if category.score > 0]


def class_record(index: int, labels: Sequence[Label], score: float) -> dict:
    """One class of a ranking: its output index, its names and its score."""
    return {"index": int(index), **names_record(labels[index]), "score": round(float(score), 4)}
