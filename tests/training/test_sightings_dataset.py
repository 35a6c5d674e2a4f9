"""Sightings become training data: a video of the shared photos, recorded by the real scene pass, exported with
`birdcam sightings --export-dataset`, trained by `birdcam train --val-split --test-split` (a tiny ViT)."""

from __future__ import annotations

import json

from sightings_material import bird_video, play
from training_data import TINY_VIT

from birdcam.cli import main
from birdcam.models.classifier import Classifier
from birdcam.scene.scene_pass import ScenePass
from birdcam.sightings import SightingsRecorder

SPECIES = ("BELTED KINGFISHER", "CEDAR WAXWING", "EASTERN BLUEBIRD")


def test_exported_sightings_train_a_model_named_after_the_visits(shared_dir, starter_model, tmp_path, capsys):
    shots = [(species, f"{n}.jpg") for n in range(1, 5) for species in SPECIES]  # 4 visits of each, interleaved
    video, _ = bird_video(shared_dir, tmp_path / "feeder.avi", shots)
    db = tmp_path / "sightings.sqlite3"
    recorder = SightingsRecorder(
        db, source="video: feeder.avi", model="aiy", snapshot_dir=tmp_path / "snapshots", merge_gap_s=0.5
    )
    with ScenePass(Classifier.from_path(starter_model)) as scene_pass:
        play(video, scene_pass, recorder)
    recorder.close()

    dataset = tmp_path / "my-feeder"
    assert main(["sightings", "--db", str(db), "--export-dataset", str(dataset)]) == 0
    assert "wrote 12 bird crops of 3 species" in capsys.readouterr().out
    folders = sorted(p.name for p in dataset.iterdir() if p.is_dir())
    assert folders == ["Belted Kingfisher", "Cedar Waxwing", "Eastern Bluebird"]

    code = main(
        [
            "train",
            "--data",
            str(dataset),
            "--val-split",
            "0.1",
            "--test-split",
            "0.1",
            "--out",
            str(tmp_path / "run"),
            *TINY_VIT,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--quantize",
            "none",
            "--no-install",
        ]
    )
    assert code == 0
    card = json.loads((tmp_path / "run" / "model.json").read_text(encoding="utf-8"))
    assert card["classes"] == folders
    assert card["scientific_names"] == ["Megaceryle alcyon", "Bombycilla cedrorum", "Sialia sialis"]
    labels = (tmp_path / "run" / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert labels == [
        "Megaceryle alcyon (Belted Kingfisher)",
        "Bombycilla cedrorum (Cedar Waxwing)",
        "Sialia sialis (Eastern Bluebird)",
    ]
    with Classifier.from_path(tmp_path / "run" / "model.tflite") as trained:
        assert [label.common_name for label in trained.labels] == folders
