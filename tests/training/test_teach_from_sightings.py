"""Corrected sightings teach the model: `birdcam sightings --export-dataset` prints the command that teaches them, and
that command, run exactly as printed, extends the model the app runs with the renamed visits' crops."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from birdcam.cli import main
from birdcam.models.classifier import Classifier
from birdcam.models.image import read_image
from birdcam.sightings import SightingsDB, Visit

T0 = 1_800_000_000.0
NEW = ("ASIAN DOLLARD BIRD", "Asian Dollard Bird", "Eurystomus orientalis")
"""A species the plain starter model does not know: Kaggle folder, common and scientific name."""


def test_the_printed_extend_command_works_as_printed(shared_dir, starter_model, tmp_path, monkeypatch, capsys):
    sample = shared_dir / "birds525-sample" / "valid"
    db = tmp_path / "sightings.sqlite3"
    with SightingsDB.open(db) as sightings:
        for n, photo in enumerate(("1.jpg", "2.jpg")):  # two visits renamed from "Unknown bird"
            sightings.upsert(
                Visit(None, T0 + 100 * n, T0 + 100 * n + 5, NEW[1], NEW[2], 0.6, "video: feeder.avi", "aiy",
                      crop_path=str(sample / NEW[0] / photo), original_common_name="", original_scientific_name="",
                      uid=f"unknown-{n}")
            )  # fmt: skip
        sightings.upsert(
            Visit(None, T0 + 300, T0 + 305, "Mandarin Duck", "Aix galericulata", 0.9, "video: feeder.avi", "aiy",
                  crop_path=str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"), uid="duck")
        )  # fmt: skip
    dataset = tmp_path / "my feeder"  # a space: the printed command must quote it
    assert main(["sightings", "--db", str(db), "--export-dataset", str(dataset)]) == 0
    printed = capsys.readouterr()
    line = next(line for line in printed.out.splitlines() if "birdcam train" in line)
    command = shlex.split(line.split(" with: ", 1)[1])
    assert command[:3] == ["birdcam", "train", "--extend"], line
    assert "train a model of their own" not in printed.out  # one crop of the duck: too few to train a model

    monkeypatch.setenv("BIRDCAM_MODEL", str(starter_model))  # the app's model: the plain starter
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "birdcam", *command[1:]],
        cwd=work,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "added 1 species, refined 1 it knew, from 3 photos" in done.stdout, done.stdout
    runs = list((work / "runs").iterdir())
    assert len(runs) == 1
    with Classifier.from_path(runs[0] / "model.tflite", top_k=1) as taught:
        named = [taught.classify(read_image(sample / NEW[0] / f"{n}.jpg")).top.label for n in (3, 4, 5)]
    assert sum(label is not None and label.common_name == NEW[1] for label in named) >= 2, named
