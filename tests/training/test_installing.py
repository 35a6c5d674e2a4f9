"""`birdcam train` installs its model as the app's default only when it names the test photos at least as well as the
model it replaces, or when asked with --install; it says which, with the figures."""

from __future__ import annotations

import re
import shutil

from training_data import TINY_VIT

from birdcam.cli import main
from birdcam.models.store import newest_trained_model


def train_one_epoch(data, out, *extra) -> int:
    """A tiny ViT for one epoch at a learning rate too small to learn anything: a poor model."""
    return main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(out),
            *TINY_VIT,
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--learning-rate",
            "1e-7",
            "--quantize",
            "none",
            *extra,
        ]
    )


def test_a_worse_model_is_not_installed_unless_asked(shapes_run, shapes_dataset, tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".tflite", ".json", ".labels.txt"):  # the app's model now: the well trained shapes run
        shutil.copyfile(shapes_run["models"] / f"{shapes_run['run'].name}{suffix}", models / f"garden{suffix}")
    monkeypatch.setenv("BIRDCAM_MODELS_DIR", str(models))
    capsys.readouterr()

    assert train_one_epoch(shapes_dataset, tmp_path / "poor") == 0
    said = capsys.readouterr().out
    assert "not installed: it names " in said and "the app's model now (garden.tflite)" in said, said
    assert "pass --install to install it anyway" in said
    assert newest_trained_model() == models / "garden.tflite"
    figures = re.search(r"it names ([\d.]+)% of \d+ photos .*, the app's model now \(garden.tflite\) ([\d.]+)%", said)
    assert figures is not None and float(figures[1]) < float(figures[2]), said

    assert train_one_epoch(shapes_dataset, tmp_path / "asked", "--install") == 0
    said = capsys.readouterr().out
    assert f"installed: {models / 'asked.tflite'} (as asked with --install)" in said, said
    assert newest_trained_model() == models / "asked.tflite"
