"""The model card: what the trainer writes is what the engine reads; unknown keys survive; bad values are one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tiny_models

from birdcam.errors import ModelError
from birdcam.models.card import ModelCard, Normalization
from birdcam.models.classifier import Classifier

TRAINER_CARD = {
    "name": "vit-run-3",
    "backbone": "vit_b32",
    "classes": ["AMERICAN ROBIN", "BLACK-THROATED SPARROW"],
    "scientific_names": ["TURDUS MIGRATORIUS", ""],
    "input_size": [24, 32],
    "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    "resize": "stretch",
    "quantization": "dynamic",
    "size_bytes": 12345,
    "conversion_s": 1.25,
    "metrics": {"test_accuracy": 0.98, "best_epoch": 4},
    "threshold": 0.42,
    "keras_agreement": 1.0,
    "replicas": 1,
    "run": "/runs/vit-run-3",
}
"""A card in the layout `birdcam train` writes."""


def test_a_trainer_card_reads_typed_and_writes_back_the_same_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(TRAINER_CARD))
    card = ModelCard.read(path)
    assert card.input_size == (24, 32)
    assert card.normalization == Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert card.threshold == 0.42 and card.resize == "stretch" and card.metrics["best_epoch"] == 4
    assert card.classes == ("AMERICAN ROBIN", "BLACK-THROATED SPARROW")
    card.write(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text(encoding="utf-8")) == TRAINER_CARD


def test_keys_this_version_does_not_know_are_kept(tmp_path):
    old = {**TRAINER_CARD, "teacher": {"model": "big.tflite", "agreement": 0.97}, "notes": ["kept"]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    card = ModelCard.read(path)
    assert card.extra == {"teacher": {"model": "big.tflite", "agreement": 0.97}, "notes": ["kept"]}
    assert card.to_dict() == old


def test_a_bare_card_leaves_everything_unset_and_a_scalar_normalization_spreads():
    card = ModelCard.from_dict({"normalization": {"mean": 127.5, "std": [127.5]}, "threshold": None})
    assert card.normalization == Normalization((127.5,) * 3, (127.5,) * 3)
    assert card.threshold is None and card.input_size is None and card.classes == ()
    assert ModelCard().to_dict() == {}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"threshold": 1.5}, "'threshold' is 1.5, not between 0 and 1"),
        ({"threshold": "high"}, "'threshold' is \"high\", not a number"),
        ({"resize": "zoom"}, "'resize' is \"zoom\", not one of crop, letterbox, stretch"),
        ({"input_size": [224]}, "'input_size' is [224], not [height, width]"),
        ({"normalization": {"mean": [0, 0, 0], "std": [1, 0, 1]}}, "its std is 0"),
        ({"normalization": {"mean": [0, 0]}}, "not one number or three"),
        ({"classes": "ROBIN"}, "'classes' is \"ROBIN\", not a list of strings"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_card_and_the_field(tmp_path, fields, named):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(ModelError) as raised:
        ModelCard.read(path)
    message = str(raised.value)
    assert named in message and str(path) in message and "\n" not in message


def test_a_card_that_is_not_a_json_object_is_refused(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelCard.read(tmp_path / "a.json")
    with pytest.raises(ModelError, match="JSON object"):
        ModelCard.read(tmp_path / "b.json")


def test_the_classifier_runs_as_its_card_says(tiny, tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copyfile(tiny["none"], model)
    frame = np.ascontiguousarray(np.broadcast_to(tiny_models.COLOURS_RGB[1][::-1], (24, 32, 3)), np.uint8)
    with Classifier.from_path(model) as bare:
        assert bare.card is None and bare.name == "m" and bare.resize == "crop"
        assert np.abs(bare.preprocess(frame)).max() <= 1.0  # no card: a float model takes [-1, 1]
    ModelCard(name="colours", threshold=0.61, resize="letterbox", normalization=Normalization()).write(
        ModelCard.path_for(model)
    )
    with Classifier.from_path(model) as carded:
        assert carded.card is not None and carded.card.name == "colours"
        assert carded.name == "colours" and carded.threshold == 0.61 and carded.resize == "letterbox"
        # Mean 0, std 1: the model takes the RGB pixels as they are.
        np.testing.assert_array_equal(carded.preprocess(frame)[0], frame[:, :, ::-1].astype(np.float32))
