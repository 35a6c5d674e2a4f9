"""The whole path on real photos with real names: shared/birds525-sample in single-folder mode, and the starter
model."""

from __future__ import annotations

import csv
import json
import re

import pytest
from terminal import run_in_terminal
from training_data import TINY_VIT

from birdcam.cli import main
from birdcam.models.card import ModelCard
from birdcam.util.fileio import write_atomically


@pytest.fixture(scope="module")
def sample_run(shared_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIRDCAM_MODELS_DIR", str(folder / "models"))
        code = main(
            [
                "train",
                "--data",
                str(shared_dir / "birds525-sample" / "valid"),
                "--val-split",
                "0.2",
                "--test-split",
                "0.2",
                "--out",
                str(folder / "birds"),
                *TINY_VIT,
                "--epochs",
                "3",
                "--batch-size",
                "16",
                "--learning-rate",
                "0.001",
                "--quantize",
                "none",
            ]
        )
    return {"code": code, "run": folder / "birds", "models": folder / "models"}


def _sample_names(shared_dir) -> dict[str, str]:
    with (shared_dir / "birds525-sample" / "birds.csv").open(newline="", encoding="utf-8") as handle:
        return {row["labels"]: row["scientific name"] for row in csv.DictReader(handle)}


def test_training_on_the_real_sample_exports_a_model_with_real_names(sample_run, shared_dir):
    assert sample_run["code"] == 0
    folders = sorted(p.name for p in (shared_dir / "birds525-sample" / "valid").iterdir())
    card = json.loads((sample_run["run"] / "model.json").read_text(encoding="utf-8"))
    names = _sample_names(shared_dir)
    assert card["classes"] == folders and len(folders) == 25
    assert card["scientific_names"] == [names[f] for f in folders]
    labels = (sample_run["run"] / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert labels[folders.index("AMERICAN ROBIN")] == "Turdus migratorius (AMERICAN ROBIN)"
    assert card["keras_agreement"] >= 0.99
    report = json.loads((sample_run["run"] / "report.json").read_text(encoding="utf-8"))
    assert report["test"]["images"] == 25 and len(report["test"]["per_class"]) == 25


def test_every_quantization_mode_of_the_real_sample_model_stays_close_to_keras(sample_run, shared_dir, tmp_path):
    # Three epochs on 75 photos leave the model unsure (top-1 margins of a few percent), so top-1
    # agreement is checked on the confident shapes model; here each export must give Keras's probabilities.
    import numpy as np

    from birdcam.models.classifier import Classifier
    from birdcam.models.image import read_image
    from birdcam.training import export
    from birdcam.training.dataset import ImageFolderDataset, resized_images
    from birdcam.training.model import build_model
    from birdcam.training.options import TrainOptions
    from birdcam.training.run import load_weights

    run = sample_run["run"]
    dataset = ImageFolderDataset.load(run / "dataset.json")
    model = build_model(TrainOptions.from_path(run / "run.json").model)
    load_weights(model, run / "checkpoints" / "best.weights.npz")
    images = resized_images(dataset.valid, 32)
    keras_probabilities = model.predict(images.astype(np.float32), verbose=0)
    saved = export.saved_model(model, tmp_path / "saved")
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    for mode in ("none", "dynamic", "float16", "int8"):
        path = tmp_path / mode / "birds.tflite"
        flatbuffer = export.convert(saved, mode, resized_images(dataset.train, 32))
        write_atomically(path, export.with_embedded_labels(flatbuffer, dataset.label_lines()))
        ModelCard.read(run / "model.json").write(path.with_suffix(".json"))
        difference = np.abs(export.engine_probabilities(path, images) - keras_probabilities).max()
        assert difference < 0.05, (mode, difference)
        with Classifier.from_path(path) as classifier:
            assert classifier.labels_source == "labels.txt embedded in birds.tflite"  # no sidecar beside it
            assert classifier.classify(duck).top.label.text in dataset.label_lines()


def test_predict_runs_the_exported_model_on_a_real_photo(sample_run, shared_dir, capsys):
    installed = sample_run["models"] / "birds.tflite"
    labels = (sample_run["run"] / "labels.txt").read_text(encoding="utf-8").splitlines()

    code = main(
        ["predict", "--model", str(installed), "--json", str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")]
    )

    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert code == 0
    assert record["top"][0]["label"] in labels
    assert len(record["top"]) == 3


def test_evaluate_matches_every_sample_folder_to_the_trained_labels(sample_run, shared_dir, tmp_path):
    code = main(
        [
            "evaluate",
            "--model",
            str(sample_run["run"] / "model.tflite"),
            "--data",
            str(shared_dir / "birds525-sample" / "valid"),
            "--out",
            str(tmp_path),
        ]
    )

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert code == 0
    assert report["summary"]["classes_matched"] == 25 and report["test"]["images"] == 125


def test_evaluate_scores_the_starter_model_on_the_species_it_knows(starter_model, shared_dir, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(starter_model),
            "--data",
            str(shared_dir / "birds525-sample" / "valid"),
            "--resize",
            "crop",
            "--out",
            str(tmp_path),
        ]
    )

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert code == 0
    # shared/README.md: 20 of the 25 species are known to the starter model (matched on the scientific name).
    assert report["summary"]["classes_matched"] == 20
    assert len(report["unmatched_classes"]) == 5
    assert report["test"]["images"] == 100
    assert report["test"]["accuracy"] >= 0.8
    assert "5 class folder(s) match no label" in capsys.readouterr().out


def test_evaluate_shows_progress_only_on_a_terminal(starter_model, shared_dir, tmp_path):
    args = [
        "evaluate",
        "--model",
        str(starter_model),
        "--data",
        str(shared_dir / "birds525-sample" / "valid"),
        "--resize",
        "crop",
    ]
    watched = run_in_terminal([*args, "--out", str(tmp_path / "watched")], stdout=False, stderr=True)
    assert watched.code == 0, watched.terminal
    frames = watched.terminal.split("\r")
    assert "evaluate: 0/100 images" in frames
    assert any(re.fullmatch(r"evaluate: 100/100 images, [\d.]+/s, 0:00 left *", frame) for frame in frames)
    assert frames[-1] == "" and frames[-2].strip() == ""  # cleared at the end
    assert watched.stdout.startswith("100 images of 20 classes: accuracy ") and "\r" not in watched.stdout
    piped = run_in_terminal([*args, "--out", str(tmp_path / "piped")], stdout=False, stderr=False)
    assert piped.code == 0 and piped.stderr == "" and piped.terminal == ""
    assert piped.stdout.replace(str(tmp_path / "piped"), "") == watched.stdout.replace(str(tmp_path / "watched"), "")
