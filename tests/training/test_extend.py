"""`birdcam train --extend` on real material: the starter model taught species of the shared Kaggle photos."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from birdcam.cli import main
from birdcam.models.classifier import Classifier
from birdcam.models.image import read_image
from birdcam.models.labels import embedded_labels
from birdcam.training.extend import ExtendOptions, extend

NEW_SPECIES = ("AMETHYST WOODSTAR", "ASIAN DOLLARD BIRD", "CAPE GLOSSY STARLING", "WATTLED CURASSOW")
"""Four species of the Kaggle sample the starter model does not know."""


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for the module's extensions (each test's own user cache would start cold)."""
    return tmp_path_factory.mktemp("features")


def teaching_folder(shared: Path, root: Path, species, photos=("1.jpg", "2.jpg"), extra_rows=()) -> Path:
    """A Kaggle-layout folder with the chosen reference photos of the species and their birds.csv rows."""
    refs = shared / "birds525-refs"
    with (refs / "birds.csv").open(newline="") as handle:
        rows = [row for row in csv.reader(handle)]
    (root / "valid").mkdir(parents=True)
    kept = [rows[0]] + [row for row in rows[1:] if row[2] in species] + list(extra_rows)
    with (root / "birds.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(kept)
    for name in species:
        (root / "valid" / name).mkdir()
        for photo in photos:
            shutil.copyfile(refs / "valid" / name / photo, root / "valid" / name / photo)
    return root


@pytest.fixture(scope="module")
def extended(shared_dir, starter_model, feature_cache, tmp_path_factory):
    """The starter extended with the four new species' two reference photos each, and what extend() said."""
    folder = teaching_folder(shared_dir, tmp_path_factory.mktemp("teach"), NEW_SPECIES)
    out = tmp_path_factory.mktemp("runs") / "four"
    return extend(ExtendOptions(starter_model, folder, out, install=False, cache=feature_cache))


def test_extending_the_starter_names_the_new_species_on_other_photos(extended, shared_dir):
    assert len(extended.added) == 4 and extended.refined == ()
    sample = shared_dir / "birds525-sample" / "valid"
    right = 0
    with Classifier.from_path(extended.model, top_k=1) as classifier:  # a fresh interpreter, labels from the file
        assert classifier.num_classes == 965 + 4
        assert classifier.labels[964].is_background  # background kept in its place
        assert "Eurystomus orientalis (Asian Dollard Bird)" in [label.text for label in classifier.labels]
        for species in NEW_SPECIES:
            for photo in ("3.jpg", "4.jpg", "5.jpg"):  # not the reference photos
                top = classifier.classify(read_image(sample / species / photo)).top
                right += classifier.labels[top.index].common_name.upper() == species
    assert right >= 9, f"{right} of 12 held-out photos named"


def test_a_known_species_keeps_its_name(extended, shared_dir, starter_model):
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    with (
        Classifier.from_path(extended.model) as after,
        Classifier.from_path(starter_model) as before,
    ):
        index = after.classify(duck).top.index
        assert (
            index == before.classify(duck).top.index and after.labels[index].text == "Aix galericulata (Mandarin Duck)"
        )


def test_non_birds_the_starter_puts_on_background_stay_background(extended, shared_dir, starter_model):
    """Four species taught from two photos each take none of the shared non-bird and bird-free scene photos (whole,
    and their middle), where the starter says background: without the negatives' cap the cat was a Wattled
    Curassow."""
    photos = sorted((shared_dir / "images" / "not-birds").glob("*.jpg")) + sorted(
        (shared_dir / "images" / "scenes").glob("*.jpg")
    )
    pictures = []
    for path in photos:
        image = read_image(path)
        height, width = image.shape[:2]
        pictures += [
            (path.name, image),
            (f"{path.name} middle", image[height // 4 : -height // 4, width // 4 : -width // 4]),
        ]
    with Classifier.from_path(extended.model) as after, Classifier.from_path(starter_model) as before:
        clean = [name for name, picture in pictures if not before.classify(picture).is_bird]
        named = {name: after.classify(picture) for name, picture in pictures}
    assert "cat.jpg" in clean and len(clean) >= 12
    taken = {name: named[name].top.label.text for name in clean if named[name].is_bird}
    assert taken == {}, taken


def test_the_file_runs_in_a_fresh_interpreter_with_plain_litert_and_its_labels(extended, shared_dir):
    """No birdcam in the other process: LiteRT and the zip of labels appended to the model, as any app reads it."""
    script = (
        "import sys, zipfile, numpy as np, cv2\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        "model, photo = sys.argv[1:]\n"
        "labels = zipfile.ZipFile(model).read('probability-labels-en.txt').decode().splitlines()\n"
        "interpreter = Interpreter(model_path=model)\n"
        "interpreter.allocate_tensors()\n"
        "image = cv2.resize(cv2.imread(photo)[:, :, ::-1], (224, 224), interpolation=cv2.INTER_AREA)\n"
        "interpreter.set_tensor(interpreter.get_input_details()[0]['index'], image[None].astype(np.uint8))\n"
        "interpreter.invoke()\n"
        "scores = interpreter.get_tensor(interpreter.get_output_details()[0]['index'])[0]\n"
        "print(len(labels), labels[int(scores.argmax())])\n"
    )
    photo = shared_dir / "birds525-sample" / "valid" / "ASIAN DOLLARD BIRD" / "4.jpg"
    done = subprocess.run(
        [sys.executable, "-c", script, str(extended.model), str(photo)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["969", *"Eurystomus orientalis (Asian Dollard Bird)".split()], done.stdout


def test_the_file_is_plain_tflite_with_its_labels_inside(extended):
    from ai_edge_litert.interpreter import Interpreter

    model = extended.model
    alone = model.parent.parent / "alone" / "extended.tflite"  # no labels.txt or card beside it
    alone.parent.mkdir()
    shutil.copyfile(model, alone)
    interpreter = Interpreter(model_path=str(alone))
    interpreter.allocate_tensors()
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 224, 224, 3]
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 969]
    labels, member = embedded_labels(alone)
    assert member == "probability-labels-en.txt" and len(labels) == 969
    assert labels[0].text == "Haemorhous cassinii (Cassin's Finch)"  # the common names came along
    card = extended.card.extra["extension"]
    assert card["added"] == list(extended.added) and card["photos"] == 8


def test_a_species_the_model_knows_merges_instead_of_duplicating(shared_dir, starter_model, feature_cache, tmp_path):
    folder = teaching_folder(shared_dir, tmp_path / "teach", ("MANDRIN DUCK", "ASIAN DOLLARD BIRD"))
    # A second folder of the same species, by its common name and no birds.csv row: one class, not two; and a new
    # species by its scientific name beside its Kaggle folder: one new class.
    shutil.copytree(folder / "valid" / "MANDRIN DUCK", folder / "valid" / "Mandarin Duck")
    shutil.copytree(folder / "valid" / "ASIAN DOLLARD BIRD", folder / "valid" / "Eurystomus orientalis")
    result = extend(ExtendOptions(starter_model, folder, tmp_path / "run", install=False, cache=feature_cache))
    assert result.added == ("Eurystomus orientalis (Asian Dollard Bird)",)
    assert result.refined == ("Aix galericulata (Mandarin Duck)",)
    with Classifier.from_path(result.model) as classifier:
        texts = [label.text for label in classifier.labels]
    assert len(texts) == 966 and texts.count("Aix galericulata (Mandarin Duck)") == 1


def test_unreadable_photos_and_empty_classes_are_noted_and_left_out(shared_dir, starter_model, tmp_path, capfd):
    folder = teaching_folder(shared_dir, tmp_path / "teach", ("ASIAN DOLLARD BIRD",))
    (folder / "valid" / "ASIAN DOLLARD BIRD" / "3.jpg").write_bytes(b"\xff\xd8 not a photo")
    (folder / "valid" / "TAKAHE").mkdir()
    code = main(["train", "--extend", str(starter_model), "--data", str(folder), "--out", str(tmp_path / "run")])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "skipped" in err and "3.jpg" in err and "TAKAHE" in err
    assert "added 1 species" in out and "from 2 photos" in out
    assert "Traceback" not in err


def test_a_model_without_a_classifier_layer_is_one_line(shared_dir, tmp_path, capfd):
    folder = teaching_folder(shared_dir, tmp_path / "teach", ("ASIAN DOLLARD BIRD",))
    model = shared_dir / "models" / "invalid" / "model_invoking_error.tflite"
    code = main(["train", "--extend", str(model), "--data", str(folder), "--out", str(tmp_path / "run")])
    err = capfd.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no classifier layer" in err, err
    assert not (tmp_path / "run" / "model.tflite").exists()


def test_it_installs_only_when_at_least_as_good_or_asked(shared_dir, starter_model, feature_cache, tmp_path):
    from birdcam import paths

    folder = teaching_folder(shared_dir, tmp_path / "teach", NEW_SPECIES)
    better = extend(ExtendOptions(starter_model, folder, tmp_path / "better", cache=feature_cache))
    # Each photo left out in turn: the starter names none of these species, the extension most.
    assert better.checked_photos == 8 and better.replaced_accuracy == 0.0 and better.accuracy >= 0.5
    assert better.installed == paths.models_dir() / "better.tflite" and better.installed.is_file()
    one_photo = teaching_folder(shared_dir, tmp_path / "one", NEW_SPECIES[:1], photos=("1.jpg",))
    unchecked = extend(ExtendOptions(starter_model, one_photo, tmp_path / "unchecked", cache=feature_cache))
    assert unchecked.installed is None and "--install" in unchecked.install_reason
    asked = extend(ExtendOptions(starter_model, one_photo, tmp_path / "asked", install=True, cache=feature_cache))
    assert asked.installed is not None and "as asked" in asked.install_reason


def test_float_and_dynamic_range_models_are_extended_alike(tmp_path):
    from ai_edge_litert.interpreter import Interpreter
    from tiny_models import build

    from birdcam.models.extension import LayerChange
    from birdcam.models.tflite_edit import TFLiteModel

    for quantize in ("none", "dynamic", "int8"):
        path = build(tmp_path / f"{quantize}.tflite", quantize=quantize, softmax=False)
        model = TFLiteModel.from_path(path)
        layer = model.classifier_layer()
        weights, bias = model.layer_arrays(layer)
        assert weights.shape == (3, 48)
        # A fourth class: the green row, longer. It must win on a green frame.
        change = LayerChange(("more green",), weights[1:2] * 1.5, bias[1:2], logit_range=(-20.0, 20.0))
        model.set_layer(layer, *change.applied_to(weights, bias), change.logit_range)
        interpreter = Interpreter(model_content=model.to_bytes())
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()[0]
        green = np.zeros(details["shape"], np.float32)
        green[..., 1] = 0.8
        if details["dtype"] != np.float32:
            scale, zero = details["quantization"]
            green = np.round(green / scale + zero).astype(details["dtype"])
        interpreter.set_tensor(details["index"], green)
        interpreter.invoke()
        output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1)
        assert output.shape == (4,) and int(np.argmax(output)) == 3, quantize
