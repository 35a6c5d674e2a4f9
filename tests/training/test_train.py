"""`birdcam train` end to end on generated shapes: learning, run folder, export, card, models/, predict, evaluate,
compare."""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHAPES_EPOCHS
from terminal import terminal_streams
from training_data import SHAPE_CLASSES, TINY_VIT, make_shapes_dataset

from birdcam.cli import main
from birdcam.errors import OutputError
from birdcam.models.card import ModelCard
from birdcam.util.fileio import write_atomically

CLASSES = sorted(SHAPE_CLASSES)


def test_the_tiny_vit_learns_the_shapes(shapes_run):
    assert shapes_run["code"] == 0
    with (shapes_run["run"] / "log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(SHAPES_EPOCHS))
    assert max(float(r["val_accuracy"]) for r in rows) >= 0.9
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    report = json.loads((shapes_run["run"] / "report.json").read_text(encoding="utf-8"))
    assert report["test"]["images"] == 32
    assert report["test"]["accuracy"] >= 0.9
    assert set(report["test"]["per_class"]) == set(CLASSES)


def test_a_terminal_on_stderr_shows_each_epochs_batches_and_the_log_gets_one_line_an_epoch(shapes_run):
    frames = shapes_run["terminal"].split("\r")
    steps = 4 * 24 // 16  # the shapes' training images in batches of 16
    for epoch in range(1, SHAPES_EPOCHS + 1):
        seen = [frame for frame in frames if frame.startswith(f"epoch {epoch}/{SHAPES_EPOCHS}: ")]
        assert f"epoch {epoch}/{SHAPES_EPOCHS}: 0/{steps} batches" in seen
        assert any(
            re.fullmatch(
                rf"epoch {epoch}/{SHAPES_EPOCHS}: {steps}/{steps} batches, .* left, loss [\d.]+, accuracy [\d.]+ *",
                frame,
            )
            for frame in seen
        )
    assert frames[-1] == "" and frames[-2].strip() == ""  # cleared at the end
    log = shapes_run["log"]
    assert "\r" not in log and "\u2501" not in log and "batches" not in log  # no bar in the log
    epoch_lines = [line for line in log.splitlines() if re.match(rf"{steps}/{steps} - ", line)]
    assert len(epoch_lines) == SHAPES_EPOCHS and all("val_accuracy" in line for line in epoch_lines)


def test_a_terminal_on_stdout_gets_keras_own_progress_bar(tmp_path, monkeypatch):
    from birdcam.training import run

    monkeypatch.setattr(run, "finish", lambda *args, **kwargs: None)  # the fit is watched here; export is tested above
    data = make_shapes_dataset(tmp_path / "data", sizes={"train": 8, "valid": 2, "test": 2})  # 2 batches of 16
    with terminal_streams(stdout=True, stderr=True) as seen:
        code = main(
            [
                "train",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "run"),
                *TINY_VIT,
                "--epochs",
                "1",
                "--batch-size",
                "16",
            ]
        )
    assert code == 0
    shown = re.sub(r"\x1b\[[0-9;]*m", "", seen.terminal)  # Keras colours its bar
    assert re.search(r"\r1/2 \u2501+", shown) and re.search(r"\r2/2 \u2501{20} ", shown)
    assert "batches" not in shown  # birdcam's own line is for runs whose stdout nobody watches


def test_the_learning_rate_steps_down_every_seven_epochs(shapes_run):
    with (shapes_run["run"] / "log.csv").open(newline="") as handle:
        rates = [float(r["learning_rate"]) for r in csv.DictReader(handle)]
    assert rates[:7] == pytest.approx([1e-3] * 7)
    assert rates[7] == pytest.approx(1e-4)


def test_the_run_folder_holds_classes_labels_and_plots(shapes_run):
    run = shapes_run["run"]
    assert (run / "classes.txt").read_text(encoding="utf-8").splitlines() == CLASSES
    assert (run / "labels.txt").read_text(encoding="utf-8").splitlines() == [
        "Turdus migratorius (AMERICAN ROBIN)",
        "Amphispiza bilineata (BLACK-THROATED SPARROW)",
        "LOONEY BIRDS",
        "Syrmaticus mikado (MIKADO  PHEASANT)",
    ]
    for picture in ("curves.png", "confusion.png"):
        image = cv2.imread(str(run / picture))
        assert image is not None and image.shape[0] > 300 and image.shape[1] > 600
        assert image.std() > 10  # something was drawn
    assert (run / "checkpoints" / "best.weights.npz").is_file()
    assert (run / "checkpoints" / "last.weights.npz").is_file()


def test_the_card_describes_the_exported_model(shapes_run):
    card, run = shapes_run["card"], shapes_run["run"]
    assert card["classes"] == CLASSES
    assert card["scientific_names"] == ["TURDUS MIGRATORIUS", "AMPHISPIZA BILINEATA", "", "SYRMATICUS MIKADO"]
    assert card["input_size"] == [32, 32]
    assert card["normalization"] == {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    assert card["quantization"] == "dynamic"
    assert card["size_bytes"] == (run / "model.tflite").stat().st_size
    assert card["keras_agreement"] >= 0.99
    assert card["metrics"]["test_accuracy"] >= 0.9


def test_the_calibrated_threshold_lets_95_percent_of_correct_birds_pass(shapes_run, shapes_dataset):
    from birdcam.models.classifier import Classifier
    from birdcam.training.dataset import ImageFolderDataset, resized_images

    dataset = ImageFolderDataset.load(shapes_run["run"] / "dataset.json")
    images = resized_images(dataset.valid, 32)
    with Classifier.from_path(shapes_run["run"] / "model.tflite", resize="stretch") as classifier:
        assert classifier.threshold == shapes_run["card"]["threshold"]  # the engine takes it from the card
        results = [classifier.classify(image, color="rgb") for image in images]
    correct = [r for r, target in zip(results, dataset.valid.targets) if r.top.index == target]
    passing = [r for r in correct if r.is_bird]
    assert len(correct) >= 0.9 * len(results)
    assert len(passing) >= 0.95 * len(correct)
    assert len(passing) < len(correct) or min(r.top.score for r in correct) == pytest.approx(classifier.threshold)


def test_the_model_is_installed_with_embedded_labels(shapes_run):
    run, models = shapes_run["run"], shapes_run["models"]
    name = run.name
    installed = models / f"{name}.tflite"
    assert sorted(p.name for p in models.iterdir()) == sorted([f"{name}.tflite", f"{name}.json", f"{name}.labels.txt"])
    assert installed.read_bytes() == (run / "model.tflite").read_bytes()
    with zipfile.ZipFile(installed) as archive:
        embedded = archive.read("labels.txt").decode("utf-8").splitlines()
    assert embedded == (models / f"{name}.labels.txt").read_text(encoding="utf-8").splitlines()
    assert embedded[3] == "Syrmaticus mikado (MIKADO  PHEASANT)"


def test_predict_names_test_images_with_the_exported_model(shapes_run, shapes_dataset, capsys):
    installed = shapes_run["models"] / f"{shapes_run['run'].name}.tflite"
    images = [shapes_dataset / "test" / name / "1.jpg" for name in CLASSES]

    code = main(["predict", "--model", str(installed), "--resize", "stretch", "--json", *map(str, images)])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    named = [r["top"][0]["common_name"] for r in records]
    assert sum(n == c for n, c in zip(named, CLASSES)) >= 3
    for record in records:
        top = record["top"][0]
        # A label without a scientific name gives null in JSON, as in live --headless.
        expected = {
            "AMERICAN ROBIN": "Turdus migratorius",
            "LOONEY BIRDS": None,
            "MIKADO  PHEASANT": "Syrmaticus mikado",
        }
        assert top["scientific_name"] == expected.get(top["common_name"], "Amphispiza bilineata")


def test_evaluate_scores_the_exported_model_on_the_test_folder(shapes_run, shapes_dataset, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(shapes_run["run"] / "model.tflite"),
            "--data",
            str(shapes_dataset / "test"),
            "--out",
            str(tmp_path),
        ]
    )

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert code == 0
    assert report["summary"]["classes_matched"] == 4 and report["unmatched_classes"] == []
    assert report["test"]["images"] == 32
    assert report["test"]["accuracy"] >= 0.9
    assert "accuracy" in capsys.readouterr().out
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# birdcam evaluate model.tflite")


def test_every_quantization_mode_exports_and_agrees_with_keras(shapes_run, tmp_path):
    from birdcam.models.classifier import Classifier
    from birdcam.training import export
    from birdcam.training.dataset import ImageFolderDataset, resized_images
    from birdcam.training.model import build_model
    from birdcam.training.options import TrainOptions
    from birdcam.training.run import load_weights, representative_images

    run = shapes_run["run"]
    options = TrainOptions.from_path(run / "run.json")
    dataset = ImageFolderDataset.load(run / "dataset.json")
    model = build_model(options.model)
    load_weights(model, run / "checkpoints" / "best.weights.npz")
    images = resized_images(dataset.valid, 32)
    keras_probabilities = model.predict(images.astype(np.float32), verbose=0)
    saved = export.saved_model(model, tmp_path / "saved")
    calibration = representative_images(dataset, 32, options.seed)  # what `train --quantize int8` calibrates on
    sizes = {}
    for mode in ("none", "dynamic", "float16", "int8"):
        path = tmp_path / mode / "model.tflite"
        flatbuffer = export.convert(saved, mode, calibration)
        write_atomically(path, export.with_embedded_labels(flatbuffer, dataset.label_lines()))
        ModelCard.from_dict({**shapes_run["card"], "quantization": mode}).write(path.with_suffix(".json"))
        tflite_probabilities = export.engine_probabilities(path, images)
        assert export.agreement(keras_probabilities, tflite_probabilities) >= 0.99, mode
        sizes[mode] = len(flatbuffer)
        with Classifier.from_path(path) as classifier:
            assert classifier.input_dtype == (np.uint8 if mode == "int8" else np.float32)
            assert classifier.labels[0].text == "Turdus migratorius (AMERICAN ROBIN)"
    assert sizes["dynamic"] < sizes["none"] and sizes["float16"] < sizes["none"] and sizes["int8"] < sizes["none"]


def test_a_failed_install_keeps_the_previous_model(shapes_run, tmp_path, monkeypatch):
    from birdcam.training import export

    models = tmp_path / "models"
    export.install(shapes_run["run"], "birds", models)
    before = {p.name: p.read_bytes() for p in models.iterdir()}
    copy = shutil.copyfile

    def failing_copy(source, target):
        if Path(target).name.startswith(".birds.tflite.") and str(target).endswith(".partial"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(OutputError) as raised:
        export.install(shapes_run["run"], "birds", models)

    assert str(raised.value) == (
        f"cannot write {models / 'birds.tflite'}: No space left on device. "
        f"Run `birdcam train --resume {shapes_run['run']}` "
        "to install the model (the installed models are unchanged)."
    )
    assert {p.name: p.read_bytes() for p in models.iterdir()} == before


def test_installing_never_replaces_another_runs_model(shapes_run, tmp_path):
    from birdcam.training import export

    models = tmp_path / "models"
    runs = []
    for parent in ("garden", "feeder"):  # two run folders, both named "birds"
        run = tmp_path / parent / "birds"
        run.mkdir(parents=True)
        for name in ("model.tflite", "model.json", "labels.txt"):
            shutil.copyfile(shapes_run["run"] / name, run / name)
        (run / "labels.txt").write_text(f"labels of {parent}\n")
        runs.append(run)
    garden, feeder = runs

    assert export.install(garden, "birds", models) == models / "birds.tflite"
    garden_files = {p.name: p.read_bytes() for p in models.iterdir()}
    assert export.install(feeder, "birds", models) == models / "birds-2.tflite"

    assert {p.name: p.read_bytes() for p in models.iterdir() if p.name.startswith("birds.")} == garden_files
    assert (models / "birds-2.labels.txt").read_text() == "labels of feeder\n"
    assert json.loads((models / "birds.json").read_text())["run"] == str(garden.resolve())
    assert json.loads((models / "birds-2.json").read_text())["run"] == str(feeder.resolve())
    # A re-export replaces the run's own model, under the name it has.
    (garden / "labels.txt").write_text("labels of garden, again\n")
    (feeder / "labels.txt").write_text("labels of feeder, again\n")
    assert export.install(garden, "birds", models) == models / "birds.tflite"
    assert export.install(feeder, "birds", models) == models / "birds-2.tflite"
    assert sorted(p.name for p in models.iterdir()) == sorted(
        f"birds{n}{s}" for n in ("", "-2") for s in (".tflite", ".json", ".labels.txt")
    )
    assert (models / "birds.labels.txt").read_text() == "labels of garden, again\n"
    assert (models / "birds-2.labels.txt").read_text() == "labels of feeder, again\n"


def test_compare_draws_several_runs_on_one_chart(shapes_run, tmp_path, capsys):
    chart = tmp_path / "chart.png"

    code = main(["compare", str(shapes_run["run"]), str(shapes_run["run"]), "--out", str(chart)])

    image = cv2.imread(str(chart))
    assert code == 0 and image is not None and image.shape[1] > 600
    assert main(["compare", str(tmp_path), "--out", str(chart)]) == 2
    assert "has no log.csv" in capsys.readouterr().err


def test_compare_into_a_folder_or_without_a_file_ending_says_where_the_chart_went(shapes_run, tmp_path, capsys):
    folder = tmp_path / "charts"
    folder.mkdir()

    assert main(["compare", str(shapes_run["run"]), "--out", str(folder)]) == 0
    assert capsys.readouterr().out == f"chart: {folder / 'compare.png'}\n"
    assert main(["compare", str(shapes_run["run"]), "--out", str(tmp_path / "vit-vs-inception")]) == 0
    assert capsys.readouterr().out == f"chart: {tmp_path / 'vit-vs-inception.png'}\n"

    assert cv2.imread(str(folder / "compare.png")) is not None
    assert cv2.imread(str(tmp_path / "vit-vs-inception.png")) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts", "vit-vs-inception.png"]


def test_outputs_that_cannot_be_written_are_refused_in_one_line_before_the_work(
    shapes_run, starter_model, shared_dir, tmp_path, capsys
):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    cases = [
        (
            [
                "evaluate",
                "--model",
                str(starter_model),
                "--data",
                str(shared_dir / "birds525-sample" / "valid"),
                "--out",
                str(a_file),
            ],
            f"--out {a_file} is a file, not a folder; give a folder (it may not exist yet).",
        ),
        (
            ["compare", str(shapes_run["run"]), "--out", str(a_file / "chart.png")],
            f"cannot write --out {a_file / 'chart.png'}: {a_file} is a file, not a folder.",
        ),
        (
            ["compare", str(shapes_run["run"]), "--out", str(tmp_path / "chart.txt")],
            f"--out {tmp_path / 'chart.txt'}: matplotlib cannot write .txt files; "
            "end the name with .png, .svg or .pdf.",
        ),
        (
            ["train", "--data", str(shared_dir / "birds525-sample"), "--out", str(a_file)],
            f"--out {a_file} is a file, not a folder; give a folder (it may not exist yet).",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert err == f"birdcam: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert a_file.read_text() == "keep me"


def test_an_export_that_disagrees_with_keras_is_kept_out_of_models(tmp_path, monkeypatch, capsys):
    from birdcam.training import export

    monkeypatch.setattr(export, "MIN_AGREEMENT", 1.01)  # no export can reach it
    data = make_shapes_dataset(tmp_path / "data", sizes={"train": 4, "valid": 2, "test": 2})

    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY_VIT, "--epochs", "1"])

    out, err = capsys.readouterr()
    assert code == 1
    assert "not copied to models/" in err
    assert "Try --quantize float16 or none." in err and "--quantize dynamic" not in err  # dynamic was used
    assert re.search(r"agrees with Keras on \d+\.\d%, threshold (\d\.\d\d|not calibrated \(.*\))\n", out), out
    assert (tmp_path / "run" / "model.tflite").is_file()
    assert list(Path(os.environ["BIRDCAM_MODELS_DIR"]).iterdir()) == []


def test_the_advice_after_a_failed_export_never_names_the_mode_that_failed():
    from birdcam.cli.train import describe_threshold
    from birdcam.training import export

    for mode in ("int8", "dynamic", "float16", "none"):
        assert f"--quantize {mode}" not in export.fallback_advice(mode)
    assert describe_threshold(0.3156939744949341) == "threshold 0.32"
    assert (
        describe_threshold(None)
        == "threshold not calibrated (no validation image was named correctly; the app uses 0.30)"
    )


def test_train_checks_its_arguments_before_loading_tensorflow(shapes_dataset, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    script = (
        "import json, sys\n"
        "from birdcam.cli import main\n"
        "codes = [main(json.loads(argv)) for argv in sys.argv[1:]]\n"
        "print(json.dumps({'codes': codes, 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    cases = [
        ["train", "--data", str(tmp_path / "missing")],
        ["train", "--data", str(a_file)],
        ["train", "--data", str(shapes_dataset), "--epochs", "0"],
        ["train", "--data", str(shapes_dataset), "--out", str(a_file)],
        ["train", "--data", str(shapes_dataset), "--weights", str(tmp_path)],
        ["train", "--resume", str(tmp_path)],
        ["train", "--resume", str(a_file)],
    ]

    done = subprocess.run(
        [sys.executable, "-c", script, *map(json.dumps, cases)], capture_output=True, text=True, timeout=120
    )

    assert json.loads(done.stdout.splitlines()[-1]) == {"codes": [2] * len(cases), "tensorflow": False}
    assert done.stderr.splitlines() == [
        f"birdcam: error: dataset folder not found: {tmp_path / 'missing'}. "
        "Pass --data DIR with train/ valid/ test/ or class folders.",
        f"birdcam: error: --data {a_file} is a file; give the dataset folder (train/ valid/ test/ or class folders).",
        "birdcam: error: --epochs must be at least 1.",
        f"birdcam: error: --out {a_file} is a file, not a folder; give a folder (it may not exist yet).",
        f"birdcam: error: --weights {tmp_path} is a folder; give the weights file (ViT .npz or InceptionV3 .h5).",
        f"birdcam: error: {tmp_path / 'run.json'} not found: --resume needs a folder made by `birdcam train`.",
        f"birdcam: error: --resume {a_file} is a file; give the run folder (the --out of `birdcam train`).",
    ]


def test_a_training_error_after_tensorflow_loads_is_still_one_line(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", sizes={"train": 3, "valid": 1, "test": 1})
    for name in sorted((data / "train").iterdir())[1:]:  # leave one class: found only once the run starts
        for split in ("train", "valid", "test"):
            shutil.rmtree(data / split / name.name)

    done = subprocess.run(
        [sys.executable, "-m", "birdcam", "train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY_VIT],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 2
    assert done.stderr == (
        f"birdcam: error: {data} holds one class ('AMERICAN ROBIN'); a classifier needs at least two class folders.\n"
    )


def test_the_cli_and_evaluate_never_import_tensorflow(starter_model, shared_dir, tmp_path):
    script = (
        "import sys\n"
        "from birdcam.cli import main\n"
        "assert main(['train', '--help']) == 0\n"
        f"code = main(['evaluate', '--model', {str(starter_model)!r}, "
        f"'--data', {str(shared_dir / 'birds525-sample' / 'valid')!r}, '--out', {str(tmp_path)!r}])\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'vit_keras') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr[-1500:]
